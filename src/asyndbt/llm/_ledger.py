"""The ledger: one record per logical request and attempt, so accounting is derived, not guessed.

Every request that reaches :class:`~asyndbt.llm.LLMClient` produces a record, cache hits included
(DSPy zeroes usage on a hit and loses it; we keep the hit and count what it saved). Totals are
folded in memory as records arrive; with a path, records are also appended to a JSONL file whose
lines each carry ``schema_version``, so budgets and reports can be rebuilt from the file alone.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LEDGER_SCHEMA_VERSION = 2  # 2: completion_tokens, cost, final


@dataclass(frozen=True)
class LedgerRecord:
    """One request (or one failed attempt at it) as seen by the client.

    Attributes:
        worker: worker id, or None outside a federated run.
        step: the caller's step/iteration counter, if any.
        purpose: free text such as ``"train"``, ``"eval"``, ``"baseline:kate"``.
        backend: backend kind.
        model: model file name or model id.
        cache_hit: answered from the cache (no backend work).
        prompt_tokens: tokens in the full prompt.
        evaluated_tokens: tokens the backend actually ran (0 on a hit; smaller than the prompt with
            prefix reuse).
        latency_s: this request's share of its backend call's wall time (call time / misses in it).
        attempt: 1 for the first try; retries count up.
        error: the :class:`~asyndbt.errors.LLMError` ``code`` when the attempt failed, else None.
        completion_tokens: tokens the backend generated (0 on a hit and for llama.cpp).
        cost: estimated cost of this attempt under the client's price table (0 on a hit).
        final: False for a failed attempt that was retried; True for answers and for the attempt
            whose error reached the caller (a *failure*).
        batch_id: identifies the backend call the request travelled in (groups records).
        ts: wall-clock time (UNIX seconds) when recorded.
    """

    worker: str | None
    step: int | None
    purpose: str | None
    backend: str
    model: str
    cache_hit: bool
    prompt_tokens: int
    evaluated_tokens: int
    latency_s: float
    attempt: int = 1
    error: str | None = None
    batch_id: int | None = None
    completion_tokens: int = 0
    cost: float = 0.0
    final: bool = True
    ts: float = field(default_factory=time.time)
    schema_version: int = LEDGER_SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (one JSONL line)."""
        return asdict(self)


# a ledger purpose's first path part -> the phase of a run it belongs to
PHASES = {"train": "training", "validation": "selecting on validation", "test": "testing the prompts",
          "eval": "scoring the baselines", "predict": "predicting"}


def phase_of(purpose: str | None) -> str:
    """The phase a ledger purpose belongs to (``"test/curve"`` -> testing, ``"eval/kate"`` -> baselines)."""
    head = (purpose or "").split("/", 1)[0]
    return PHASES.get(head, head or "other")


def _empty_totals() -> dict[str, float]:
    return {
        "requests": 0,
        "cache_hits": 0,
        "backend_requests": 0,
        "errors": 0,
        "prompt_tokens": 0,
        "evaluated_tokens": 0,
        "saved_tokens": 0,
        "latency_s": 0.0,
        "completion_tokens": 0,
        "billed_tokens": 0,
        "cost": 0.0,
        "backend_attempts": 0,
        "retries": 0,
        "failures": 0,
    }


