"""Calibration: the one function every method uses to remove a prompt's label bias.

Small models put most of their probability on one label whatever the input. We estimate that bias
as the prompt's *mean* label distribution over a batch of real inputs (no labels needed) and divide
each answer's probabilities by it::

    p_cal(y | x) ∝ p(y | x) / mean_{x' in batch} p(y | x')

This is the "batch calibration" form of contextual calibration: the content-free query of Zhao et
al. (2021) is replaced by the inputs themselves, which we measured to work far better on this
model (docs/algorithm.md). The prior belongs to the prompt: it is estimated by each worker on its
own inputs, stored in the exported :class:`~asyndbt.prompt.TunedPrompt`, and applied unchanged by
``asyndbt predict``. The tuner's training loss, validation, selection and every "+cal" baseline
call these functions, so calibrated numbers are comparable across methods.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from asyndbt.errors import AlgorithmError
from asyndbt.llm._types import LabelScores

PRIOR_FLOOR = 1e-6


def estimate_prior(scores: Sequence[LabelScores]) -> tuple[float, ...]:
    """The prompt's mean label distribution over a batch of inputs (what calibration divides by).

    Example:
        >>> from asyndbt.llm import LabelScores
        >>> import math
        >>> s = [LabelScores((math.log(0.9), math.log(0.1))), LabelScores((math.log(0.7), math.log(0.3)))]
        >>> [round(p, 2) for p in estimate_prior(s)]
        [0.8, 0.2]
    """
    if not scores:
        raise AlgorithmError("estimate_prior needs at least one scored input; calibrate on a non-empty batch")
    width = len(scores[0].seq_logprobs)
    total = [0.0] * width
    for s in scores:
        for c, p in enumerate(s.probs):
            total[c] += p
    return tuple(t / len(scores) for t in total)


def calibrated_logprobs(logprobs: Sequence[float], prior: Sequence[float] | None) -> tuple[float, ...]:
    """Label log-probabilities after dividing by ``prior`` and renormalising (``prior=None``: unchanged)."""
    if prior is None:
        return tuple(logprobs)
    if len(prior) != len(logprobs):
        raise AlgorithmError(f"calibration prior has {len(prior)} entries for {len(logprobs)} labels; estimate it "
                             "with the same label words")
    adj = [a - math.log(max(p, PRIOR_FLOOR)) for a, p in zip(logprobs, prior, strict=True)]
    m = max(adj)
    lse = m + math.log(sum(math.exp(a - m) for a in adj))
    return tuple(a - lse for a in adj)


def predictions_and_losses(
    scores: Sequence[LabelScores], labels: Sequence[int] | None, prior: Sequence[float] | None
) -> tuple[list[int], list[float]]:
    """Predicted class and cross-entropy of the true label for each answer, under ``prior``.

    ``labels=None`` returns no losses (prediction only).
    """
    preds: list[int] = []
    losses: list[float] = []
    for i, s in enumerate(scores):
        lp = calibrated_logprobs(s.logprobs, prior)
        preds.append(max(range(len(lp)), key=lp.__getitem__))
        if labels is not None:
            losses.append(-lp[labels[i]])
    return preds, losses
