"""Injected faults in the simulator: workers that raise, a full disk at checkpoint time.

The LLM here is the deterministic FAKE backend (plumbing only); HTTP faults against a real server
are in tests/llm, SIGKILL of the real CLI in tests/reliability.
"""

from __future__ import annotations

import errno
import json

import pytest

from asyndbt import job
from asyndbt.config import build_config
from asyndbt.errors import RunError
from asyndbt.llm import LLMClient, ScoreCache
from asyndbt.runtime import RunDir, _rundir
from fake_llm import FakeBackend


def _cfg(tmp_path, *extra: str):
    return build_config(overrides=[
        "task.name=synthetic", "partition.workers=3", "simulation.max_worker_steps=18", "simulation.eval_every=2",
        "simulation.checkpoint_every=2", "task.test_size=20",
        "task.val_size=12", "vocab.size=20", f"output_dir={json.dumps(str(tmp_path))}",
        'algorithm={"batch_size": 4, "samples_per_step": 3, "fragment_length": 3, "min_reports": 2, "tau": 3}',
        *extra])


class FlakyClient(LLMClient):
    """Raises for one worker's training calls number ``fail_on`` (1-based), like a party whose LLM call blew up."""

    def __init__(self, *a, worker: int, fail_on: set[int], **kw):
        super().__init__(*a, **kw)
        self.worker, self.fail_on, self.calls = worker, fail_on, 0

    def score(self, requests, **kw):
        if kw.get("worker") == self.worker and kw.get("purpose") == "train":
            self.calls += 1
            if self.calls in self.fail_on:
                raise ConnectionError(f"injected failure #{self.calls}")
        return super().score(requests, **kw)


def test_worker_that_raises_is_retried_and_the_run_completes(tmp_path):
    cfg = _cfg(tmp_path, "simulation.worker_retry_s=0.2")
    rd = RunDir(tmp_path / "run")
    res = job.run_method(cfg, job.prepare(cfg), FlakyClient(FakeBackend(), worker=1, fail_on={2, 3}), rundir=rd)
    errors = [e for e in rd.events() if e["event"] == "worker_error"]
    assert [e["worker"] for e in errors] == [1, 1] and "injected failure #2" in errors[0]["error"]
    assert res.worker_errors == [0, 2, 0] and res.summary()["worker_errors"] == [0, 2, 0]
    assert res.worker_steps == 18 and res.stopped_by == "max_worker_steps"
    steps_of_1 = [e for e in rd.events() if e["event"] == "server_update" and 1 in e["reporters"]]
    assert steps_of_1, "the worker came back after its errors"


def test_worker_that_always_raises_is_left_out(tmp_path):
    cfg = _cfg(tmp_path, "simulation.max_worker_errors=3", "simulation.worker_retry_s=0.2")
    rd = RunDir(tmp_path / "run")
    res = job.run_method(cfg, job.prepare(cfg), FlakyClient(FakeBackend(), worker=2, fail_on=set(range(1, 99))),
                         rundir=rd)
    assert res.worker_errors[2] == 3 and res.worker_steps == 18
    last = [e for e in rd.events() if e["event"] == "worker_error"][-1]
    assert last["retry_at"] is None


def test_disk_full_at_checkpoint_keeps_the_previous_one_and_resume_finishes(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path)
    ref_dir = RunDir(tmp_path / "ref")
    ref = job.run_method(cfg, job.prepare(cfg), LLMClient(FakeBackend()), rundir=ref_dir)

    rd = RunDir(tmp_path / "run")
    rd.write_config(cfg.to_dict())
    real_dump, writes = json.dump, {"n": 0}

    def dump_until_full(obj, fh, **kw):
        if isinstance(obj, dict) and "n_events" in obj:
            writes["n"] += 1
            if writes["n"] == 3:
                real_dump(obj, fh, **kw)  # half-written, then the disk is full
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_dump(obj, fh, **kw)

    monkeypatch.setattr(_rundir.json, "dump", dump_until_full)
    with pytest.raises(RunError, match="previous checkpoint is intact"):
        job.run_method(cfg, job.prepare(cfg), LLMClient(FakeBackend(), cache=ScoreCache(tmp_path / "c.sqlite")),
                       rundir=rd)
    monkeypatch.setattr(_rundir.json, "dump", real_dump)
    assert not list(rd.path.glob("*.tmp")), "the half-written checkpoint was not cleaned up"
    kept = rd.load_checkpoint()
    assert kept is not None and kept["state"]["server_steps"] == 4  # the 2nd checkpoint (every 2 server steps)
    res = job.run_method(cfg, job.prepare(cfg), LLMClient(FakeBackend(), cache=ScoreCache(tmp_path / "c.sqlite")),
                         rundir=rd, resume=True)
    assert res.summary() == ref.summary()
    assert rd.events() == ref_dir.events()
