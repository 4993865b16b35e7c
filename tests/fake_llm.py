"""A deterministic FAKE LLM backend for tests of the optimisation/runtime plumbing only.

It is not a language model: each label's log-probability is a hash of (prompt, label), nudged
towards the true sentiment on the synthetic task so that tuning has a signal to follow. Tests that
claim anything about real LLM behaviour use the real embedded model instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from asyndbt.llm import LabelScores, ScoreRequest

POSITIVE_CUES = ("great", "wonderful", "excellent", "delightful", "superb", "fantastic", "loved", "good")


class FakeBackend:
    """Deterministic stand-in for an LLM; counts how many requests reach it."""

    kind = "fake"

    def __init__(self, signal: float = 1.0) -> None:
        self.signal = signal
        self.requests_seen = 0
        self.calls = 0

    def identity(self) -> dict[str, Any]:
        return {"kind": self.kind, "signal": self.signal, "version": 1}

    def score(self, requests: Sequence[ScoreRequest]) -> list[LabelScores]:
        self.calls += 1
        self.requests_seen += len(requests)
        out = []
        for r in requests:
            query = r.suffix.lower()
            positive = any(c in query for c in POSITIVE_CUES)
            vals = []
            for i, label in enumerate(r.labels):
                h = int.from_bytes(hashlib.sha256((r.prompt + "\x00" + label).encode()).digest()[:8], "big") / 2**64
                bonus = self.signal if (i == len(r.labels) - 1) == positive else 0.0
                vals.append(-(1.0 + 2.0 * h) + bonus)
            out.append(LabelScores(tuple(vals), prompt_tokens=len(r.prompt.split()),
                                   prefix_tokens=len(r.prefix.split()), label_tokens=(1,) * len(r.labels)))
        return out
