"""Read labelled examples from a user's CSV, TSV or JSONL file.

This module also holds the row-level helpers the GLUE loader shares: reading delimited rows with a
line number each, mapping raw label values to class indices, and building :class:`Example` values.
Every error names the file (and line or column) and says how to fix it.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from asyndbt.errors import DataError
from asyndbt.tasks._types import Example

# GLUE sentences contain unbalanced double quotes, so TSV is read with quoting off; CSV keeps the
# usual quoting rules because CSV writers quote any field that holds a comma.
_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}

LabelResolver = Callable[[object, int], int]
"""Maps (raw label value, line number) to a class index, raising DataError when it cannot."""

Column = str | int


def _file_error(path: Path, what: str) -> DataError:
    return DataError(f"{path}: {what}")


def check_file(path: Path, *, hint: str = "") -> None:
    """Raise DataError when ``path`` is not an existing file."""
    if not path.is_file():
        extra = f"; {hint}" if hint else ""
        raise DataError(f"data file {str(path)!r} not found{extra}")


def read_delimited(
    path: Path, *, delimiter: str, quote_none: bool, header: bool
) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    """Read a delimited text file.

    Args:
        path: the file (UTF-8; a leading byte-order mark is dropped).
        delimiter: field separator.
        quote_none: read quotes as ordinary characters (GLUE TSV).
        header: the first line names the columns.

    Returns:
        ``(header, rows)``: the column names (None without a header) and each non-blank data row
        with its 1-based line number.

    Raises:
        DataError: the file is missing, cannot be decoded, is empty, or has a header but no rows.
    """
    check_file(path)
    quoting = csv.QUOTE_NONE if quote_none else csv.QUOTE_MINIMAL
    names: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter, quoting=quoting, strict=False)
            for fields in reader:
                if not fields or all(not f.strip() for f in fields):
                    continue
                if header and names is None:
                    names = [f.strip() for f in fields]
                    continue
                rows.append((reader.line_num, fields))
    except UnicodeDecodeError as exc:
        raise _file_error(path, f"is not UTF-8 text ({exc.reason}); re-save it as UTF-8") from exc
    except csv.Error as exc:
        raise _file_error(path, f"cannot be parsed as delimited text ({exc})") from exc
    if header and names is None:
        raise _file_error(path, "file is empty (no header, no rows); point to a file with data")
    if not rows:
        raise _file_error(path, "file is empty (no data rows); point to a file with data")
    return names, rows


def fit_row(fields: list[str], width: int, label_index: int, path: Path, line: int) -> list[str]:
    """Bring a row to exactly ``width`` fields.

    Trailing empty fields beyond ``width`` are dropped (some exports end rows with a tab). If the row
    is still too long, the overflow is taken to be a stray delimiter inside the text next to the
    label: when the label is the last column it is read from the last field and the extra fields are
    joined back into the text column before it; when the last column is text, the extra fields are
    joined into it.
    """
    if len(fields) > width:
        trimmed = list(fields)
        while len(trimmed) > width and not trimmed[-1].strip():
            trimmed.pop()
        fields = trimmed
    if len(fields) == width:
        return fields
    if len(fields) < width:
        raise _file_error(path, f"line {line} has {len(fields)} field(s), expected {width}; fix or remove that row")
    extra = len(fields) - width
    if width >= 2 and label_index == width - 1:
        merged = " ".join(fields[width - 2 : width - 1 + extra])
        return [*fields[: width - 2], merged, fields[-1]]
    if label_index != width - 1:
        return [*fields[: width - 1], " ".join(fields[width - 1 :])]
    raise _file_error(path, f"line {line} has {len(fields)} fields, expected {width}; fix that row")


def _column_index(column: Column, names: list[str] | None, path: Path) -> int:
    if isinstance(column, int) and not isinstance(column, bool):
        if names is not None and not 0 <= column < len(names):
            raise _file_error(path, f"column position {column} is out of range (file has {len(names)})")
        if column < 0:
            raise _file_error(path, f"column position {column} must be >= 0")
        return column
    if names is None:
        raise _file_error(path, f"file has no header, so column {column!r} cannot be found; give column positions")
    if column in names:
        return names.index(column)
    folded = [n.lower() for n in names]
    if str(column).lower() in folded:
        return folded.index(str(column).lower())
    raise _file_error(
        path,
        f"column {column!r} not found; columns found: {names}; pass one of them in text_columns/label_column",
    )


def _trimmed_length(fields: list[str]) -> int:
    length = len(fields)
    while length > 0 and not fields[length - 1].strip():
        length -= 1
    return length


def _is_int_text(value: str) -> bool:
    text = value.strip()
    return text.lstrip("-").isdigit()


def make_label_resolver(
    path: Path,
    *,
    label_words: Sequence[str] | None = None,
    label_map: Mapping[object, int] | None = None,
) -> LabelResolver:
    """Build the function that turns a raw label value into a class index.

    Order of rules: ``label_map`` (raw value or its string form → index) if given; else a value equal
    to one of ``label_words`` (case-insensitive) gives that word's index; else an integer value is
    taken as the index itself. With ``label_words`` the index must be below ``len(label_words)``.
    """
    words = list(label_words) if label_words is not None else None
    folded_words = {w.strip().lower(): i for i, w in enumerate(words)} if words else {}
    mapping: dict[str, int] | None = None
    if label_map is not None:
        mapping = {}
        for key, index in label_map.items():
            if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                raise DataError(f"label_map[{key!r}] = {index!r} must be a class index >= 0")
            mapping[str(key).strip()] = index

    def resolve(raw: object, line: int) -> int:
        text = str(raw).strip() if raw is not None else ""
        if text == "":
            raise _file_error(path, f"line {line}: the label is empty; give every row a label")
        if mapping is not None:
            if text in mapping:
                return mapping[text]
            raise _file_error(
                path,
                f"line {line}: label {text!r} is not in the label set {sorted(mapping)}; fix the row or extend the "
                "label map (task.labels in a run config)",
            )
        if text.lower() in folded_words:
            return folded_words[text.lower()]
        if _is_int_text(text) and not isinstance(raw, bool):
            index = int(text)
            limit = len(words) if words else None
            if index >= 0 and (limit is None or index < limit):
                return index
            allowed = f"0..{limit - 1} or {words}" if limit else "an integer >= 0"
            raise _file_error(path, f"line {line}: label {text!r} is outside the label set ({allowed}); fix the row")
        expected = f"one of {words} or a class index" if words else "an integer class index"
        raise _file_error(
            path,
            f"line {line}: label {text!r} is outside the label set (expected {expected}); "
            "pass label_map={raw value: index} to map it",
        )

    return resolve


def rows_to_examples(
    path: Path,
    names: list[str] | None,
    rows: Sequence[tuple[int, list[str]]],
    *,
    text_columns: Sequence[Column],
    label_column: Column,
    resolve: LabelResolver,
    uid_prefix: str,
) -> tuple[Example, ...]:
    """Turn delimited rows into examples (texts stripped, uid ``<uid_prefix>/<row index>``)."""
    if not text_columns:
        raise DataError("text_columns is empty; name at least one text column")
    text_idx = [_column_index(c, names, path) for c in text_columns]
    label_idx = _column_index(label_column, names, path)
    if names is not None:
        width = len(names)
    else:
        # Without a header the usual row length (trailing empty fields ignored) is the width, so a
        # few odd rows are repaired or reported instead of redefining the layout.
        lengths = Counter(_trimmed_length(fields) for _, fields in rows)
        usual = max(lengths.items(), key=lambda item: (item[1], item[0]))[0]
        width = max(usual, label_idx + 1, *(i + 1 for i in text_idx))
    examples = []
    for row_index, (line, fields) in enumerate(rows):
        fitted = fit_row(fields, width, label_idx, path, line)
        examples.append(
            Example(
                uid=f"{uid_prefix}/{row_index}",
                texts=tuple(fitted[i].strip() for i in text_idx),
                label=resolve(fitted[label_idx], line),
            )
        )
    return tuple(examples)


def _read_jsonl(
    path: Path,
    *,
    text_columns: Sequence[Column],
    label_column: Column,
    resolve: LabelResolver,
    uid_prefix: str,
) -> tuple[Example, ...]:
    check_file(path)
    examples = []
    try:
        with path.open(encoding="utf-8-sig") as handle:
            for line, raw_line in enumerate(handle, start=1):
                if not raw_line.strip():
                    continue
                try:
                    record = json.loads(raw_line)
                except json.JSONDecodeError as exc:
                    raise _file_error(path, f"line {line} is not valid JSON ({exc.msg})") from exc
                if not isinstance(record, dict):
                    raise _file_error(path, f"line {line} is not a JSON object; write one object per line")
                keys = list(record)
                for column in [*text_columns, label_column]:
                    if str(column) not in record:
                        raise _file_error(
                            path,
                            f"line {line}: column {column!r} not found; columns found: {keys}; "
                            "pass one of them in text_columns/label_column",
                        )
                texts = tuple("" if record[str(c)] is None else str(record[str(c)]).strip() for c in text_columns)
                examples.append(
                    Example(
                        uid=f"{uid_prefix}/{len(examples)}",
                        texts=texts,
                        label=resolve(record[str(label_column)], line),
                    )
                )
    except UnicodeDecodeError as exc:
        raise _file_error(path, f"is not UTF-8 text ({exc.reason}); re-save it as UTF-8") from exc
    if not examples:
        raise _file_error(path, "file is empty (no data rows); point to a file with data")
    return tuple(examples)


def load_table(
    path: str | os.PathLike[str],
    *,
    text_columns: Sequence[Column],
    label_column: Column,
    label_words: Sequence[str] | None = None,
    label_map: Mapping[object, int] | None = None,
    header: bool = True,
    uid_prefix: str | None = None,
) -> tuple[Example, ...]:
    r"""Load labelled examples from a CSV, TSV or JSONL file.

    The format follows the suffix: ``.csv`` (standard quoting), ``.tsv`` (tab separated, quotes read
    literally as in GLUE), ``.jsonl``/``.ndjson`` (one JSON object per line, keys are columns).

    Args:
        path: the file.
        text_columns: the text columns, in the task's slot order (names, or positions without a
            header).
        label_column: the label column.
        label_words: the task's label words; a raw label equal to one of them (ignoring case) maps
            to its index, and integer labels must be below ``len(label_words)``.
        label_map: explicit raw value → class index map; wins over ``label_words``.
        header: whether a CSV/TSV file starts with a header line.
        uid_prefix: prefix of each example's uid; default ``<file stem>``.

    Returns:
        The examples, uid ``<uid_prefix>/<row index>``.

    Raises:
        DataError: file missing or empty, unknown suffix, a column not found, a label outside the
            label set.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "toy.csv"
        >>> _ = p.write_text("text,label\nnice,pos\nbad,neg\n")
        >>> [e.label for e in load_table(p, text_columns=["text"], label_column="label",
        ...                              label_map={"neg": 0, "pos": 1})]
        [1, 0]
    """
    file = Path(path).expanduser()
    kind = _FORMATS.get(file.suffix.lower())
    if kind is None:
        raise DataError(
            f"{file}: unsupported file type {file.suffix!r}; use one of {sorted(_FORMATS)} (or the Hugging Face loader)"
        )
    resolve = make_label_resolver(file, label_words=label_words, label_map=label_map)
    prefix = uid_prefix if uid_prefix is not None else file.stem
    if kind == "jsonl":
        return _read_jsonl(file, text_columns=text_columns, label_column=label_column, resolve=resolve, uid_prefix=prefix)
    names, rows = read_delimited(file, delimiter="," if kind == "csv" else "\t", quote_none=kind == "tsv", header=header)
    return rows_to_examples(
        file,
        names,
        rows,
        text_columns=text_columns,
        label_column=label_column,
        resolve=resolve,
        uid_prefix=prefix,
    )
