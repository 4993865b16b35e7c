"""Retry policies for transient LLM errors (rate limits, timeouts, 5xx, unparsable answers).

The client asks the policy only about errors whose class is ``transient``; configuration errors
(HTTP 4xx other than 429, a missing model file) always reach the caller at once.
"""

from __future__ import annotations

import random
import threading

from asyndbt.errors import LLMConfigError, LLMError, LLMRateLimited


class ExponentialBackoff:
    """Retry up to ``max_retries`` times with exponentially growing, jittered delays.

    The delay before retry ``k`` (``k = 1, 2, ...``) is ``min(max_delay, base * 2**(k-1))``, scaled by
    a factor drawn uniformly from ``[1 - jitter, 1 + jitter]`` so that workers that failed together do
    not retry together. When the server sent ``Retry-After`` (:class:`~asyndbt.errors.LLMRateLimited`
    ``retry_after``), the delay is at least that long, even above ``max_delay``: the server knows
    best when it will take requests again.

    Args:
        max_retries: retries after the first attempt (0 = never retry).
        base: delay before the first retry, in seconds.
        max_delay: cap on the computed (not the server-requested) delay.
        jitter: relative jitter in ``[0, 1]``.
        seed: seed of the jitter generator (deterministic delays for a given sequence of errors).

    Example:
        >>> from asyndbt.errors import LLMTimeout, LLMRateLimited
        >>> policy = ExponentialBackoff(max_retries=3, base=1.0, max_delay=3.0, jitter=0.0)
        >>> [policy.next_delay(LLMTimeout("slow"), k) for k in (1, 2, 3, 4)]
        [1.0, 2.0, 3.0, None]
        >>> policy.next_delay(LLMRateLimited("busy", retry_after=7.5), 1)
        7.5
    """

    def __init__(
        self,
        max_retries: int = 3,
        base: float = 0.5,
        max_delay: float = 30.0,
        jitter: float = 0.1,
        seed: int = 0,
    ) -> None:
        if max_retries < 0:
            raise LLMConfigError(f"max_retries={max_retries} must be >= 0")
        if base < 0 or max_delay < 0:
            raise LLMConfigError(f"base={base} and max_delay={max_delay} must be >= 0")
        if not 0.0 <= jitter <= 1.0:
            raise LLMConfigError(f"jitter={jitter} must be between 0 and 1")
        self.max_retries = int(max_retries)
        self.base = float(base)
        self.max_delay = float(max_delay)
        self.jitter = float(jitter)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def next_delay(self, error: LLMError, attempt: int) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None when the retries are used up."""
        if attempt > self.max_retries or not error.transient:
            return None
        delay = min(self.max_delay, self.base * 2.0 ** (attempt - 1))
        if self.jitter > 0:
            with self._lock:
                delay *= 1.0 + self.jitter * (2.0 * self._rng.random() - 1.0)
        retry_after = error.retry_after if isinstance(error, LLMRateLimited) else None
        if retry_after is not None:
            delay = max(delay, float(retry_after))
        return max(0.0, delay)
