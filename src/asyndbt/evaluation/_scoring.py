"""Accuracy and loss of prompts on labelled examples, through the one LLM client."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from asyndbt.llm._types import LabelScores, ScoreRequest
from asyndbt.prompt._tuned import TunedPrompt
from asyndbt.tasks._types import Example

CONTENT_FREE_TEXT = "N/A"


class Scorer(Protocol):
    """What evaluation needs from the LLM client."""

    def score(
        self, requests: Sequence[ScoreRequest], *, worker: int | None = None, step: int | None = None,
        purpose: str | None = None,
    ) -> list[LabelScores]:
        """Score requests in order."""
        ...


@dataclass(frozen=True)
class EvalResult:
    """Accuracy and mean cross-entropy of one prompt on a set of examples."""

    accuracy: float
    loss: float  # mean cross-entropy of the true label (label-normalised)
    n: int
    majority_fraction: float  # share of predictions in the most predicted class (label bias)
    predictions: tuple[int, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (predictions omitted)."""
        return {"accuracy": self.accuracy, "loss": self.loss, "n": self.n,
                "majority_fraction": self.majority_fraction}


def summarise(scores: Sequence[LabelScores], labels: Sequence[int], *,
              prior: Sequence[float] | None = None) -> EvalResult:
    """Turn label scores into accuracy/loss; ``prior`` applies contextual calibration.

    Contextual calibration (Zhao et al., 2021) divides each label probability by the probability
    the same prompt gives it for a content-free query, which removes much of a small model's
    label bias without any training.
    """
    if not scores:
        return EvalResult(accuracy=float("nan"), loss=float("nan"), n=0, majority_fraction=float("nan"))
    preds: list[int] = []
    losses: list[float] = []
    for s, y in zip(scores, labels, strict=True):
        lp = list(s.logprobs)
        if prior is not None:
            adj = [a - math.log(max(p, 1e-12)) for a, p in zip(lp, prior, strict=True)]
            m = max(adj)
            lse = m + math.log(sum(math.exp(a - m) for a in adj))
            lp = [a - lse for a in adj]
        preds.append(max(range(len(lp)), key=lp.__getitem__))
        losses.append(-lp[y])
    n = len(preds)
    correct = sum(int(p == y) for p, y in zip(preds, labels, strict=True))
    majority = max(preds.count(c) for c in set(preds)) / n
    return EvalResult(correct / n, sum(losses) / n, n, majority, tuple(preds))


def evaluate_prompt(
    client: Scorer,
    prompt: TunedPrompt,
    examples: Sequence[Example],
    *,
    calibrate: bool = False,
    worker: int | None = None,
    purpose: str = "eval",
) -> EvalResult:
    """Score every example under one prompt (one shared prefix, so the backend reuses it)."""
    requests = prompt.requests([e.texts for e in examples])
    prior = None
    if calibrate:
        n_fields = len(prompt.task.text_fields)
        cf = prompt.requests([(CONTENT_FREE_TEXT,) * n_fields])
        prior = client.score(cf, worker=worker, purpose=purpose + "/calibration")[0].probs
    scores = client.score(requests, worker=worker, purpose=purpose)
    return summarise(scores, [e.label for e in examples], prior=prior)
