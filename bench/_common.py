"""Shared helpers for benchmark scripts: machine facts and resumable result files."""

from __future__ import annotations

import fcntl
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine_info() -> dict[str, Any]:
    """Cores, CPU model and library versions, recorded in every result file."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for mod in ("asyndbt", "llama_cpp", "numpy"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception as exc:  # a missing optional library is recorded, not fatal
            versions[mod] = f"unavailable ({type(exc).__name__})"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, check=False).stdout.strip()
    except OSError:
        commit = ""
    return {"cores": os.cpu_count(), "cpu": cpu, "python": sys.version.split()[0], "platform": platform.platform(),
            "versions": versions, "git_commit": commit, "date": time.strftime("%Y-%m-%d %H:%M:%S")}



def pct_band(cell: dict[str, float]) -> str:
    """An accuracy cell (fractions ``mean`` and ``std`` over seeds) as ``"59.6 ± 3.3"`` percent."""
    return f"{100 * cell['mean']:.1f} ± {100 * cell['std']:.1f}"

class CellStore:
    """A JSON result file that keeps finished cells, so an interrupted benchmark resumes where it stopped."""

    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self.path = path
        self.data: dict[str, Any] = {"meta": meta, "cells": {}}
        self._written: set[str] = set()  # cells this process put since its last save: its versions win then
        if path.exists():
            old = json.loads(path.read_text())
            self.data["cells"] = old.get("cells", {})
            if "archive" in old:  # cells of earlier defaults, kept for the record (never summarised)
                self.data["archive"] = old["archive"]

    def has(self, key: str) -> bool:
        return key in self.data["cells"]

    def get(self, key: str) -> Any:
        return self.data["cells"][key]

    def ensure(self, key: str, compute: Any, describe: Any = None) -> Any:
        """The cell ``key``: kept from an earlier run, or computed now (``compute()``), saved and printed."""
        if key not in self.data["cells"]:
            self.put(key, compute())
            if describe is not None:
                print(f"{key}: {describe(self.get(key))}", flush=True)
        return self.get(key)

    def archive(self, key: str, name: str, *, drop: bool = False) -> None:
        """Keep the cell ``key`` under ``archive[name]`` (saved with the file); ``drop``: also remove it from the cells."""
        cell = self.data["cells"].pop(key) if drop else self.data["cells"][key]
        self.data.setdefault("archive", {}).setdefault(name, {})[key] = cell

    def put(self, key: str, value: Any) -> None:
        self.data["cells"][key] = value
        self._written.add(key)
        self.save()

    def save(self, **extra: Any) -> None:
        """Write atomically, merged with cells other processes saved meanwhile (shards may share a file).

        The file's version of a cell wins unless this process put that cell itself since its last save,
        so a shard never writes back a stale copy of a cell another process has since changed (answers
        added, or the cell replayed under new rules).
        """
        self.data.update(extra)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.path.exists():
                disk = json.loads(self.path.read_text())
                mine = {k: self.data["cells"][k] for k in self._written}
                self.data["cells"] = {**self.data["cells"], **disk.get("cells", {}), **mine}
                if "archive" in disk:  # merged entry by entry: another process may archive under the same name
                    mine_archive = self.data.get("archive", {})
                    self.data["archive"] = {name: {**mine_archive.get(name, {}), **disk["archive"].get(name, {})}
                                            for name in {**mine_archive, **disk["archive"]}}
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.data, indent=1) + "\n")
            os.replace(tmp, self.path)
            # written: from now on the file's version wins, so a later save (e.g. the summary at the end of a
            # long shard) cannot put back a copy another process has since replayed
            self._written.clear()
