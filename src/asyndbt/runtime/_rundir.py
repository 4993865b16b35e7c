"""The run directory: config, append-only event log, atomic checkpoints, exported prompts.

Layout::

    <run_dir>/
      config.json          every setting of the run
      events.jsonl         one JSON object per event (server updates, evaluations, failures)
      ledger.jsonl         one line per LLM request (written by the LLM client)
      checkpoint.json      the latest complete checkpoint (written atomically)
      prompts/             tuned prompts (per worker, plus the global fragment)
      results.json         final metrics
      report.md, *.png     human-readable report and plots

Checkpoints record how many events had been written, so a resumed run truncates the log to that
point and replays deterministically: no event is lost or duplicated.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from asyndbt.errors import RunError

EVENT_SCHEMA = 1
CHECKPOINT_SCHEMA = 2  # 2: server state with per-worker rows and running sums


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that a crash (or a full disk) leaves either the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RunDir:
    """A run directory with an append-only event log."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "prompts").mkdir(exist_ok=True)
        self.events_path = self.path / "events.jsonl"
        self.checkpoint_path = self.path / "checkpoint.json"
        self.ledger_path = self.path / "ledger.jsonl"
        self._n_events = self._count_events()

    def _count_events(self) -> int:
        if not self.events_path.exists():
            return 0
        with self.events_path.open("rb") as fh:
            return sum(1 for _ in fh)

    @property
    def n_events(self) -> int:
        """Number of events written so far."""
        return self._n_events

    def write_config(self, config: dict[str, Any]) -> None:
        """Store the run's settings."""
        write_json_atomic(self.path / "config.json", config)

    def read_config(self) -> dict[str, Any]:
        """Read the stored settings (for resume)."""
        p = self.path / "config.json"
        if not p.exists():
            raise RunError(f"{self.path} has no config.json; it is not an asyndbt run directory")
        return json.loads(p.read_text(encoding="utf-8"))

    def log(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one event (flushed immediately) and return it."""
        record = {"schema_version": EVENT_SCHEMA, "seq": self._n_events, "event": event, **fields}
        with self.events_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._n_events += 1
        return record

    def events(self) -> list[dict[str, Any]]:
        """All events written so far."""
        if not self.events_path.exists():
            return []
        with self.events_path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def truncate_events(self, n: int) -> None:
        """Keep only the first ``n`` events (used on resume; later ones will be replayed)."""
        if not self.events_path.exists():
            if n:
                raise RunError(f"{self.events_path} is missing but the checkpoint expects {n} events")
            return
        with self.events_path.open(encoding="utf-8") as fh:
            lines = [ln for ln in fh if ln.strip()]
        if len(lines) < n:
            raise RunError(
                f"{self.events_path} has {len(lines)} events but the checkpoint expects {n}; "
                "the log was edited or truncated, start a new run"
            )
        tmp = self.events_path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(lines[:n]), encoding="utf-8")
        os.replace(tmp, self.events_path)
        self._n_events = n

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Atomically write a checkpoint tagged with the current event count.

        Raises:
            RunError: the write failed (disk full, permissions); the previous checkpoint is intact.
        """
        try:
            write_json_atomic(
                self.checkpoint_path,
                {"schema_version": CHECKPOINT_SCHEMA, "n_events": self._n_events, "state": state},
            )
        except OSError as exc:
            raise RunError(f"could not write checkpoint {self.checkpoint_path} ({exc}); the previous checkpoint "
                           f"is intact: free the space and continue with `asyndbt run --resume {self.path}`") from exc

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The latest checkpoint, or None when the run never reached one."""
        if not self.checkpoint_path.exists():
            return None
        try:
            data = json.loads(self.checkpoint_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise RunError(f"checkpoint {self.checkpoint_path} is corrupt ({exc}); start a new run") from exc
        if data.get("schema_version") != CHECKPOINT_SCHEMA:
            raise RunError(
                f"checkpoint {self.checkpoint_path} has schema {data.get('schema_version')}, "
                f"this asyndbt reads {CHECKPOINT_SCHEMA}"
            )
        return data

    def write_results(self, results: dict[str, Any]) -> None:
        """Store the final metrics."""
        write_json_atomic(self.path / "results.json", results)
