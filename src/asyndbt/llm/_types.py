"""The one LLM interface everything above the LLM layer uses.

A caller asks for the log-probabilities of each candidate label continuation after a prompt.
Prompts are split into a ``prefix`` (shared by many requests: instruction + demonstrations) and a
``suffix`` (the query), so a backend can evaluate each distinct prefix once and reuse its KV cache.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ScoreRequest:
    """Score every label continuation after ``prefix + suffix``.

    Attributes:
        prefix: the shared part of the prompt (reused across requests with the same prefix).
        suffix: the per-query part; the label continuation follows it directly.
        labels: the continuations to score, e.g. ``(" Great", " Terrible")``; may be several tokens.
    """

    prefix: str
    suffix: str
    labels: tuple[str, ...]

    @property
    def prompt(self) -> str:
        """The full prompt text."""
        return self.prefix + self.suffix


@dataclass(frozen=True)
class LabelScores:
    """Scores of the label continuations of one request.

    Attributes:
        seq_logprobs: log p(label tokens | prompt) of each label's *full* token sequence (unnormalised).
        prompt_tokens: number of tokens in the full prompt.
        prefix_tokens: number of those tokens that belong to the shared prefix.
        label_tokens: number of tokens of each label continuation.
        evaluated_tokens: tokens the backend actually ran for this answer (prefix reuse makes it
            smaller than ``prompt_tokens``; 0 when served from a cache). Accounting only: it is not
            part of the answer, so it is left out of equality and of the cached JSON.
        completion_tokens: tokens the backend generated for this answer (HTTP backends generate one
            token per call even when only prompt log-probabilities are needed; 0 for llama.cpp and
            cache hits). Accounting only, like ``evaluated_tokens``.
    """

    seq_logprobs: tuple[float, ...]
    prompt_tokens: int = 0
    prefix_tokens: int = 0
    label_tokens: tuple[int, ...] = ()
    evaluated_tokens: int = field(default=0, compare=False)
    completion_tokens: int = field(default=0, compare=False)

    @property
    def logprobs(self) -> tuple[float, ...]:
        """Log-probabilities normalised over the label set (log-softmax of ``seq_logprobs``)."""
        m = max(self.seq_logprobs)
        lse = m + math.log(sum(math.exp(x - m) for x in self.seq_logprobs))
        return tuple(x - lse for x in self.seq_logprobs)

    @property
    def probs(self) -> tuple[float, ...]:
        """Probabilities normalised over the label set."""
        return tuple(math.exp(x) for x in self.logprobs)

    @property
    def predicted(self) -> int:
        """Index of the most probable label."""
        lp = self.seq_logprobs
        return max(range(len(lp)), key=lp.__getitem__)

    def cross_entropy(self, true_label: int) -> float:
        """Cross-entropy of the true label under the label-normalised distribution (paper Eq. 1)."""
        return -self.logprobs[true_label]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (used by the cache)."""
        return {
            "seq_logprobs": list(self.seq_logprobs),
            "prompt_tokens": self.prompt_tokens,
            "prefix_tokens": self.prefix_tokens,
            "label_tokens": list(self.label_tokens),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LabelScores:
        """Inverse of :meth:`to_json`."""
        return cls(
            seq_logprobs=tuple(float(x) for x in d["seq_logprobs"]),
            prompt_tokens=int(d.get("prompt_tokens", 0)),
            prefix_tokens=int(d.get("prefix_tokens", 0)),
            label_tokens=tuple(int(x) for x in d.get("label_tokens", ())),
        )


@runtime_checkable
class Backend(Protocol):
    """A raw scorer. Backends do only the call; caching, ledgers and retries live in the client.

    ``identity()`` returns everything that determines the backend's answers (kind, model id,
    weights hash or server revision, endpoint, scoring mode) and is part of every cache key.
    """

    kind: str

    def identity(self) -> dict[str, Any]:
        """Return the JSON-able identity used in cache keys."""
        ...

    def score(self, requests: Sequence[ScoreRequest]) -> list[LabelScores]:
        """Score a batch of requests, in order."""
        ...
