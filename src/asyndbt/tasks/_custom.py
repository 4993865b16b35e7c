"""A user's own classification task, described in the run config (``[task]`` with ``train_file``).

Users bring their own labelled file (CSV, TSV or JSONL), say which columns hold the text and the
label, give a template with one slot per text column and one answer word per class, and the
paper's split protocol does the rest. Every mistake is reported against the config field that
holds it (``task.instruction``, ``task.labels``...), since that is what the user edits.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from asyndbt.errors import ConfigError, DataError
from asyndbt.tasks._splits import TaskSources, TaskSplits
from asyndbt.tasks._table import load_table
from asyndbt.tasks._types import Example, TaskSpec

SLOT_NAMES = ("text_a", "text_b", "text_c", "text_d")


def custom_task_spec(
    name: str, *, instruction: str | None, label_words: Sequence[str] | None, text_columns: Sequence[str],
    labels: Sequence[str] | None = None,
) -> TaskSpec:
    """Build the TaskSpec of a config-defined task, naming the config field at fault on error."""
    if not instruction or not isinstance(instruction, str):
        raise ConfigError('task.instruction is required with task.train_file: a template with one slot per text '
                          'column, e.g. "Review: {text_a}. Is it positive?"')
    if not isinstance(text_columns, list | tuple) or not text_columns or not all(
            isinstance(c, str) and c for c in text_columns):
        raise ConfigError(f"task.text_columns={text_columns!r} must be a non-empty list of column names, e.g. [\"text\"]")
    if len(text_columns) > len(SLOT_NAMES):
        raise ConfigError(f"task.text_columns has {len(text_columns)} columns; at most {len(SLOT_NAMES)} are supported")
    if not isinstance(label_words, list | tuple) or not all(isinstance(w, str) for w in label_words):
        raise ConfigError("task.label_words is required with task.train_file: one answer word per class, in class "
                          'order, e.g. ["Terrible", "Great"]')
    if labels is not None and (not isinstance(labels, list | tuple) or len(labels) != len(label_words)):
        raise ConfigError(f"task.labels={labels!r} must list one raw label value per label word "
                          f"({len(label_words)}), in the same order")
    try:
        return TaskSpec(name=name, instruction=instruction, label_words=tuple(label_words),
                        text_fields=SLOT_NAMES[:len(text_columns)],
                        source_labels=tuple(str(x) for x in labels) if labels is not None else (),
                        description=f"user task from the run config ({len(label_words)} classes)")
    except DataError as exc:  # re-attribute to the config fields the user edits
        raise ConfigError(f"task.instruction / task.label_words: {exc.message}") from exc


def load_custom_sources(
    spec: TaskSpec, *, train_file: str, dev_file: str | None, text_columns: Sequence[str], label_column: str,
) -> TaskSources:
    """Read the user's labelled file(s): the train file, and the dev file or None."""
    label_map = {raw: i for i, raw in enumerate(spec.source_labels)} if spec.source_labels else None

    def read(path: str) -> tuple[Example, ...]:
        return tuple(load_table(Path(path).expanduser(), text_columns=list(text_columns), label_column=label_column,
                                label_words=spec.label_words, label_map=label_map))

    return TaskSources(read(train_file), read(dev_file) if dev_file else None, Path(train_file).name)


def load_custom_splits(
    spec: TaskSpec, *, train_file: str, dev_file: str | None, text_columns: Sequence[str], label_column: str,
    seed: int, train_per_class: int, val_per_class: int, test_size: int, pool_per_class: int,
    val_size: int | None = None,
) -> TaskSplits:
    """Read the user's file(s) and draw the paper's splits (one file: every split carved from it)."""
    sources = load_custom_sources(spec, train_file=train_file, dev_file=dev_file, text_columns=text_columns,
                                  label_column=label_column)
    return sources.split(spec, seed=seed, train_per_class=train_per_class, val_per_class=val_per_class,
                         test_size=test_size, pool_per_class=pool_per_class, val_size=val_size)
