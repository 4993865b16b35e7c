"""Client-side rate limits: token buckets for requests per second and tokens per minute.

One :class:`RateLimiter` belongs to one :class:`~asyndbt.llm.LLMClient` and is shared by every
thread that calls it (DSPy lets threads that share a provider run into the provider's limits; one
shared limiter keeps the whole process under them).

The buckets use reservations ("virtual scheduling"): a caller takes what it needs at once, which may
drive the level below zero, and then sleeps until the deficit has refilled. Callers are served in
the order they reserved, a request larger than the bucket's capacity still goes through (after the
matching wait), and the long-run rate is exactly the configured one. The clock and the sleep are
injected, so tests run without waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from asyndbt.errors import LLMConfigError


class TokenBucket:
    """A token bucket with ``rate`` tokens per second and room for ``capacity`` tokens.

    Args:
        rate: refill rate in tokens per second (> 0).
        capacity: the largest burst taken without waiting (> 0); the bucket starts full.
        clock: monotonic clock in seconds.
    """

    def __init__(self, rate: float, capacity: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or capacity <= 0:
            raise LLMConfigError(f"token bucket needs rate > 0 and capacity > 0 (got rate={rate}, capacity={capacity})")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self._clock = clock
        self._level = float(capacity)
        self._last = clock()
        self._lock = threading.Lock()

    def reserve(self, amount: float) -> float:
        """Take ``amount`` tokens now; return the seconds the caller must wait before using them."""
        with self._lock:
            now = self._clock()
            self._level = min(self.capacity, self._level + (now - self._last) * self.rate)
            self._last = now
            self._level -= amount
            return max(0.0, -self._level / self.rate)


class RateLimiter:
    """Requests-per-second and tokens-per-minute limits shared by every caller of one client.

    Args:
        requests_per_s: sustained requests per second, or None for no limit. Bursts of up to
            ``max(1, requests_per_s)`` requests go through at once.
        tokens_per_min: sustained prompt + completion tokens per minute, or None for no limit.
            Bursts of up to one second's worth (at least 1 token) go through at once.
        clock: monotonic clock in seconds (injected for tests).
        sleep: how to wait (injected for tests).

    Example:
        >>> t = [0.0]
        >>> waits = []
        >>> lim = RateLimiter(requests_per_s=2, clock=lambda: t[0], sleep=waits.append)
        >>> for _ in range(4):
        ...     _ = lim.acquire(requests=1)
        >>> waits
        [0.5, 1.0]
    """

    def __init__(
        self,
        *,
        requests_per_s: float | None = None,
        tokens_per_min: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.requests_per_s = requests_per_s
        self.tokens_per_min = tokens_per_min
        self._sleep = sleep
        self._requests = (
            TokenBucket(requests_per_s, max(1.0, requests_per_s), clock=clock) if requests_per_s is not None else None
        )
        self._tokens = (
            TokenBucket(tokens_per_min / 60.0, max(1.0, tokens_per_min / 60.0), clock=clock)
            if tokens_per_min is not None
            else None
        )

    def acquire(self, *, requests: int = 1, tokens: int = 0) -> float:
        """Wait until ``requests`` requests and ``tokens`` tokens may be sent; return the seconds waited."""
        wait = 0.0
        if self._requests is not None and requests > 0:
            wait = max(wait, self._requests.reserve(requests))
        if self._tokens is not None and tokens > 0:
            wait = max(wait, self._tokens.reserve(tokens))
        if wait > 0:
            self._sleep(wait)
        return wait
