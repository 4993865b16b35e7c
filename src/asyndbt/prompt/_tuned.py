"""The artefact a tuning run produces: a self-contained prompt that `asyndbt predict` can use."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from asyndbt.errors import DataError
from asyndbt.llm._types import ScoreRequest
from asyndbt.prompt._assemble import PLACEMENTS, build_requests, join_fragment
from asyndbt.tasks._types import Example, TaskSpec

TUNED_PROMPT_SCHEMA = 2  # 2: calibration prior, fragment placement, provenance


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
    provenance: dict[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.placement not in PLACEMENTS:
            raise DataError(f"placement={self.placement!r} is unknown; use one of {', '.join(PLACEMENTS)}")
        if self.calibration is not None and len(self.calibration) != self.task.num_classes:
            raise DataError(f"calibration prior has {len(self.calibration)} entries for {self.task.num_classes} "
                            "classes; re-export the prompt")

    def with_calibration(self, prior: tuple[float, ...] | None) -> TunedPrompt:
        """The same prompt with another calibration prior (None: raw answers)."""
        return replace(self, calibration=None if prior is None else tuple(float(p) for p in prior))

    @property
    def fragment(self) -> str:
        """The text placed after ``Note:``."""
        return join_fragment(self.fragment_words)

    def requests(self, queries: Sequence[tuple[str, ...]]) -> list[ScoreRequest]:
        """Score requests for new query texts under this prompt."""
        return build_requests(self.task, queries, demonstrations=self.demonstrations, fragment=self.fragment,
                              placement=self.placement)

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
