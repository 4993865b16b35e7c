"""Loaders for the sampled text-classification CSVs (``<data_dir>/<name>/{train,test}.csv``).

Each task's file layout is described once in :data:`TEXTCLS_LAYOUTS`, as :data:`~asyndbt.tasks.GLUE_LAYOUTS`
does for GLUE. The files (see ``shared/data/SOURCES.md``) are CSV with the header ``text,label``, standard
CSV quoting (texts contain commas and double quotes), UTF-8, and the label written as a word:

* agnews: ``World``, ``Sports``, ``Business``, ``Technology`` (news topic).
* trec: ``Abbreviation``, ``Entity``, ``Description``, ``Person``, ``Location``, ``Number`` (question type).
* subj: ``Subjective``, ``Objective``.
* sst5: ``terrible``, ``bad``, ``okay``, ``good``, ``great`` (fine-grained sentiment).

There is no labelled dev file: the split protocol draws train and pool from ``train.csv`` and
validation and test from ``test.csv``, as it does from a GLUE task's train and dev files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from asyndbt.errors import DataError
from asyndbt.tasks._datadir import DATA_DIR_ENV, builtin_layout, require_data_dir, textcls_task_dir
from asyndbt.tasks._registry import get_task
from asyndbt.tasks._table import Column, make_label_resolver, read_delimited, rows_to_examples
from asyndbt.tasks._types import Example, TaskSpec

TEXTCLS_SPLITS = ("train", "test")


@dataclass(frozen=True)
class TextClsLayout:
    """Where a CSV text-classification task's files and fields are.

    Attributes:
        folder: the task's folder under the data directory (``agnews``).
        train_file: the file the protocol draws train and pool from.
        dev_file: the labelled file the protocol draws validation and test from.
        text_column: the text column.
        label_column: the label column (label words, as in the task's ``source_labels``).
    """

    folder: str
    train_file: str = "train.csv"
    dev_file: str = "test.csv"
    text_column: Column = "text"
    label_column: Column = "label"

    def file_name(self, split: str) -> str:
        """Return the file name of ``"train"`` or ``"test"``."""
        return self.train_file if split == "train" else self.dev_file


TEXTCLS_LAYOUTS: MappingProxyType[str, TextClsLayout] = MappingProxyType(
    {
        "agnews": TextClsLayout("agnews"),
        "trec": TextClsLayout("trec"),
        "subj": TextClsLayout("subj"),
        "sst5": TextClsLayout("sst5"),
    }
)


def textcls_layout(task: TaskSpec) -> TextClsLayout:
    """Return the CSV file layout of a built-in text-classification task.

    Raises:
        DataError: the task has no built-in CSV files.
    """
    return builtin_layout(TEXTCLS_LAYOUTS, task.name, "CSV")


def textcls_file(task: TaskSpec | str, split: str, *, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the path of one CSV file of a text-classification task (which may not exist).

    Args:
        task: a built-in CSV task (name or spec): agnews, trec, subj, sst5.
        split: ``"train"`` or ``"test"``.
        data_dir: the data directory; default ``$ASYNDBT_DATA_DIR``.

    Returns:
        ``<data_dir>/<folder>/<split>.csv``.

    Raises:
        DataError: unknown split, task without CSV files, or no data directory.
    """
    spec = get_task(task) if isinstance(task, str) else task
    if split not in TEXTCLS_SPLITS:
        raise DataError(f"unknown split {split!r} for task {spec.name!r}; use one of {list(TEXTCLS_SPLITS)}")
    layout = textcls_layout(spec)
    root = require_data_dir(data_dir, spec.name)
    return textcls_task_dir(root, layout.folder) / layout.file_name(split)


def missing_file_error(task: TaskSpec, paths: list[Path]) -> DataError:
    """Build the error for missing CSV files: names each path and how to point at the data."""
    layout = textcls_layout(task)
    tried = " and ".join(repr(str(p)) for p in paths)
    expected = " and ".join(f"<data_dir>/{layout.folder}/{p.name}" for p in paths)
    return DataError(
        f"data file(s) {tried} not found for task {task.name!r}; expected {expected} "
        f"(set --data-dir or {DATA_DIR_ENV} to the folder that holds {layout.folder}/), or use the synthetic task"
    )


def load_textcls(
    task: TaskSpec | str, split: str = "train", *, data_dir: str | os.PathLike[str] | None = None
) -> tuple[Example, ...]:
    r"""Load one CSV file of a built-in text-classification task.

    Args:
        task: a built-in CSV task (name or spec): agnews, trec, subj, sst5.
        split: ``"train"`` or ``"test"``.
        data_dir: the data directory; default ``$ASYNDBT_DATA_DIR``.

    Returns:
        The examples in file order, uid ``<task>/<split>/<row index>`` (0-based data row).

    Raises:
        DataError: no data directory, file missing or empty, a column missing, a label word outside
            the task's label set.

    Example:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> (root / "subj").mkdir()
        >>> _ = (root / "subj" / "test.csv").write_text('text,label\n"a, b",Objective\n')
        >>> load_textcls("subj", "test", data_dir=root)[0]
        Example(uid='subj/test/0', texts=('a, b',), label=1)
    """
    spec = get_task(task) if isinstance(task, str) else task
    path = textcls_file(spec, split, data_dir=data_dir)
    if not path.is_file():
        raise missing_file_error(spec, [path])
    layout = textcls_layout(spec)
    label_map = {raw: i for i, raw in enumerate(spec.source_labels or spec.label_words)}
    resolve = make_label_resolver(path, label_words=spec.label_words, label_map=label_map)
    names, rows = read_delimited(path, delimiter=",", quote_none=False, header=True)
    return rows_to_examples(
        path,
        names,
        rows,
        text_columns=(layout.text_column,),
        label_column=layout.label_column,
        resolve=resolve,
        uid_prefix=f"{spec.name}/{split}",
    )
