"""Pre-run estimates of how many LLM requests a configuration will make (before any is sent).

Plain numbers in, plain numbers out, so the CLI, the docs and the benchmarks can all use it without
building a run. The counts are upper bounds on *backend* requests: the score cache can only lower
them (repeated (prompt, query) pairs and re-evaluations of an unchanged prompt are free).
"""

from __future__ import annotations

from typing import Any


def estimate_calls(
    *,
    worker_steps: int,
    samples_per_step: int,
    batch_size: int,
    evaluations: int = 0,
    eval_examples: int = 0,
    final_test_examples: int = 0,
    http_calls_per_request: int = 1,
    prompt_tokens_per_request: float | None = None,
    completion_tokens_per_call: float = 0.0,
    prompt_price_per_1k: float = 0.0,
    completion_price_per_1k: float = 0.0,
) -> dict[str, Any]:
    """Estimate the requests (and optionally tokens and cost) of one tuning run.

    Training makes ``worker_steps * samples_per_step * batch_size`` score requests (every worker
    step scores ``samples_per_step`` sampled prompts on ``batch_size`` queries). Each evaluation
    scores ``eval_examples`` examples, and the final test scores ``final_test_examples``.

    Args:
        worker_steps: total local steps over all workers (``simulation.max_worker_steps``).
        samples_per_step: prompts sampled per step (``algorithm.samples_per_step``).
        batch_size: queries per step (``algorithm.batch_size``).
        evaluations: validation evaluations during the run (all workers together).
        eval_examples: examples scored per evaluation.
        final_test_examples: examples scored by the final test evaluation(s).
        http_calls_per_request: backend calls per score request (the number of labels for the
            ``completions-logprobs`` mode with echo, else 1).
        prompt_tokens_per_request: average prompt tokens, to estimate tokens and cost (None: skip).
        completion_tokens_per_call: generated tokens per backend call (1 for the logprob modes).
        prompt_price_per_1k: price per 1,000 prompt tokens.
        completion_price_per_1k: price per 1,000 generated tokens.

    Returns:
        A dict with ``train_requests``, ``eval_requests``, ``score_requests`` (their sum),
        ``backend_calls`` and, with ``prompt_tokens_per_request``, ``prompt_tokens``,
        ``completion_tokens`` and ``cost``.

    Example:
        >>> estimate_calls(worker_steps=48, samples_per_step=4, batch_size=8, evaluations=8,
        ...                eval_examples=20, final_test_examples=200)["score_requests"]
        1896
    """
    for name, value in (("worker_steps", worker_steps), ("samples_per_step", samples_per_step),
                        ("batch_size", batch_size), ("evaluations", evaluations),
                        ("eval_examples", eval_examples), ("final_test_examples", final_test_examples),
                        ("http_calls_per_request", http_calls_per_request)):
        if value < 0:
            raise ValueError(f"{name}={value} must be >= 0")
    train = worker_steps * samples_per_step * batch_size
    evals = evaluations * eval_examples + final_test_examples
    total = train + evals
    calls = total * http_calls_per_request
    out: dict[str, Any] = {
        "train_requests": train,
        "eval_requests": evals,
        "score_requests": total,
        "backend_calls": calls,
    }
    if prompt_tokens_per_request is not None:
        prompt = calls * prompt_tokens_per_request
        completion = calls * completion_tokens_per_call
        out["prompt_tokens"] = prompt
        out["completion_tokens"] = completion
        out["cost"] = (prompt * prompt_price_per_1k + completion * completion_price_per_1k) / 1000.0
    return out
