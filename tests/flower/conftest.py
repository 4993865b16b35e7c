"""Shared setup of the Flower tests: one tiny job (synthetic task, embedded model, 1 thread)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from asyndbt.config import build_config


def tiny_overrides(out: Path, *, steps: int = 6) -> list[str]:
    """The ``--set`` overrides of the tiny job (also for tests that run the CLI in a subprocess)."""
    return ["task.name=synthetic", "partition.workers=3", f"simulation.max_worker_steps={steps}",
            "simulation.eval_every=2", "simulation.checkpoint_every=2", "task.test_size=10",
            "task.val_size=12", "task.val_per_class=2",
            "vocab.size=20", "llm.threads=1", f"output_dir={json.dumps(str(out))}",
            'algorithm={"batch_size": 2, "samples_per_step": 2, "fragment_length": 2, "min_reports": 2, "tau": 3}']


def tiny_cfg(out: Path, *, steps: int = 6, extra: tuple[str, ...] = ()):
    return build_config(overrides=[*tiny_overrides(out, steps=steps), *extra])


def events(run_dir: Path) -> list[dict]:
    path = run_dir / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture(scope="session")
def fh():
    """The helpers above, as a fixture (test modules cannot import this conftest by name)."""
    return SimpleNamespace(tiny_cfg=tiny_cfg, tiny_overrides=tiny_overrides, events=events, wait_for=wait_for)
