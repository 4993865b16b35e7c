"""The pre-run estimate prices a run on a paid API before anything is sent (``asyndbt run --dry-run``)."""

from __future__ import annotations

import pytest

from asyndbt import job
from asyndbt.config import build_config

API = ['llm.backend="openai"', 'llm.base_url="http://127.0.0.1:9/v1"', "llm.price_prompt_per_1k=0.5"]


def _estimate(*extra: str) -> dict:
    cfg = build_config(overrides=["task.name=synthetic", *API, *extra])
    return job.estimate_requests(cfg, job.prepare(cfg), ["manual"])


def test_cost_is_every_request_at_the_typical_prompt_size():
    est = _estimate()
    assert est["billed_tokens"] == est["billed_tokens_per_request"] * est["score_requests"]
    assert est["cost"] == pytest.approx(est["billed_tokens"] * 0.5 / 1000)


def test_more_demonstrations_and_echoed_labels_cost_more():
    four, one = _estimate("algorithm.shots=4"), _estimate("algorithm.shots=1")
    assert four["billed_tokens_per_request"] > 2 * one["billed_tokens_per_request"]
    no_echo = _estimate("llm.echo=false")
    # with echo every label is its own call carrying the whole prompt (two labels here)
    assert no_echo["billed_tokens_per_request"] < 0.6 * four["billed_tokens_per_request"]


def test_the_embedded_model_is_not_priced_unless_asked():
    cfg = build_config(overrides=["task.name=synthetic"])
    assert "cost" not in job.estimate_requests(cfg, job.prepare(cfg))


def test_judging_the_untuned_prompts_on_each_workers_training_queries_and_pool_is_counted():
    cfg = build_config(overrides=["task.name=synthetic"])
    prepared = job.prepare(cfg)
    extra = sum(len(e.train) + sum(len(p) for p in e.pools) for e in prepared.federated_envs())
    pooled = job.estimate_requests(cfg, prepared)["score_requests"]
    off = build_config(overrides=["task.name=synthetic", "selection.pool_untuned=false"])
    added = pooled - job.estimate_requests(off, job.prepare(off))["score_requests"]
    assert added >= 2 * extra and added % (2 * extra) == 0  # manual + 1 random set, in every selection round