def _drop_partial_last_line(path: Path) -> None:
    """Cut a record that a crash left half-written, so appended records start on a line of their own."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)


class Ledger:
    """Collects :class:`LedgerRecord`s; keeps running totals, optionally appends them to JSONL.

    Totals count: ``requests`` (successful answers, hits included), ``cache_hits``,
    ``backend_requests`` (answers computed by the backend), ``errors`` (failed attempts),
    ``prompt_tokens`` (of answered requests), ``evaluated_tokens`` (really run), ``saved_tokens``
    (prompt tokens of cache hits), ``latency_s``, ``completion_tokens`` (generated),
    ``billed_tokens`` (evaluated + generated: what token budgets count), ``cost`` (estimated),
    ``backend_attempts`` (every attempt that reached the backend: what request budgets count),
    ``retries`` (attempts after the first) and ``failures`` (requests whose error reached the caller).
    Each record is counted exactly once.

    Args:
        path: JSONL file to append to (created if missing); ``None`` keeps totals only in memory.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._total = _empty_totals()
        self._by_worker: dict[str | None, dict[str, float]] = {}
        self._by_phase: dict[str, dict[str, float]] = {}
        self._next_batch = 0
        self._listeners: list[Callable[[list[LedgerRecord]], None]] = []
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists():  # a resumed run: what was spent before the stop still counts
                _drop_partial_last_line(self.path)
                self._fold(self.read(self.path))

    def _fold(self, records: list[LedgerRecord]) -> None:
        """Add records to the in-memory totals only (they are already in the file)."""
        path, self.path = self.path, None
        try:
            self.record(records)
        finally:
            self.path = path

    def add_listener(self, listener: Callable[[list[LedgerRecord]], None]) -> Callable[[], None]:
        """Call ``listener`` with every list of records after it is counted (e.g. a live progress display).

        Records folded from an existing file on resume are not replayed. The listener runs in the
        recording thread, outside the ledger's lock; an exception it raises reaches the caller that
        recorded. Returns a function that removes the listener.
        """
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def new_batch_id(self) -> int:
        """Return a fresh id for one backend call."""
        with self._lock:
            self._next_batch += 1
            return self._next_batch

    def record(self, records: list[LedgerRecord]) -> None:
        """Add records to the totals and, with a path, append them to the JSONL file."""
        if not records:
            return
        with self._lock:
            for rec in records:
                for tot in (self._total, self._by_worker.setdefault(rec.worker, _empty_totals()),
                            self._by_phase.setdefault(phase_of(rec.purpose), _empty_totals())):
                    if not rec.cache_hit:
                        tot["backend_attempts"] += 1
                        tot["completion_tokens"] += rec.completion_tokens
                        tot["billed_tokens"] += rec.evaluated_tokens + rec.completion_tokens
                        tot["cost"] += rec.cost
                        if rec.attempt > 1:
                            tot["retries"] += 1
                    if rec.error is not None:
                        tot["errors"] += 1
                        tot["failures"] += int(rec.final)
                        tot["evaluated_tokens"] += rec.evaluated_tokens
                        tot["latency_s"] += rec.latency_s
                        continue
                    tot["requests"] += 1
                    tot["prompt_tokens"] += rec.prompt_tokens
                    tot["evaluated_tokens"] += rec.evaluated_tokens
                    tot["latency_s"] += rec.latency_s
                    if rec.cache_hit:
                        tot["cache_hits"] += 1
                        tot["saved_tokens"] += rec.prompt_tokens
                    else:
                        tot["backend_requests"] += 1
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as fh:
                    for rec in records:
                        fh.write(json.dumps(rec.to_json(), sort_keys=True) + "\n")
            listeners = list(self._listeners)
        for listener in listeners:
            listener(records)

    def totals(self) -> dict[str, float]:
        """Totals over every record so far."""
        with self._lock:
            return dict(self._total)

    def by_worker(self) -> dict[str | None, dict[str, float]]:
        """Totals per worker id (``None`` for calls made outside a worker)."""
        with self._lock:
            return {w: dict(t) for w, t in self._by_worker.items()}

    def by_phase(self) -> dict[str, dict[str, float]]:
        """Totals per phase of the run (:func:`phase_of` its purpose), in the order the phases began."""
        with self._lock:
            return {p: dict(t) for p, t in self._by_phase.items()}

    @staticmethod
    def read(path: str | os.PathLike[str]) -> list[LedgerRecord]:
        """Read a ledger JSONL file back into records."""
        out = []
        with Path(path).open(encoding="utf-8") as fh:
            lines = [ln for ln in fh if ln.strip()]
        for i, line in enumerate(lines):
            try:
                out.append(LedgerRecord(**json.loads(line)))  # v1 lines get the v2 defaults
            except json.JSONDecodeError:
                if i == len(lines) - 1 and not line.endswith("\n"):
                    break  # the last line was cut off by a crash mid-write: that record never completed
                raise
        return out
