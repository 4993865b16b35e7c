"""The score cache: identical requests to the same backend are answered once.

The key is the sha256 of canonical JSON (sorted keys) of everything that determines the answer:
``CACHE_SCHEMA_VERSION``, the backend's ``identity()`` (kind, model file, weights hash, scoring mode,
...), and the request's prefix, suffix and labels. Secrets never enter the key (backends keep API keys
out of ``identity()``), and neither do Python function names. Values are JSON, never pickles.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from asyndbt.errors import LLMConfigError
from asyndbt.llm._types import LabelScores, ScoreRequest

CACHE_SCHEMA_VERSION = 1


def cache_key(identity: Mapping[str, Any], request: ScoreRequest) -> str:
    """Return the hex sha256 cache key of one request sent to the backend with ``identity``."""
    payload = {
        "cache_schema_version": CACHE_SCHEMA_VERSION,
        "backend": dict(identity),
        "prefix": request.prefix,
        "suffix": request.suffix,
        "labels": list(request.labels),
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ScoreCache:
    """In-memory score cache with an optional persistent SQLite file.

    Args:
        path: SQLite file to persist entries in (created if missing); ``None`` keeps them in memory
            only. Several processes may share one file (SQLite locking; last writer wins, and equal
            keys always carry equal values).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._mem: dict[str, LabelScores] = {}
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
                self._db.execute("CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                self._db.commit()
            except sqlite3.Error as exc:
                raise LLMConfigError(
                    f"cannot open the score cache {str(self.path)!r}: {exc}; pass another --cache path or delete the file"
                ) from exc

    def __len__(self) -> int:
        with self._lock:
            if self._db is None:
                return len(self._mem)
            return int(self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0])

    def get_many(self, keys: Sequence[str]) -> dict[str, LabelScores]:
        """Return the cached entries among ``keys`` (missing keys are absent from the result)."""
        with self._lock:
            found = {k: self._mem[k] for k in keys if k in self._mem}
            missing = [k for k in keys if k not in found]
            if self._db is not None and missing:
                for start in range(0, len(missing), 500):
                    part = missing[start : start + 500]
                    marks = ",".join("?" * len(part))
                    rows = self._db.execute(f"SELECT key, value FROM scores WHERE key IN ({marks})", part).fetchall()
                    for key, value in rows:
                        scores = LabelScores.from_json(json.loads(value))
                        self._mem[key] = scores
                        found[key] = scores
            return found

    def put_many(self, items: Iterable[tuple[str, LabelScores]]) -> None:
        """Store entries (in memory and, if persistent, in one SQLite transaction)."""
        items = list(items)
        with self._lock:
            for key, scores in items:
                self._mem[key] = scores
            if self._db is not None and items:
                with self._db:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO scores (key, value) VALUES (?, ?)",
                        [(k, json.dumps(s.to_json(), sort_keys=True)) for k, s in items],
                    )

    def close(self) -> None:
        """Close the SQLite file (the in-memory entries stay usable)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
