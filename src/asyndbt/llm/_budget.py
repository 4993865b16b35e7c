"""Prices and budgets: what a request costs, and when the client must stop sending them.

Budgets count only work that reached the backend: every attempt (retries included, since a
provider bills a failed attempt's time and often its tokens) and never a cache hit. ``tokens``
means billed tokens: prompt tokens the backend processed (``evaluated_tokens``) plus generated
tokens. The client checks a budget *before* it sends a call, with the call's size estimated up front
(request count exactly; tokens with the backend's estimate), and raises
:class:`~asyndbt.errors.BudgetExceeded` instead of sending what would cross the limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from asyndbt.errors import BudgetExceeded


@dataclass(frozen=True)
class Prices:
    """A price table: currency units per 1,000 tokens.

    Attributes:
        prompt_per_1k: price of 1,000 prompt tokens.
        completion_per_1k: price of 1,000 generated tokens.
    """

    prompt_per_1k: float = 0.0
    completion_per_1k: float = 0.0

    def cost(self, prompt_tokens: float, completion_tokens: float) -> float:
        """Estimated cost of the given token counts."""
        return (prompt_tokens * self.prompt_per_1k + completion_tokens * self.completion_per_1k) / 1000.0


@dataclass(frozen=True)
class Budget:
    """Limits on backend work; ``None`` means unlimited.

    Attributes:
        max_requests: backend attempts (one per request sent, retries included).
        max_tokens: billed tokens (processed prompt tokens + generated tokens).
        max_cost: estimated cost under the client's :class:`Prices`.
    """

    max_requests: int | None = None
    max_tokens: int | None = None
    max_cost: float | None = None

    @property
    def unlimited(self) -> bool:
        """True when no limit is set."""
        return self.max_requests is None and self.max_tokens is None and self.max_cost is None


_FIELDS = {
    "max_requests": ("requests", "llm.{scope}max_requests"),
    "max_tokens": ("tokens", "llm.{scope}max_tokens"),
    "max_cost": ("cost", "llm.{scope}max_cost"),
}


def check_budget(
    budget: Budget,
    used: dict[str, float],
    need: dict[str, float],
    *,
    scope: str,
) -> None:
    """Raise :class:`BudgetExceeded` if ``used + need`` crosses any limit of ``budget``.

    Args:
        budget: the limits.
        used: spent so far (keys ``requests``, ``tokens``, ``cost``), reservations in flight included.
        need: what the next call would add (same keys).
        scope: ``"global"`` or ``"worker <id>"`` for the message.
    """
    prefix = "" if scope == "global" else "worker_"
    for attr, (key, field_name) in _FIELDS.items():
        limit = getattr(budget, attr)
        if limit is None:
            continue
        if used.get(key, 0.0) + need.get(key, 0.0) > limit:
            name = field_name.format(scope=prefix)
            shown = f"{used.get(key, 0.0):.6g}"
            raise BudgetExceeded(
                f"{scope} {key} budget {name}={limit} reached: {shown} {key} used, the next call needs "
                f"{need.get(key, 0.0):.6g} more; nothing was sent. Raise {name} (or set it to null for no "
                "limit) and resume the run"
            )
