"""Where the data files live: ``--data-dir`` / ``ASYNDBT_DATA_DIR`` resolution."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from asyndbt.errors import DataError

T = TypeVar("T")

DATA_DIR_ENV = "ASYNDBT_DATA_DIR"


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """Find the data directory: the argument if given, else ``$ASYNDBT_DATA_DIR``, else None.

    The directory holds ``glue/<TASK>/{train,dev}.tsv`` (it may also be the ``glue`` folder itself for
    the GLUE tasks) and ``<task>/{train,test}.csv`` for the text-classification tasks (agnews, trec,
    subj, sst5).

    Args:
        explicit: a path given by the caller (``--data-dir``); wins over the environment.

    Returns:
        The directory, or None when neither the argument nor the environment names one.

    Raises:
        DataError: the named path does not exist or is not a directory.
    """
    if explicit is not None and str(explicit) != "":
        raw, origin = str(explicit), "--data-dir"
    else:
        env = os.environ.get(DATA_DIR_ENV, "")
        if not env:
            return None
        raw, origin = env, f"${DATA_DIR_ENV}"
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise DataError(
            f"data directory {str(path)!r} (from {origin}) does not exist or is not a directory; "
            f"set --data-dir or {DATA_DIR_ENV} to the folder that holds glue/<TASK>/ (or <task>/ CSV folders), "
            "or use the synthetic task"
        )
    return path


def require_data_dir(explicit: str | os.PathLike[str] | None, task_name: str) -> Path:
    """Like :func:`resolve_data_dir`, but a missing directory is an error naming the task."""
    path = resolve_data_dir(explicit)
    if path is None:
        raise DataError(
            f"task {task_name!r} needs data files but no data directory is set; "
            f"pass --data-dir or set {DATA_DIR_ENV} (folder holding glue/<TASK>/ or <task>/ CSV folders), "
            "or use the synthetic task"
        )
    return path


def glue_task_dir(data_dir: Path, folder: str) -> Path:
    """Return the folder of one GLUE task under ``data_dir`` (``<data_dir>/glue/<folder>``).

    ``data_dir`` may also point at the ``glue`` folder itself. When no candidate exists, the
    conventional path is returned so that the caller's "file missing" error names it.
    """
    candidates = [
        data_dir / "glue" / folder,
        data_dir / folder,
        data_dir / "glue" / folder.lower(),
        data_dir / folder.lower(),
    ]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def textcls_task_dir(data_dir: Path, folder: str) -> Path:
    """Return the folder of one CSV text-classification task under ``data_dir`` (``<data_dir>/<folder>``).

    A folder spelled in another case (``AGNews``) is accepted; when none exists, the conventional
    path is returned so that the caller's "file missing" error names it.
    """
    conventional = data_dir / folder
    if conventional.is_dir():
        return conventional
    try:
        for child in sorted(data_dir.iterdir()):
            if child.is_dir() and child.name.lower() == folder.lower():
                return child
    except OSError:
        pass
    return conventional


def builtin_layout(layouts: Mapping[str, T], task_name: str, kind: str) -> T:
    """Look up a built-in task's file layout in ``layouts`` (GLUE TSV or CSV tasks).

    Raises:
        DataError: the task has no built-in files of this kind; the message lists the tasks that do.
    """
    layout = layouts.get(task_name)
    if layout is None:
        raise DataError(
            f"task {task_name!r} has no built-in {kind} files ({kind} tasks: {', '.join(sorted(layouts))}); "
            "load your data with load_table() and split it with split_examples()"
        )
    return layout
