"""The artefact a tuning run produces: a self-contained prompt that `asyndbt predict` can use."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from asyndbt.errors import DataError
from asyndbt.llm._types import LabelScores, ScoreRequest
from asyndbt.prompt._assemble import PLACEMENTS, build_requests, join_fragment
from asyndbt.tasks._types import Example, TaskSpec

TUNED_PROMPT_SCHEMA = 3  # 2: calibration prior, fragment placement, provenance; 3: demonstration orders


class _Scores(Protocol):
    def score(self, requests: Sequence[ScoreRequest], **kw: Any) -> list[LabelScores]: ...


def demonstration_orders(n: int, count: int) -> tuple[tuple[int, ...], ...]:
    """``count`` distinct orders of ``n`` demonstrations: as listed first, then seeded random permutations.

    Fewer when ``n!`` is smaller; ``()`` (one order, as listed) when there is nothing to permute. Seeded by
    ``n`` alone, so every worker and every run renders the same set in the same orders.

    Example:
        >>> demonstration_orders(2, 5)
        ((0, 1), (1, 0))
    """
    target = min(int(count), math.factorial(min(n, 10)))
    if target <= 1:
        return ()
    rng = np.random.default_rng([n, 4099])
    out = [tuple(range(n))]
    while len(out) < target:
        perm = tuple(int(i) for i in rng.permutation(n))
        if perm not in out:
            out.append(perm)
    return tuple(out)


def average_answers(per_order: Sequence[LabelScores]) -> LabelScores:
    """One answer from the answers to the same query under several demonstration orders.

    The label distributions (normalised over the label words) are averaged; token counts add up, so the
    ledger's cost figures stay true.
    """
    probs = np.mean([s.probs for s in per_order], axis=0)
    return LabelScores(
        seq_logprobs=tuple(float(math.log(max(p, 1e-300))) for p in probs),
        prompt_tokens=sum(s.prompt_tokens for s in per_order),
        prefix_tokens=sum(s.prefix_tokens for s in per_order),
        label_tokens=per_order[0].label_tokens,
        evaluated_tokens=sum(s.evaluated_tokens for s in per_order),
        completion_tokens=sum(s.completion_tokens for s in per_order),
    )


@dataclass(frozen=True)
class TunedPrompt:
    """A task spec plus the chosen fragment words and demonstrations.

    Everything needed to score new text is inside, so the file can be used without the training
    data. It does contain the chosen demonstrations' text: it belongs to the worker that owns them.

    Attributes:
        calibration: the label prior this prompt's answers are divided by (see
            :mod:`asyndbt.prompt._calibration`), or None for raw answers.
        placement: where the fragment goes (``query``: once, in the answered question; ``every``:
            also after each demonstration, the paper's layout).
        orders: the demonstration orders the prompt averages its answers over (each a permutation of
            the demonstrations' indices); ``()``: one order, as listed. The same set scores several
            points apart in different orders on a small model, and the average of a few orders is
            better than the typical one (bench/results/order_study.md).
        provenance: what the prompt was tuned with (model, backend, selection record); ``predict``
            compares it with the LLM it is given and warns on a mismatch.
    """

    task: TaskSpec
    fragment_words: tuple[str, ...]
    demonstrations: tuple[Example, ...]
    method: str = ""
    worker: int | None = None
    calibration: tuple[float, ...] | None = None
    placement: str = "query"
    orders: tuple[tuple[int, ...], ...] = ()
    provenance: dict[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.placement not in PLACEMENTS:
            raise DataError(f"placement={self.placement!r} is unknown; use one of {', '.join(PLACEMENTS)}")
        if self.calibration is not None and len(self.calibration) != self.task.num_classes:
            raise DataError(f"calibration prior has {len(self.calibration)} entries for {self.task.num_classes} "
                            "classes; re-export the prompt")
        identity = tuple(range(len(self.demonstrations)))
        for order in self.orders:
            if tuple(sorted(order)) != identity:
                raise DataError(f"demonstration order {list(order)} is not a permutation of the "
                                f"{len(self.demonstrations)} demonstrations; re-export the prompt")

    def with_orders(self, count: int) -> TunedPrompt:
        """The same prompt averaging over ``count`` demonstration orders (1: as listed only)."""
        return replace(self, orders=demonstration_orders(len(self.demonstrations), count))

    def with_calibration(self, prior: tuple[float, ...] | None) -> TunedPrompt:
        """The same prompt with another calibration prior (None: raw answers)."""
        return replace(self, calibration=None if prior is None else tuple(float(p) for p in prior))

    @property
    def fragment(self) -> str:
        """The text placed after ``Note:``."""
        return join_fragment(self.fragment_words)

    def requests(self, queries: Sequence[tuple[str, ...]]) -> list[ScoreRequest]:
        """Score requests for new query texts under this prompt: order-major, one block per order.

        Turn the answers into one per query with :meth:`answers` (or call :meth:`score`).
        """
        out: list[ScoreRequest] = []
        for order in self.orders or (tuple(range(len(self.demonstrations))),):
            out.extend(build_requests(self.task, queries, demonstrations=[self.demonstrations[i] for i in order],
                                      fragment=self.fragment, placement=self.placement))
        return out

    def answers(self, scores: Sequence[LabelScores]) -> list[LabelScores]:
        """One answer per query from the scores of :meth:`requests` (averaged over the orders)."""
        k = max(len(self.orders), 1)
        if k == 1:
            return list(scores)
        if len(scores) % k:
            raise DataError(f"{len(scores)} scores for a prompt with {k} demonstration orders; score "
                            "prompt.requests(queries) and pass every answer")
        n = len(scores) // k
        return [average_answers([scores[o * n + i] for o in range(k)]) for i in range(n)]

    def score(self, client: _Scores, queries: Sequence[tuple[str, ...]], **kw: Any) -> list[LabelScores]:
        """This prompt's answers to ``queries`` through ``client`` (its keywords: worker, purpose, ...)."""
        return self.answers(client.score(self.requests(queries), **kw))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready representation."""
        return {
            "schema_version": TUNED_PROMPT_SCHEMA,
            "method": self.method,
            "worker": self.worker,
            "task": self.task.to_dict(),
            "fragment_words": list(self.fragment_words),
            "fragment": self.fragment,
            "demonstrations": [
                {"uid": d.uid, "texts": list(d.texts), "label": d.label} for d in self.demonstrations
            ],
            "calibration": list(self.calibration) if self.calibration is not None else None,
            "placement": self.placement,
            "demonstration_orders": [list(o) for o in self.orders],
            "provenance": self.provenance,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TunedPrompt:
        """Inverse of :meth:`to_dict`."""
        try:
            task = TaskSpec.from_dict(data["task"])
            demos = tuple(
                Example(str(d["uid"]), tuple(d["texts"]), int(d["label"])) for d in data["demonstrations"]
            )
            return cls(
                task=task,
                fragment_words=tuple(data["fragment_words"]),
                demonstrations=demos,
                method=str(data.get("method", "")),
                worker=data.get("worker"),
                calibration=tuple(float(p) for p in data["calibration"]) if data.get("calibration") else None,
                placement=str(data.get("placement", "every" if data.get("schema_version", 1) < 2 else "query")),
                orders=tuple(tuple(int(i) for i in o) for o in data.get("demonstration_orders") or ()),
                provenance=data.get("provenance"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(f"tuned prompt is malformed ({exc!r}); re-export it with `asyndbt run`") from exc

    def save(self, path: str | Path) -> None:
        """Write as pretty JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> TunedPrompt:
        """Read a file written by :meth:`save`."""
        p = Path(path)
        if not p.is_file():
            raise DataError(f"tuned prompt file {p} does not exist; point at <run_dir>/prompts/<name>.json")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"tuned prompt file {p} is not valid JSON: {exc}") from exc
        try:
            return cls.from_dict(data)
        except DataError as exc:
            raise DataError(f"{p}: {exc.message}") from exc
