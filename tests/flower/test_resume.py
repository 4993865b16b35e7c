"""Flower resumes: kill -9 the ServerApp process mid-run, `flower local --resume`, and the run completes
exactly as if it had never stopped.

The job is synchronous (sync-dbt: S = R, tau = 1), so an uninterrupted run's server steps and
exported prompts do not depend on timing: the Flower server lets every promised step land, so it
makes exactly STEPS / R server updates, and its exported prompts equal the simulator's run of the
same job byte for byte (the parity test). (The simulator stops at the budget with the last round's
reports still in flight, one server update fewer; the workers' trajectories are the same.) Do-no-harm is off so
the exported prompts depend on the whole training trajectory: a lost, repeated or replayed-twice
worker step would change them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from asyndbt import commands, job
from asyndbt.runtime import RunDir
from asyndbt.runtime.flower._launch import kill_server_apps

EXTRA = ("method=sync-dbt", "selection.do_no_harm=false")
STEPS = 15  # 5 synchronous server steps of 3 reports


def _cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "asyndbt", "flower", "local", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _server_steps(run_dir: Path, fh) -> list[int]:
    return [e["iteration"] for e in fh.events(run_dir) if e["event"] == "server_update"]


def test_killed_server_resumes_to_the_uninterrupted_result(tmp_path, fh):
    cfg = fh.tiny_cfg(tmp_path, steps=STEPS, extra=EXTRA)
    sim_dir = RunDir(tmp_path / "sim")
    prepared = job.prepare(cfg)
    sim = job.run_method(cfg, prepared, job.make_client(cfg, sim_dir), rundir=sim_dir)
    commands.export_prompts(sim_dir, sim, prepared.task, cfg.llm)
    reference = list(range(1, STEPS // cfg.partition.workers + 1))  # an uninterrupted synchronous Flower run

    run_dir = tmp_path / "flower"
    sets = [a for o in (*fh.tiny_overrides(tmp_path, steps=STEPS), *EXTRA) for a in ("--set", o)]
    first = _cli("--run-dir", str(run_dir), "--worker-timeout", "600", *sets)
    try:
        fh.wait_for(lambda: len(_server_steps(run_dir, fh)) >= 2, 600, "two server updates")
        assert kill_server_apps(first.pid), "found no flwr-serverapp process under `asyndbt flower local`"
        out, _ = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert first.returncode != 0 and "--resume" in out, out[-2000:]
    assert not (run_dir / "results.json").exists()
    done_before = len(_server_steps(run_dir, fh))
    assert done_before < len(reference), "the run finished before the kill; nothing was resumed"

    second = _cli("--resume", str(run_dir))
    out, _ = second.communicate(timeout=900)
    assert second.returncode == 0, out[-3000:]

    events = fh.events(run_dir)
    assert [e["event"] for e in events].count("run_resumed") == 1
    assert [e["seq"] for e in events] == list(range(len(events)))  # the log was cut at the checkpoint, not patched
    assert _server_steps(run_dir, fh) == reference  # every step exactly once, as many as without the crash
    result = json.loads((run_dir / "results.json").read_text())["result"]
    assert result["worker_steps"] == sim.worker_steps == STEPS
    for w in range(cfg.partition.workers):
        ours = (sim_dir.path / "prompts" / f"worker{w}.json").read_bytes()
        theirs = (run_dir / "nodes" / f"worker{w}" / "prompts" / f"worker{w}.json").read_bytes()
        assert ours == theirs, f"worker {w}: the resumed run exported another prompt than an uninterrupted one"
