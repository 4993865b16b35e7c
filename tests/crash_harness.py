"""Run the real ``asyndbt`` CLI as a child process, kill it with SIGKILL at chosen points, resume it.

Shared by tests/reliability (short, in CI) and bench/reliability.py (more kill points). A run's
*final state* is everything it leaves that a user reads: the result summary, the exported prompts
and the event log, with nothing that depends on the wall clock.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

WALL_KEYS = {"wall_s", "elapsed_s", "wall_time", "started_at", "finished_at", "date"}


def cli(args: list[str], *, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``python -m asyndbt ARGS`` to completion."""
    return subprocess.run([sys.executable, "-m", "asyndbt", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"})


def _only_run_dir(out: Path) -> Path | None:
    dirs = [p for p in out.iterdir() if p.is_dir() and (p / "config.json").exists()] if out.exists() else []
    return dirs[0] if len(dirs) == 1 else None


def _count(path: Path, event: str) -> int:
    if not path.exists():
        return 0
    n = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            n += json.loads(line).get("event") == event
        except json.JSONDecodeError:
            pass  # a line cut off mid-write: the next poll sees it whole
    return n


def run_uninterrupted(config: Path, out: Path) -> Path:
    """Run the job once, without faults; return its run directory."""
    res = cli(["run", str(config), "--out", str(out), "--baselines", ""])
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    run_dir = _only_run_dir(out)
    assert run_dir is not None
    return run_dir


def run_killed_and_resumed(config: Path, out: Path, kill_after_updates: int, *, timeout: float = 600) -> tuple[Path, bool]:
    """Start the job, SIGKILL it once ``kill_after_updates`` server updates are logged, then resume it.

    Returns the run directory and whether the kill landed before the run finished on its own.
    """
    proc = subprocess.Popen([sys.executable, "-m", "asyndbt", "run", str(config), "--out", str(out),
                             "--baselines", ""], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "NO_COLOR": "1"})
    deadline = time.monotonic() + timeout
    killed = False
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        run_dir = _only_run_dir(out)
        if run_dir is not None and _count(run_dir / "events.jsonl", "server_update") >= kill_after_updates:
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.02)
    proc.wait(timeout=30)
    run_dir = _only_run_dir(out)
    assert run_dir is not None, "the killed run left no run directory"
    res = cli(["run", "--resume", str(run_dir), "--baselines", ""], timeout=timeout)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return run_dir, killed


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in WALL_KEYS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def final_state(run_dir: Path) -> dict[str, Any]:
    """What a user reads from a finished run, minus wall-clock fields and the call ledger.

    The ledger records the calls that were actually made, so it rightly differs after a crash (the
    replay is served from the cache, and the calls before the kill still count).
    """
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    results.pop("ledger", None)
    results.pop("ledger_by_phase", None)
    prompts = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted((run_dir / "prompts").glob("*.json"))}
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    return _strip({"results": results, "prompts": prompts, "events": events})


def diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    """'' when equal, else the first place they differ (for assertion messages)."""
    if a == b:
        return ""
    for key in a:
        if a[key] != b.get(key):
            if isinstance(a[key], list) and isinstance(b.get(key), list):
                for i, (x, y) in enumerate(zip(a[key], b[key], strict=False)):
                    if x != y:
                        return f"{key}[{i}]: {json.dumps(x)[:300]} != {json.dumps(y)[:300]}"
                return f"{key}: lengths {len(a[key])} != {len(b[key])}"
            return f"{key}: {json.dumps(a[key])[:300]} != {json.dumps(b.get(key))[:300]}"
    return "keys differ"
