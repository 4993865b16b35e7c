"""Run a prepared job with the simulator: the driver the CLI, the benchmarks and the tests share.

Preparing a job (data, partitions, vocabulary, LLM client, algorithm settings) is the session's
(:mod:`asyndbt.session._job`), shared with the Flower runtime; names are re-exported here so callers
keep one import.
"""

from __future__ import annotations

from typing import Any

from asyndbt.config import RunConfig
from asyndbt.errors import RunError
from asyndbt.runtime._rundir import RunDir
from asyndbt.runtime._simulator import ProgressFn, RunResult, Simulation
from asyndbt.session._job import (
    Prepared,
    algorithm_config,
    baseline_requests,
    build_vocabulary,
    estimate_requests,
    load_splits,
    make_client,
    partition_summary,
    prepare,
    resolve_task_name,
    source_rows,
    task_spec,
)

__all__ = ["Prepared", "algorithm_config", "baseline_requests", "build_vocabulary", "estimate_requests", "load_splits",
           "make_client", "make_simulation", "partition_summary", "prepare", "resolve_task_name", "run_method", "source_rows",
           "task_spec"]


def make_simulation(
    cfg: RunConfig,
    prepared: Prepared,
    client: Any,
    *,
    method: str | None = None,
    rundir: RunDir | None = None,
    on_progress: ProgressFn | None = None,
    seed: int | None = None,
) -> Simulation:
    """Build (not start) the simulator for one method: for callers that watch the run as it goes.

    A benchmark keeps the returned object to read :meth:`Simulation.current_prompts` from its
    ``on_progress`` callback, then calls ``sim.start()`` and ``sim.run()`` itself.
    """
    method = method or cfg.method
    seed = cfg.seed if seed is None else seed
    acfg = algorithm_config(cfg, prepared.task, prepared.vocab, method)
    envs = [prepared.pooled_env()] if acfg.centralised else prepared.federated_envs()
    return Simulation(method=method, algo_cfg=acfg, sim_cfg=cfg.simulation, envs=envs, client=client, seed=seed,
                      max_worker_steps=cfg.simulation.max_worker_steps, rundir=rundir, on_progress=on_progress,
                      selection=cfg.selection)


def run_method(
    cfg: RunConfig,
    prepared: Prepared,
    client: Any,
    *,
    method: str | None = None,
    rundir: RunDir | None = None,
    resume: bool = False,
    on_progress: ProgressFn | None = None,
    seed: int | None = None,
) -> RunResult:
    """Run one tuning method on prepared data (optionally resuming from the run dir's checkpoint)."""
    sim = make_simulation(cfg, prepared, client, method=method, rundir=rundir, on_progress=on_progress, seed=seed)
    checkpoint = rundir.load_checkpoint() if (rundir and resume) else None
    if resume and rundir is None:
        raise RunError("resume needs a run directory")
    if checkpoint is not None:
        rundir.truncate_events(int(checkpoint["n_events"]))
        sim.load_state_dict(checkpoint["state"])
    else:
        if rundir:
            rundir.truncate_events(0)
        sim.start()
    return sim.run()
