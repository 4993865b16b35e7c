"""Evaluating prompts: accuracy/loss through the LLM client, and the untuned baselines."""

from asyndbt.evaluation._baselines import (
    BASELINES,
    ZERO_SHOT_COT,
    baseline_prompt,
    evaluate_baseline,
    evaluate_kate,
    majority_rate,
    random_demonstrations,
)
from asyndbt.evaluation._scoring import EvalResult, Scorer, evaluate_prompt, summarise

__all__ = [
    "BASELINES",
    "ZERO_SHOT_COT",
    "EvalResult",
    "Scorer",
    "baseline_prompt",
    "evaluate_baseline",
    "evaluate_kate",
    "evaluate_prompt",
    "majority_rate",
    "random_demonstrations",
    "summarise",
]
