"""Loaders for the GLUE TSV files (``<data_dir>/glue/<TASK>/{train,dev}.tsv``).

Each task's file layout is described once in :data:`GLUE_LAYOUTS`. Layouts follow the files GLUE
distributes (see ``shared/data/SOURCES.md``):

* SST-2: header ``sentence, label``; labels ``0``/``1``.
* CoLA: no header; columns source, label, original mark, sentence.
* MRPC: header (with a UTF-8 byte-order mark) ``Quality, #1 ID, #2 ID, #1 String, #2 String``.
* QNLI: header ``index, question, sentence, label``; labels ``entailment``/``not_entailment``.
* QQP: header ``id, qid1, qid2, question1, question2, is_duplicate``.
* RTE: header ``index, sentence1, sentence2, label``; labels as QNLI.

Files are read with quoting off, because sentences contain unbalanced double quotes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from asyndbt.errors import DataError
from asyndbt.tasks._datadir import builtin_layout, glue_task_dir, require_data_dir
from asyndbt.tasks._registry import get_task
from asyndbt.tasks._table import Column, make_label_resolver, read_delimited, rows_to_examples
from asyndbt.tasks._types import Example, TaskSpec

GLUE_SPLITS = ("train", "dev")


@dataclass(frozen=True)
class GlueLayout:
    """Where a GLUE task's fields sit in its TSV files.

    Attributes:
        folder: the task's folder under ``glue/`` (``SST-2``).
        header: whether the files start with a header line.
        text_columns: text columns in slot order (names with a header, positions without).
        label_column: the label column.
    """

    folder: str
    header: bool
    text_columns: tuple[Column, ...]
    label_column: Column


GLUE_LAYOUTS: MappingProxyType[str, GlueLayout] = MappingProxyType(
    {
        "sst2": GlueLayout("SST-2", True, ("sentence",), "label"),
        "cola": GlueLayout("CoLA", False, (3,), 1),
        "mrpc": GlueLayout("MRPC", True, ("#1 String", "#2 String"), "Quality"),
        "qnli": GlueLayout("QNLI", True, ("question", "sentence"), "label"),
        "qqp": GlueLayout("QQP", True, ("question1", "question2"), "is_duplicate"),
        "rte": GlueLayout("RTE", True, ("sentence1", "sentence2"), "label"),
    }
)


def glue_layout(task: TaskSpec) -> GlueLayout:
    """Return the GLUE file layout of a built-in task.

    Raises:
        DataError: the task has no built-in GLUE files.
    """
    return builtin_layout(GLUE_LAYOUTS, task.name, "GLUE")


def glue_file(task: TaskSpec | str, split: str, *, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the path of one GLUE file (which may not exist).

    Raises:
        DataError: unknown split, task without GLUE files, or no data directory.
    """
    spec = get_task(task) if isinstance(task, str) else task
    if split not in GLUE_SPLITS:
        raise DataError(f"unknown GLUE split {split!r}; use one of {list(GLUE_SPLITS)}")
    layout = glue_layout(spec)
    root = require_data_dir(data_dir, spec.name)
    return glue_task_dir(root, layout.folder) / f"{split}.tsv"


def load_glue(
    task: TaskSpec | str, split: str = "train", *, data_dir: str | os.PathLike[str] | None = None
) -> tuple[Example, ...]:
    """Load one GLUE file of a built-in task.

    Args:
        task: a built-in GLUE task (name or spec): sst2, cola, mrpc, qnli, qqp, rte.
        split: ``"train"`` or ``"dev"``.
        data_dir: the data directory; default ``$ASYNDBT_DATA_DIR``.

    Returns:
        The examples in file order, uid ``<task>/<split>/<row index>`` (0-based data row).

    Raises:
        DataError: no data directory, file missing or empty, a column missing, a label outside the
            task's label set.
    """
    spec = get_task(task) if isinstance(task, str) else task
    path = glue_file(spec, split, data_dir=data_dir)
    if not path.is_file():
        raise DataError(
            f"GLUE file {str(path)!r} not found for task {spec.name!r}; expected "
            f"<data_dir>/glue/{glue_layout(spec).folder}/{split}.tsv (set --data-dir or ASYNDBT_DATA_DIR)"
        )
    layout = glue_layout(spec)
    label_map = {raw: i for i, raw in enumerate(spec.source_labels)} if spec.source_labels else None
    resolve = make_label_resolver(path, label_words=spec.label_words, label_map=label_map)
    names, rows = read_delimited(path, delimiter="\t", quote_none=True, header=layout.header)
    return rows_to_examples(
        path,
        names,
        rows,
        text_columns=layout.text_columns,
        label_column=layout.label_column,
        resolve=resolve,
        uid_prefix=f"{spec.name}/{split}",
    )
