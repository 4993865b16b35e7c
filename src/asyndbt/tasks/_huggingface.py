"""Optional loader for Hugging Face ``datasets`` (``pip install 'asyndbt[hf]'``).

``datasets`` is imported only inside :func:`load_hf_dataset`, so ``import asyndbt`` never pays for it
and works without it. Machines without internet usually cannot download a hub data set; the error
then says to fetch the files elsewhere and use :func:`load_table`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from asyndbt.errors import DataError
from asyndbt.tasks._table import make_label_resolver
from asyndbt.tasks._types import Example


def load_hf_dataset(
    path: str,
    *,
    text_columns: Sequence[str],
    label_column: str,
    name: str | None = None,
    split: str = "train",
    label_words: Sequence[str] | None = None,
    label_map: Mapping[object, int] | None = None,
    uid_prefix: str | None = None,
) -> tuple[Example, ...]:
    """Load labelled examples from a Hugging Face data set.

    Args:
        path: the data set id (``"glue"``) or a local data set path.
        text_columns: text columns in the task's slot order.
        label_column: the label column (integer ClassLabel or strings).
        name: the configuration (``"sst2"``).
        split: the split (``"train"``, ``"validation"``).
        label_words: the task's label words (see :func:`load_table`).
        label_map: explicit raw value → class index map.
        uid_prefix: uid prefix; default ``hf/<path>[/<name>]/<split>``.

    Returns:
        The examples, uid ``<uid_prefix>/<row index>``.

    Raises:
        DataError: ``datasets`` is not installed, the data set cannot be loaded (offline, unknown
            id), a column is missing, or a label is outside the label set.
    """
    try:
        datasets = importlib.import_module("datasets")
    except ImportError as exc:
        raise DataError(
            "loading from Hugging Face needs the 'datasets' package, which is not installed; "
            "run pip install 'asyndbt[hf]', or export the data to CSV/TSV/JSONL and use load_table()"
        ) from exc
    where = path if name is None else f"{path}/{name}"
    try:
        dataset = datasets.load_dataset(path, name, split=split)
    except Exception as exc:  # noqa: BLE001 - datasets raises many unrelated types (network, config)
        raise DataError(
            f"could not load Hugging Face data set {where!r} split {split!r} "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            "this machine may be offline: download the data elsewhere and use load_table()"
        ) from exc
    columns = list(getattr(dataset, "column_names", []) or [])
    for column in [*text_columns, label_column]:
        if column not in columns:
            raise DataError(
                f"Hugging Face data set {where!r}: column {column!r} not found; columns found: {columns}; "
                "pass one of them in text_columns/label_column"
            )
    resolve = make_label_resolver(Path(f"hf:{where}/{split}"), label_words=label_words, label_map=label_map)
    prefix = uid_prefix if uid_prefix is not None else f"hf/{where}/{split}"
    examples = []
    for index, record in enumerate(dataset):
        texts = tuple("" if record[c] is None else str(record[c]).strip() for c in text_columns)
        examples.append(Example(uid=f"{prefix}/{index}", texts=texts, label=resolve(record[label_column], index + 1)))
    if not examples:
        raise DataError(f"Hugging Face data set {where!r} split {split!r} is empty; choose another split")
    return tuple(examples)
