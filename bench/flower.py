"""The same short AsynDBT job on three runtimes: the simulator, Flower simulation (Ray), Flower deployment.

Run: ``python -m bench.flower [--steps 6]``
Writes bench/results/flower.json (finished cells are kept, so an interrupted run resumes).

All three run the synthetic task, 3 workers, the embedded model with 1 thread and the score cache OFF
(no mode profits from another's cache). Wall-clock includes start-up (Ray start, SuperLink/SuperNode
start, model loads). The per-update messaging overhead is, per worker step, the time from pushing the
train message to pulling its reply minus the time the node's handler reported (process start, model
load, transport and polling).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from asyndbt import job
from asyndbt.config import build_config
from asyndbt.runtime import RunDir
from bench._common import RESULTS, CellStore, machine_info


def _cfg(out: Path, steps: int):
    return build_config(overrides=[
        "task.name=synthetic", "partition.workers=3", f"simulation.max_worker_steps={steps}",
        "simulation.eval_every=1000", "simulation.checkpoint_every=2", "task.test_size=10",
        "task.val_size=12", "task.val_per_class=2",
        "vocab.size=20", "llm.threads=1", "llm.cache=false", "simulation.compute=measured",
        f"output_dir={json.dumps(str(out))}",
        'algorithm={"batch_size": 2, "samples_per_step": 2, "fragment_length": 2, "min_reports": 2, "tau": 3}'])


def _run_end(run_dir: Path) -> dict:
    return [e for e in RunDir(run_dir).events() if e["event"] == "run_end"][-1]


def simulator(tmp: Path, steps: int) -> dict:
    cfg = _cfg(tmp, steps)
    t0 = time.perf_counter()
    prepared = job.prepare(cfg)
    rundir = RunDir(tmp / "run")
    client = job.make_client(cfg, rundir)
    res = job.run_method(cfg, prepared, client, rundir=rundir)
    return {"wall_s": time.perf_counter() - t0, "worker_steps": res.worker_steps, "server_steps": res.server_steps,
            "test_accuracy_mean": res.summary()["test_accuracy_mean"]}


def flower_simulation(tmp: Path, steps: int) -> dict:
    from asyndbt.runtime.flower import FlowerSettings, run_simulation

    cfg = _cfg(tmp, steps)
    t0 = time.perf_counter()
    res = run_simulation(cfg, tmp / "run", FlowerSettings(connect_timeout_s=300, worker_timeout_s=300))
    end = _run_end(tmp / "run")
    return {"wall_s": time.perf_counter() - t0, "worker_steps": res.worker_steps, "server_steps": res.server_steps,
            "test_accuracy_mean": res.summary()["test_accuracy_mean"], "server_loop_s": end["virtual_time"],
            "messages": end["messages"]}


def flower_deployment(tmp: Path, steps: int, model_server: bool = False) -> dict:
    """SuperLink + 3 SuperNodes on loopback; ``model_server``: each node's model stays loaded in its own process."""
    from asyndbt.runtime.flower import (
        FlowerSettings,
        ModelServers,
        prepare_run_config,
        read_run_result,
        run_local_deployment,
    )

    cfg = _cfg(tmp, steps)
    t0 = time.perf_counter()
    run_dir = tmp / "run"
    run_config = prepare_run_config(cfg, run_dir, FlowerSettings(connect_timeout_s=300, worker_timeout_s=300))
    nodes = [{"worker-id": w, "out-dir": str(tmp / f"node{w}"), "cache": False} for w in range(3)]
    servers = ModelServers(threads=cfg.llm.threads, n_ctx=cfg.llm.n_ctx) if model_server else None
    run_local_deployment(run_config, tmp, nodes, timeout=1200, model_servers=servers)
    res = read_run_result(run_dir)["result"]
    end = _run_end(run_dir)
    return {"wall_s": time.perf_counter() - t0, "worker_steps": res["worker_steps"], "server_steps": res["server_steps"],
            "test_accuracy_mean": res["test_accuracy_mean"], "server_loop_s": end["virtual_time"],
            "supernodes": len(nodes), "model_server": model_server, "messages": end["messages"]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--modes", default="simulator,flower_simulation,flower_deployment,flower_deployment_model_server")
    ap.add_argument("--out", default=str(RESULTS / "flower.json"))
    args = ap.parse_args(argv)
    store = CellStore(Path(args.out), {
        "machine": machine_info(), "command": "python -m bench.flower " + " ".join(argv or sys.argv[1:]),
        "job": "synthetic task, 3 workers, S=2, tau=3, I=2 samples x B=2 queries per step, M=2, N=20, "
               f"{args.steps} worker steps, final test on 10 examples per worker, embedded model, 1 thread, no cache",
        "note": "wall_s includes start-up; overhead_per_step_s_mean = push-to-reply time minus node handler time",
    })
    fns = {"simulator": simulator, "flower_simulation": flower_simulation, "flower_deployment": flower_deployment,
           "flower_deployment_model_server": lambda tmp, steps: flower_deployment(tmp, steps, model_server=True)}
    for mode in args.modes.split(","):
        key = f"{mode}/steps{args.steps}"
        if store.has(key):
            continue
        with tempfile.TemporaryDirectory(prefix=f"bench-flower-{mode}-") as tmp:
            cell = fns[mode](Path(tmp), args.steps)
        print(key, json.dumps(cell))
        store.put(key, cell)
    store.save()


if __name__ == "__main__":
    main()
