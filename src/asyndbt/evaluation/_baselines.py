"""Untuned baselines from the paper's Table 3: manual prompt, zero-shot CoT, random ICL, KATE."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from asyndbt.errors import ConfigError
from asyndbt.evaluation._scoring import EvalResult, Scorer, evaluate_prompt, summarise
from asyndbt.llm._types import ScoreRequest
from asyndbt.prompt._assemble import build_requests
from asyndbt.prompt._calibration import estimate_prior
from asyndbt.prompt._tuned import TunedPrompt
from asyndbt.tasks._types import Example, TaskSpec

# The paper's zero-shot CoT sentence. We append it as the Note and score the label directly
# (no generated analysis): generation is slow on a CPU model and the paper's greedy answer is
# the label anyway. Documented as a deviation.
ZERO_SHOT_COT = "Let's think step by step, first output your analysis, and then output the final answer"

BASELINES = ("manual", "zero-shot-cot", "random-icl", "kate")

Embed = Callable[[Sequence[str]], np.ndarray]


def majority_rate(examples: Sequence[Example]) -> float:
    """Accuracy of always answering the most frequent label of ``examples`` (no LLM; nan when empty).

    The floor any prompt has to clear on skewed data: a prompt below it classifies worse than a constant.
    """
    if not examples:
        return float("nan")
    counts = np.bincount([e.label for e in examples])
    return float(counts.max() / counts.sum())


def pool_by_class(pool: Sequence[Example], num_classes: int) -> list[list[Example]]:
    """Group demonstration candidates by label."""
    groups: list[list[Example]] = [[] for _ in range(num_classes)]
    for e in pool:
        groups[e.label].append(e)
    return groups


def random_demonstrations(pool: Sequence[Example], num_classes: int, seed: int, shots: int = 1) -> tuple[Example, ...]:
    """Random demonstrations, ``shots`` per class, classes alternating (one per class: the paper's Random ICL).

    ``shots > 1`` is the untuned counterpart of the tuner's ``algorithm.shots``: benchmarks report it
    so a gain from showing more demonstrations is not credited to the search.
    """
    rng = np.random.default_rng([seed, 7919])
    groups = pool_by_class(pool, num_classes)
    if shots == 1:  # the same draws as before shots existed
        return tuple(g[int(rng.integers(len(g)))] for g in groups)
    picks = [[g[int(i)] for i in sorted(rng.choice(len(g), min(shots, len(g)), replace=False))] for g in groups]
    return tuple(p[s] for s in range(shots) for p in picks if s < len(p))


def baseline_prompt(task: TaskSpec, method: str, pool: Sequence[Example], seed: int, shots: int = 1) -> TunedPrompt:
    """The fixed prompt of a baseline that uses one prompt for every query (``shots``: random-icl only)."""
    if method in ("manual", "zero-shot"):
        return TunedPrompt(task, (), (), method="manual")
    if method == "zero-shot-cot":
        return TunedPrompt(task, (ZERO_SHOT_COT,), (), method=method)
    if method == "random-icl":
        return TunedPrompt(task, (), random_demonstrations(pool, task.num_classes, seed, shots), method=method)
    raise ConfigError(f"baseline {method!r} has no single prompt; choose one of {', '.join(BASELINES)}")


def _kate_requests(task: TaskSpec, groups: list[list[Example]], pool_vecs: list[np.ndarray],
                   examples: Sequence[Example], embed: Embed) -> list[ScoreRequest]:
    query_vecs = embed([" ".join(e.texts) for e in examples])
    requests: list[ScoreRequest] = []
    for qi, ex in enumerate(examples):
        demos = tuple(g[int(np.argmax(v @ query_vecs[qi]))] for g, v in zip(groups, pool_vecs, strict=True))
        requests.extend(build_requests(task, [ex.texts], demonstrations=demos))
    return requests


def evaluate_kate(
    client: Scorer,
    task: TaskSpec,
    pool: Sequence[Example],
    examples: Sequence[Example],
    embed: Embed,
    *,
    calibrate_on: Sequence[Example] | None = None,
    worker: int | None = None,
) -> EvalResult:
    """KATE: for each query, the nearest pool example of each class (cosine) as demonstrations.

    The paper's KATE takes the 5 nearest neighbours by RoBERTa embedding; we keep the one
    demonstration per class format of every other method and take the nearest of each class.
    KATE builds one prompt per query, so its calibration prior is the mean label distribution of
    its answers over ``calibrate_on`` (each input with its own neighbours): the same function as
    every other method's.
    """
    groups = pool_by_class(pool, task.num_classes)
    pool_vecs = [embed([" ".join(e.texts) for e in g]) for g in groups]
    scores = client.score(_kate_requests(task, groups, pool_vecs, examples, embed), worker=worker, purpose="eval/kate")
    prior = None
    if calibrate_on is not None:
        cal = client.score(_kate_requests(task, groups, pool_vecs, calibrate_on, embed), worker=worker,
                           purpose="eval/kate/prior")
        prior = estimate_prior(cal)
    return summarise(scores, [e.label for e in examples], prior=prior)


def evaluate_baseline(
    client: Scorer,
    task: TaskSpec,
    method: str,
    pool: Sequence[Example],
    examples: Sequence[Example],
    *,
    seed: int,
    embed: Embed | None = None,
    calibrate_on: Sequence[Example] | None = None,
    shots: int = 1,
) -> EvalResult:
    """Evaluate one baseline on ``examples`` for one seed (``shots``: demonstrations per class, random-icl).

    ``calibrate_on`` (inputs of the caller's own data, labels unused) calibrates every baseline with
    the tuner's calibration function; the scores are cached, so raw and calibrated runs of the same
    baseline share one scoring pass.
    """
    if method == "kate":
        if embed is None:
            raise ConfigError("the kate baseline needs an embedding function; pass embed=")
        return evaluate_kate(client, task, pool, examples, embed, calibrate_on=calibrate_on)
    prompt = baseline_prompt(task, method, pool, seed, shots)
    return evaluate_prompt(client, prompt, examples, calibrate_on=calibrate_on, purpose=f"eval/{method}")
