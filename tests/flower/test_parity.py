"""Parity: the simulator and Flower's simulation runtime run the same job to the same exported prompts.

Synchronous mode (sync-dbt: S = R, tau = 1) makes the order of server updates independent of timing,
so both runtimes feed the same reports to the same state machines; the run protocol (job, selection,
export) is the session's in both. The exported prompt files must match byte for byte. Do-no-harm is
off so that every worker exports a tuned prompt (the policy's argmax or an elite): the files then
depend on the whole training trajectory, not only on the untuned candidates.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from asyndbt import commands, job
from asyndbt.runtime import RunDir

pytest.importorskip("ray", reason="Flower's simulation runtime needs flwr[simulation] (ray)")


def test_simulator_and_flower_export_identical_prompts(tmp_path, fh):
    from asyndbt.runtime.flower import FlowerSettings, run_simulation

    base = fh.tiny_cfg(tmp_path)
    cfg = dataclasses.replace(base, method="sync-dbt",
                              selection=dataclasses.replace(base.selection, do_no_harm=False))
    sim_dir = RunDir(tmp_path / "sim")
    prepared = job.prepare(cfg)
    client = job.make_client(cfg, sim_dir)
    sim = job.run_method(cfg, prepared, client, rundir=sim_dir)
    commands.export_prompts(sim_dir, sim, prepared.task, cfg.llm)

    fl = run_simulation(cfg, tmp_path / "flower", FlowerSettings(connect_timeout_s=300, worker_timeout_s=600,
                                                                   final_timeout_s=900))

    assert fl.worker_steps == sim.worker_steps and fl.stopped_by == sim.stopped_by
    assert [round(t.accuracy, 9) for t in fl.test] == [round(t.accuracy, 9) for t in sim.test]
    for w in range(cfg.partition.workers):
        ours = (tmp_path / "sim" / "prompts" / f"worker{w}.json").read_bytes()
        theirs = (tmp_path / "flower" / "nodes" / f"worker{w}" / "prompts" / f"worker{w}.json").read_bytes()
        assert ours == theirs, f"worker {w}: the runtimes exported different prompts"
        assert json.loads(ours)["provenance"]["selection"]["tuned_won"]
