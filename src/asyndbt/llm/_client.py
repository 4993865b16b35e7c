"""``LLMClient``: the single boundary every caller goes through (DSPy's ``BaseLM.__call__`` shape).

Backends do only the raw call. The client adds, in this order: cache lookup, one backend call with
all the misses (so the backend can still group them by prefix), retries of transient errors, cache
store and ledger records. Rate limits and budgets are meant to slot in here too, around the single
``_call_backend`` seam, so the embedded and HTTP backends share them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

from asyndbt.errors import LLMBadResponse, LLMError
from asyndbt.llm._cache import ScoreCache, cache_key
from asyndbt.llm._ledger import Ledger, LedgerRecord
from asyndbt.llm._types import Backend, LabelScores, ScoreRequest


class RetryPolicy(Protocol):
    """Decides whether a failed backend call is tried again."""

    def next_delay(self, error: LLMError, attempt: int) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to give up and raise ``error``."""
        ...


class NoRetry:
    """Never retry: every error reaches the caller at once (the right default for a local model)."""

    def next_delay(self, error: LLMError, attempt: int) -> float | None:
        """Always give up."""
        return None


class LLMClient:
    """Score requests through a backend with caching and accounting.

    Args:
        backend: any :class:`~asyndbt.llm.Backend`.
        cache: a :class:`ScoreCache`, or None for no caching.
        ledger: a :class:`Ledger`; a fresh in-memory one when None.
        retry: a :class:`RetryPolicy`; :class:`NoRetry` when None.
        sleep: how to wait between retries (injected so tests need no real clock).

    Example:
        >>> from asyndbt.llm import LLMClient, LlamaCppBackend, ScoreCache, resolve_model  # doctest: +SKIP
        >>> client = LLMClient(LlamaCppBackend(resolve_model(None)), cache=ScoreCache())  # doctest: +SKIP
        >>> client.score(requests, worker="w0", step=3, purpose="train")  # doctest: +SKIP
    """

    def __init__(
        self,
        backend: Backend,
        *,
        cache: ScoreCache | None = None,
        ledger: Ledger | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.backend = backend
        self.cache = cache
        self.ledger = ledger if ledger is not None else Ledger()
        self.retry: RetryPolicy = retry if retry is not None else NoRetry()
        self._sleep = sleep
        self._identity = dict(backend.identity())
        self._model = str(self._identity.get("model", backend.kind))

    def score(
        self,
        requests: Sequence[ScoreRequest],
        *,
        worker: str | None = None,
        step: int | None = None,
        purpose: str | None = None,
    ) -> list[LabelScores]:
        """Score requests, in order; cached answers are reused, the rest go to the backend in one call.

        Args:
            requests: what to score.
            worker: worker id for the ledger.
            step: step counter for the ledger.
            purpose: free text for the ledger (``"train"``, ``"eval"`` ...).

        Returns:
            One :class:`LabelScores` per request, in request order.

        Raises:
            LLMError: the backend failed and the retry policy gave up.
        """
        requests = list(requests)
        keys = [cache_key(self._identity, r) for r in requests] if self.cache is not None else []
        hits = self.cache.get_many(keys) if self.cache is not None else {}
        out: list[LabelScores | None] = [None] * len(requests)
        records: list[LedgerRecord] = []
        miss_idx: list[int] = []
        first_for_key: dict[str, int] = {}
        for i, req in enumerate(requests):
            key = keys[i] if keys else None
            if key is not None and key in hits:
                out[i] = hits[key]
                records.append(self._record(req, hits[key], worker, step, purpose, cache_hit=True))
            elif key is not None and key in first_for_key:
                pass  # a duplicate inside this call: answered from the first copy below
            else:
                if key is not None:
                    first_for_key[key] = i
                miss_idx.append(i)
        if miss_idx:
            fresh, latency, batch_id = self._call_backend(
                [requests[i] for i in miss_idx], worker=worker, step=step, purpose=purpose
            )
            per_req = latency / len(miss_idx)
            for i, scores in zip(miss_idx, fresh, strict=True):
                out[i] = scores
                records.append(
                    self._record(
                        requests[i],
                        scores,
                        worker,
                        step,
                        purpose,
                        cache_hit=False,
                        latency_s=per_req,
                        batch_id=batch_id,
                    )
                )
            if self.cache is not None:
                self.cache.put_many((keys[i], out[i]) for i in miss_idx)  # type: ignore[misc]
        for i, req in enumerate(requests):  # in-call duplicates count as cache hits
            if out[i] is None:
                out[i] = out[first_for_key[keys[i]]]
                records.append(self._record(req, out[i], worker, step, purpose, cache_hit=True))
        self.ledger.record(records)
        return [s for s in out if s is not None]

    def _call_backend(
        self, requests: list[ScoreRequest], *, worker: str | None, step: int | None, purpose: str | None
    ) -> tuple[list[LabelScores], float, int]:
        """One logical backend call with retries; returns (scores, seconds, batch id)."""
        attempt = 1
        while True:
            batch_id = self.ledger.new_batch_id()
            start = time.perf_counter()
            try:
                scores = self.backend.score(requests)
                if len(scores) != len(requests):
                    raise LLMBadResponse(
                        f"backend {self.backend.kind!r} returned {len(scores)} results for "
                        f"{len(requests)} requests; this is a backend bug",
                        backend=self.backend.kind,
                        model=self._model,
                    )
                return scores, time.perf_counter() - start, batch_id
            except LLMError as exc:
                elapsed = time.perf_counter() - start
                self.ledger.record(
                    [
                        LedgerRecord(
                            worker=worker,
                            step=step,
                            purpose=purpose,
                            backend=self.backend.kind,
                            model=self._model,
                            cache_hit=False,
                            prompt_tokens=0,
                            evaluated_tokens=0,
                            latency_s=elapsed / len(requests),
                            attempt=attempt,
                            error=exc.code,
                            batch_id=batch_id,
                        )
                        for _ in requests
                    ]
                )
                delay = self.retry.next_delay(exc, attempt) if exc.transient else None
                if delay is None:
                    raise
                self._sleep(delay)
                attempt += 1

    def _record(
        self,
        req: ScoreRequest,
        scores: LabelScores,
        worker: str | None,
        step: int | None,
        purpose: str | None,
        *,
        cache_hit: bool,
        latency_s: float = 0.0,
        batch_id: int | None = None,
    ) -> LedgerRecord:
        return LedgerRecord(
            worker=worker,
            step=step,
            purpose=purpose,
            backend=self.backend.kind,
            model=self._model,
            cache_hit=cache_hit,
            prompt_tokens=scores.prompt_tokens,
            evaluated_tokens=0 if cache_hit else scores.evaluated_tokens,
            latency_s=latency_s,
            batch_id=batch_id,
        )
