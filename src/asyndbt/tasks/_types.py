"""Plain value types shared by every layer: a task definition and labelled examples."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from asyndbt.errors import DataError


@dataclass(frozen=True)
class Example:
    """One labelled example.

    Attributes:
        uid: identifier unique within its source file (used for disjointness checks, never sent).
        texts: the text fields in slot order (``text_a``, ``text_b``, ...).
        label: index into the task's ``label_words``.
    """

    uid: str
    texts: tuple[str, ...]
    label: int


@dataclass(frozen=True)
class TaskSpec:
    """What a classification task looks like to the LLM.

    The instruction is a ``str.format`` template over the slots ``{text_a}``, ``{text_b}``, ...;
    the prompt fragment is appended after it as ``Note: <fragment>.`` by the prompt layer, so the
    same spec serves the manual prompt (no note) and the tuned one.

    Attributes:
        name: short task id (``sst2``).
        instruction: template with one slot per text field.
        label_words: the answer word of each class, in label-index order.
        text_fields: slot names, in the order of ``Example.texts``.
        synthetic: True for data the project generates itself (reports say so).
        description: one human-readable line about the task and its data.
        source_labels: the raw label value used in the data files for each class, in label-index
            order (``("0", "1")`` for SST-2); empty when the task has no built-in files.
    """

    name: str
    instruction: str
    label_words: tuple[str, ...]
    text_fields: tuple[str, ...] = ("text_a",)
    synthetic: bool = False
    description: str = field(default="", compare=False)
    source_labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:
            slots = {f for _, f, _, _ in string.Formatter().parse(self.instruction) if f is not None}
        except ValueError as exc:
            raise DataError(f"task {self.name!r}: instruction is not a valid template ({exc}); write literal "
                            "braces as {{ and }}") from exc
        if "" in slots:
            raise DataError(f"task {self.name!r}: instruction has an empty slot {{}}; name it, e.g. {{text_a}}")
        missing = [f for f in self.text_fields if f not in slots]
        if missing:
            raise DataError(
                f"task {self.name!r}: instruction has no slot for {missing}; "
                f"put {{{missing[0]}}} where the query text belongs"
            )
        unknown = sorted(slots - set(self.text_fields))
        if unknown:
            raise DataError(
                f"task {self.name!r}: instruction slot(s) {unknown} are not text fields "
                f"{list(self.text_fields)}; rename the slot or add the field"
            )
        if len(self.label_words) < 2:
            raise DataError(f"task {self.name!r}: needs at least 2 label words, got {list(self.label_words)}")
        if any(not w.strip() for w in self.label_words):
            raise DataError(f"task {self.name!r}: a label word is empty; give every class a word")
        if len(set(self.label_words)) != len(self.label_words):
            raise DataError(f"task {self.name!r}: label words must be distinct, got {list(self.label_words)}")
        if self.source_labels and len(self.source_labels) != len(self.label_words):
            raise DataError(
                f"task {self.name!r}: {len(self.source_labels)} source label(s) {list(self.source_labels)} "
                f"for {len(self.label_words)} label words; give one source label per class or none"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what exported prompts and partition files carry)."""
        return {"name": self.name, "instruction": self.instruction, "label_words": list(self.label_words),
                "text_fields": list(self.text_fields), "synthetic": self.synthetic,
                "source_labels": list(self.source_labels)}

    @classmethod
    def from_dict(cls, t: Mapping[str, Any]) -> TaskSpec:
        """Inverse of :meth:`to_dict` (KeyError/TypeError on malformed input; callers say which file)."""
        return cls(name=str(t["name"]), instruction=str(t["instruction"]), label_words=tuple(t["label_words"]),
                   text_fields=tuple(t["text_fields"]), synthetic=bool(t.get("synthetic", False)),
                   source_labels=tuple(t.get("source_labels", ())))

    @property
    def num_classes(self) -> int:
        """Number of classes U."""
        return len(self.label_words)

    def render_instruction(self, texts: tuple[str, ...]) -> str:
        """Fill the instruction's slots with one example's texts."""
        if len(texts) != len(self.text_fields):
            raise DataError(
                f"task {self.name!r} expects {len(self.text_fields)} text field(s), got {len(texts)}"
            )
        return self.instruction.format(**dict(zip(self.text_fields, texts, strict=True)))
