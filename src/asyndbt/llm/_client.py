"""``LLMClient``: the single boundary every caller goes through (DSPy's ``BaseLM.__call__`` shape).

Backends do only the raw call. The client adds, in this order: cache lookup; for the misses, a
budget check (:class:`~asyndbt.errors.BudgetExceeded` *before* anything is sent), the shared rate
limiter, one backend call with all the misses (so the backend can still group them by prefix or run
them concurrently), retries of transient errors, cache store and ledger records. All of it sits
around the single ``_call_backend`` seam, so the embedded and HTTP backends share it.

Retries. A backend with ``score_partial`` (the HTTP backend) reports success or failure per
request; only the failed requests are sent again, so an answer is never paid for twice. Other
backends fail or succeed as a whole batch. Every attempt is one ledger record per request: the
answer, or the error code with ``final`` telling a retried failure from one that reached the caller.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol

from asyndbt.errors import BudgetExceeded, LLMBadResponse, LLMError
from asyndbt.llm._budget import Budget, Prices, check_budget
from asyndbt.llm._cache import ScoreCache, cache_key
from asyndbt.llm._ledger import Ledger, LedgerRecord
from asyndbt.llm._limits import RateLimiter
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
    """Score requests through a backend with caching, limits, budgets, retries and accounting.

    Args:
        backend: any :class:`~asyndbt.llm.Backend`.
        cache: a :class:`ScoreCache`, or None for no caching.
        ledger: a :class:`Ledger`; a fresh in-memory one when None.
        retry: a :class:`RetryPolicy`; :class:`NoRetry` when None.
        limiter: a :class:`~asyndbt.llm.RateLimiter` shared by every thread using this client, or None.
        budget: global :class:`~asyndbt.llm.Budget` over the whole client (None: unlimited).
        worker_budget: the same limits applied to each worker id separately (None: unlimited).
        prices: the price table for the ledger's cost column (free when None).
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
        limiter: RateLimiter | None = None,
        budget: Budget | None = None,
        worker_budget: Budget | None = None,
        prices: Prices | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.backend = backend
        self.cache = cache
        self.ledger = ledger if ledger is not None else Ledger()
        self.retry: RetryPolicy = retry if retry is not None else NoRetry()
        self.limiter = limiter
        self.budget = budget if budget is not None else Budget()
        self.worker_budget = worker_budget if worker_budget is not None else Budget()
        self.prices = prices if prices is not None else Prices()
        self._sleep = sleep
        self._identity = dict(backend.identity())
        self._model = str(self._identity.get("model", backend.kind))
        self._budget_lock = threading.Lock()
        self._inflight: dict[Hashable, tuple[Any, dict[str, float]]] = {}  # reservations of calls in flight

    def score(
        self,
        requests: Sequence[ScoreRequest],
        *,
        worker: Any = None,
        step: int | None = None,
        purpose: str | None = None,
    ) -> list[LabelScores]:
        """Score requests, in order; cached answers are reused, the rest go to the backend in one call.

        Args:
            requests: what to score.
            worker: worker id for the ledger and the per-worker budget.
            step: step counter for the ledger.
            purpose: free text for the ledger (``"train"``, ``"eval"`` ...).

        Returns:
            One :class:`LabelScores` per request, in request order.

        Raises:
            BudgetExceeded: sending the misses would cross a budget; nothing was sent.
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
        self.ledger.record(records)
        if miss_idx:
            fresh = self._call_backend(
                [requests[i] for i in miss_idx],
                [keys[i] for i in miss_idx] if keys else None,
                worker=worker, step=step, purpose=purpose,
            )
            for i, scores in zip(miss_idx, fresh, strict=True):
                out[i] = scores
        dup_records = []
        for i, req in enumerate(requests):  # in-call duplicates count as cache hits
            if out[i] is None:
                out[i] = out[first_for_key[keys[i]]]
                dup_records.append(self._record(req, out[i], worker, step, purpose, cache_hit=True))
        self.ledger.record(dup_records)
        return [s for s in out if s is not None]

    # -- budgets -------------------------------------------------------------------------------------

    def _estimate_tokens(self, requests: Sequence[ScoreRequest]) -> int:
        """Billed tokens the call will probably use (the backend's estimate, else ~3 characters/token)."""
        est = getattr(self.backend, "estimate_tokens", None)
        if est is not None:
            return int(sum(est(r) for r in requests))
        return int(sum(math.ceil(len(r.prompt) / 3) + sum(math.ceil(len(lab) / 3) for lab in r.labels)
                       for r in requests))

    def _need(self, requests: Sequence[ScoreRequest]) -> dict[str, float]:
        need: dict[str, float] = {"requests": float(len(requests))}
        wants_tokens = any(b.max_tokens is not None or b.max_cost is not None for b in (self.budget, self.worker_budget))
        if wants_tokens:
            tokens = self._estimate_tokens(requests)
            need["tokens"] = float(tokens)
            # the estimate prices every token at the higher of the two rates (an upper bound)
            need["cost"] = self.prices.cost(tokens, 0) if self.prices.prompt_per_1k >= self.prices.completion_per_1k \
                else self.prices.cost(0, tokens)
        return need

    def _reserve(self, worker: Any, need: dict[str, float], *, unrecorded: int = 0) -> Hashable:
        """Check the budgets against spent + in-flight + ``need`` and hold ``need`` until released.

        ``unrecorded`` counts attempts already made but not yet in the ledger (a failed attempt
        whose record waits for this check to decide whether it was final).
        """
        token = object()
        with self._budget_lock:
            scopes: list[tuple[Budget, dict[str, float], str, Any]] = []
            if not self.budget.unlimited:
                scopes.append((self.budget, self.ledger.totals(), "global", None))
            if worker is not None and not self.worker_budget.unlimited:
                scopes.append((self.worker_budget, self.ledger.by_worker().get(worker, {}), f"worker {worker}", worker))
            for budget, totals, scope, w in scopes:
                used = {
                    "requests": float(totals.get("backend_attempts", 0)) + unrecorded,
                    "tokens": float(totals.get("billed_tokens", 0)),
                    "cost": float(totals.get("cost", 0.0)),
                }
                for other_worker, held in self._inflight.values():
                    if w is None or other_worker == w:
                        for k, v in held.items():
                            used[k] = used.get(k, 0.0) + v
                check_budget(budget, used, need, scope=scope)
            self._inflight[token] = (worker, need)
        return token

    def _release(self, token: Hashable) -> None:
        with self._budget_lock:
            self._inflight.pop(token, None)

    # -- the backend call ----------------------------------------------------------------------------

    def _backend_call(self, requests: list[ScoreRequest]) -> list[LabelScores | LLMError]:
        partial = getattr(self.backend, "score_partial", None)
        try:
            outcomes = partial(requests) if partial is not None else list(self.backend.score(requests))
        except LLMError as exc:
            return [exc] * len(requests)
        if len(outcomes) != len(requests):
            err = LLMBadResponse(
                f"backend {self.backend.kind!r} returned {len(outcomes)} results for "
                f"{len(requests)} requests; this is a backend bug",
                backend=self.backend.kind,
                model=self._model,
            )
            return [err] * len(requests)
        return outcomes

    def _calls_for(self, requests: Sequence[ScoreRequest]) -> int:
        per = getattr(self.backend, "calls_for", None)
        return int(sum(per(r) for r in requests)) if per is not None else len(requests)

    def _call_backend(
        self,
        requests: list[ScoreRequest],
        keys: list[str] | None,
        *,
        worker: Any,
        step: int | None,
        purpose: str | None,
    ) -> list[LabelScores]:
        """Score the misses with retries; record every attempt and cache every answer as it arrives."""
        results: list[LabelScores | None] = [None] * len(requests)
        pending = list(range(len(requests)))
        attempt = 1
        need = self._need(requests)
        token = self._reserve(worker, need)  # raises BudgetExceeded before anything is sent
        while True:
            batch = [requests[i] for i in pending]
            try:
                if self.limiter is not None:
                    tokens = 0
                    if self.limiter.tokens_per_min is not None:
                        tokens = int(need["tokens"]) if "tokens" in need else self._estimate_tokens(batch)
                    self.limiter.acquire(requests=self._calls_for(batch), tokens=tokens)
                batch_id = self.ledger.new_batch_id()
                start = time.perf_counter()
                outcomes = self._backend_call(batch)
                share = (time.perf_counter() - start) / len(batch)
            finally:
                self._release(token)
            records: list[LedgerRecord] = []
            answered: list[int] = []
            failed: list[tuple[int, LLMError]] = []
            for i, outcome in zip(pending, outcomes, strict=True):
                if isinstance(outcome, LLMError):
                    failed.append((i, outcome))
                    continue
                results[i] = outcome
                answered.append(i)
                records.append(self._record(requests[i], outcome, worker, step, purpose, cache_hit=False,
                                            latency_s=share, batch_id=batch_id, attempt=attempt))
            self.ledger.record(records)
            if self.cache is not None and keys is not None and answered:
                self.cache.put_many((keys[i], results[i]) for i in answered)  # type: ignore[misc]
            if not failed:
                return [s for s in results if s is not None]
            delay: float | None = None
            give_up: Exception | None = None
            delays = [self.retry.next_delay(err, attempt) if err.transient else None for _, err in failed]
            if any(d is None for d in delays):
                give_up = next(err for (_, err), d in zip(failed, delays, strict=True) if d is None)
            else:
                delay = max(d for d in delays if d is not None)
                need = self._need([requests[i] for i, _ in failed])
                try:
                    token = self._reserve(worker, need, unrecorded=len(failed))  # the retry must fit too
                except BudgetExceeded as exc:
                    give_up = exc
            self.ledger.record([
                LedgerRecord(
                    worker=worker, step=step, purpose=purpose, backend=self.backend.kind, model=self._model,
                    cache_hit=False, prompt_tokens=0, evaluated_tokens=0, latency_s=share, attempt=attempt,
                    error=err.code, batch_id=batch_id, final=give_up is not None,
                )
                for _, err in failed
            ])
            if give_up is not None:
                if isinstance(give_up, BudgetExceeded):
                    raise give_up from failed[0][1]
                raise give_up
            pending = [i for i, _ in failed]
            self._sleep(delay or 0.0)
            attempt += 1

    def _record(
        self,
        req: ScoreRequest,
        scores: LabelScores,
        worker: Any,
        step: int | None,
        purpose: str | None,
        *,
        cache_hit: bool,
        latency_s: float = 0.0,
        batch_id: int | None = None,
        attempt: int = 1,
    ) -> LedgerRecord:
        evaluated = 0 if cache_hit else scores.evaluated_tokens
        completion = 0 if cache_hit else scores.completion_tokens
        return LedgerRecord(
            worker=worker,
            step=step,
            purpose=purpose,
            backend=self.backend.kind,
            model=self._model,
            cache_hit=cache_hit,
            prompt_tokens=scores.prompt_tokens,
            evaluated_tokens=evaluated,
            latency_s=latency_s,
            attempt=attempt,
            batch_id=batch_id,
            completion_tokens=completion,
            cost=self.prices.cost(evaluated, completion),
        )
