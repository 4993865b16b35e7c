"""Accuracy and loss of prompts on labelled examples, through the one LLM client."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from asyndbt.llm._types import LabelScores, ScoreRequest
from asyndbt.prompt._calibration import estimate_prior, predictions_and_losses
from asyndbt.prompt._tuned import TunedPrompt
from asyndbt.tasks._types import Example


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
    """Turn label scores into accuracy/loss; ``prior`` divides out a label prior (calibration).

    The prior comes from :func:`asyndbt.prompt.estimate_prior` (the same function the tuner uses).
    """
    if not scores:
        return EvalResult(accuracy=float("nan"), loss=float("nan"), n=0, majority_fraction=float("nan"))
    preds, losses = predictions_and_losses(scores, labels, prior)
    n = len(preds)
    correct = sum(int(p == y) for p, y in zip(preds, labels, strict=True))
    majority = max(preds.count(c) for c in set(preds)) / n
    return EvalResult(correct / n, sum(losses) / n, n, majority, tuple(preds))


def prompt_prior(client: Scorer, prompt: TunedPrompt, inputs: Sequence[Example], *, worker: int | None = None,
                 purpose: str = "eval") -> tuple[float, ...]:
    """The calibration prior of ``prompt``: its mean label distribution over ``inputs`` (labels unused)."""
    return estimate_prior(prompt.score(client, [e.texts for e in inputs], worker=worker, purpose=purpose + "/prior"))


def evaluate_prompt(
    client: Scorer,
    prompt: TunedPrompt,
    examples: Sequence[Example],
    *,
    calibrate_on: Sequence[Example] | None = None,
    worker: int | None = None,
    purpose: str = "eval",
) -> EvalResult:
    """Score every example under one prompt (one shared prefix, so the backend reuses it).

    The prompt's own calibration prior is applied when it has one. ``calibrate_on`` replaces it with
    the prior estimated on those inputs (a worker's own data; their labels are not used).
    """
    prior = prompt.calibration
    if calibrate_on is not None:
        prior = prompt_prior(client, prompt, calibrate_on, worker=worker, purpose=purpose)
    scores = prompt.score(client, [e.texts for e in examples], worker=worker, purpose=purpose)
    return summarise(scores, [e.label for e in examples], prior=prior)

