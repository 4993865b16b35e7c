"""The HTTP backend against a real ``llama_cpp.server`` on loopback, serving the default embedded model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from asyndbt import config, job
from asyndbt.llm import LlamaCppBackend, OpenAICompatibleBackend, ScoreRequest, resolve_model
from asyndbt.runtime import RunDir

pytestmark = pytest.mark.llm

SECRET = "sk-integration-SECRET-5678"

# Tiny prompts: llama-cpp-python's server ranks the whole 262k vocabulary in Python for every echoed
# token, so each echoed token costs ~0.3-0.5 s on one core.
REQUESTS = [
    ScoreRequest("", "Review: a great film.\nSentiment:", (" Great", " Terrible")),
    ScoreRequest("Review: dull.\nSentiment: Terrible\n", "Review: lovely.\nSentiment:", (" Great", " not good")),
]


def test_echo_scores_agree_with_embedded_backend(llama_server):
    http = OpenAICompatibleBackend(llama_server, None, mode="completions-logprobs", echo=True, max_concurrency=2)
    local = LlamaCppBackend(resolve_model(None), n_ctx=512, n_threads=1)
    try:
        ident = http.identity()
        assert ident["server_model"].endswith(resolve_model(None).name)
        got, ref = http.score(REQUESTS), local.score(REQUESTS)
    finally:
        http.close()
        local.close()
    for g, r in zip(got, ref, strict=True):
        assert g.label_tokens == r.label_tokens  # same tokens, multi-token label " not good" included
        assert g.prompt_tokens == r.prompt_tokens
        # Tolerance 0.3 nats: same model, same tokens, but llama.cpp's CPU kernels give slightly
        # different numbers depending on how a sequence is cut into decode batches (the server decodes
        # whole prompts and reuses its own prefix cache; the embedded backend decodes aligned 16-token
        # blocks). For Gemma 3 270M that was measured at up to 0.19 nats (see asyndbt.llm._llamacpp);
        # a scoring bug (wrong token, off-by-one position) moves scores by whole nats.
        np.testing.assert_allclose(g.seq_logprobs, r.seq_logprobs, rtol=0, atol=0.3)
        assert g.predicted == r.predicted


def _run_cfg(llama_server, tmp_path):
    return config.build_config(overrides=[
        "task.name=synthetic", "simulation.max_worker_steps=2", "task.test_size=4", "task.val_size=12", "task.val_per_class=1",
        "task.train_per_class=4", "partition.workers=2", "vocab.size=10",
        "algorithm.batch_size=2", "algorithm.samples_per_step=2", "algorithm.fragment_length=2",
        "algorithm.min_reports=1",
        "llm.backend=openai", f"llm.base_url={llama_server}", "llm.echo=false", "llm.top_logprobs=20",
        "llm.max_concurrency=2", f"output_dir={tmp_path}",
    ])


def test_tuning_run_over_http_then_cached_rerun(llama_server, tmp_path, monkeypatch):
    monkeypatch.setenv("ASYNDBT_API_KEY", SECRET)  # llama_cpp.server ignores it; it must never be written
    cfg = _run_cfg(llama_server, tmp_path)
    prepared = job.prepare(cfg)

    rundir = RunDir(tmp_path / "run1")
    rundir.write_config(dataclasses.asdict(cfg))
    client = job.make_client(cfg, rundir)
    first = job.run_method(cfg, prepared, client, rundir=rundir)
    tot = client.ledger.totals()
    assert first.worker_steps == 2 and tot["backend_requests"] > 0 and tot["failures"] == 0
    assert tot["completion_tokens"] == tot["backend_attempts"]  # max_tokens=1 per call

    rundir2 = RunDir(tmp_path / "run2")
    client2 = job.make_client(cfg, rundir2)
    second = job.run_method(cfg, prepared, client2, rundir=rundir2)
    tot2 = client2.ledger.totals()
    assert tot2["backend_attempts"] == 0 and tot2["cache_hits"] == tot2["requests"] == tot["requests"]
    assert second.summary() == first.summary()

    for path in tmp_path.rglob("*"):  # run dirs, ledgers, events, checkpoints, the score cache
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"API key leaked into {path}"


def test_predict_and_eval_use_the_http_backend(llama_server, tmp_path, capsys, monkeypatch):
    """`asyndbt predict` (--set llm.*) and `asyndbt eval --backend http` reach a real OpenAI-compatible server."""
    import json

    from asyndbt.cli import main
    from asyndbt.prompt import TunedPrompt
    from asyndbt.tasks import get_task

    monkeypatch.chdir(tmp_path)  # eval's default cache lives under ./runs
    prompt = TunedPrompt(get_task("sst2"), (), (), method="manual", calibration=(0.9, 0.1))
    prompt.save(tmp_path / "p.json")
    http = ["--set", "llm.backend=openai", "--set", f"llm.base_url={llama_server}", "--set", "llm.echo=false",
            "--set", "llm.top_logprobs=20"]
    main(["predict", str(tmp_path / "p.json"), "--text", "a great film", *http])
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["label"] in ("Great", "Terrible") and sum(row["probs"].values()) == pytest.approx(1.0, abs=1e-3)
    # the stored calibration prior (0.9 on "Terrible") is applied: it pushes the answer to "Great"
    assert row["probs"]["Great"] > 0.5

    main(["eval", "--task", "synthetic", "--method", "manual", "--seeds", "1", "--limit", "3",
          "--output", str(tmp_path / "eval.json"), "--backend", "http", "--base-url", llama_server,
          "--set", "llm.echo=false", "--set", "llm.top_logprobs=20"])
    out = json.loads((tmp_path / "eval.json").read_text())
    assert out["results"]["manual"]["n_test"] == 3
