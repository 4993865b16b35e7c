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
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from asyndbt import job
from asyndbt.config import build_config
from asyndbt.runtime import RunDir
from bench._common import RESULTS, CellStore, machine_info


def _overrides(out: Path, steps: int, workers: int = 3) -> list[str]:
    return ["task.name=synthetic", f"partition.workers={workers}", f"simulation.max_worker_steps={steps}",
            "simulation.eval_every=1000", "simulation.checkpoint_every=2", "task.test_size=10",
            "task.val_size=12", "task.val_per_class=2",
            "vocab.size=20", "llm.threads=1", "llm.cache=false", "simulation.compute=measured",
            f"output_dir={json.dumps(str(out))}",
            'algorithm={"batch_size": 2, "samples_per_step": 2, "fragment_length": 2, "min_reports": 2, "tau": 3}']


def _cfg(out: Path, steps: int, workers: int = 3):
    return build_config(overrides=_overrides(out, steps, workers))


def flower_deployment_faults(tmp: Path, steps: int) -> dict:
    """3 SuperNodes with model servers: worker 2 slowed by 8 s per step, worker 1 killed after 2 server updates.

    Shows from the event log that the server moves on with S = 2 reports without the slow worker,
    never lets it fall tau or more updates behind, takes the killed worker out, and finishes.
    """
    from asyndbt.runtime.flower import (
        FlowerSettings,
        ModelServers,
        prepare_run_config,
        read_run_result,
        run_local_deployment,
    )

    cfg, run_dir = _cfg(tmp, 12), tmp / "run"
    run_config = prepare_run_config(cfg, run_dir, FlowerSettings(connect_timeout_s=300, worker_timeout_s=60))
    nodes = [{"worker-id": w, "out-dir": str(tmp / f"node{w}"), "cache": False} for w in range(3)]
    nodes[2]["step-delay-s"] = 8.0

    def updates() -> list[dict]:
        return [e for e in RunDir(run_dir).events() if e["event"] == "server_update"] \
            if (run_dir / "events.jsonl").exists() else []

    def kill_worker_1(dep) -> None:
        deadline = time.monotonic() + 900
        while len(updates()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        dep.kill_node(1)

    t0 = time.perf_counter()
    run_local_deployment(run_config, tmp, nodes, timeout=1800, during=kill_worker_1,
                         model_servers=ModelServers(threads=cfg.llm.threads, n_ctx=cfg.llm.n_ctx))
    res = read_run_result(run_dir)["result"]
    events = RunDir(run_dir).events()
    ups = [e for e in events if e["event"] == "server_update"]
    tau = int(cfg.algorithm["tau"])
    return {"wall_s": time.perf_counter() - t0, "stopped_by": res["stopped_by"], "worker_steps": res["worker_steps"],
            "server_steps": len(ups), "tau": tau, "min_reports": 2,
            "updates_without_slow_worker": sum(2 not in e["reporters"] for e in ups),
            "max_staleness_slow_worker": max(int(e["staleness"][2]) for e in ups),
            "failed": [{"worker": e["worker"], "reason": e["reason"]} for e in events if e["event"] == "worker_failed"],
            "evaluated_workers": [e for e in events if e["event"] == "run_end"][-1].get("evaluated_workers")}


def flower_deployment_resume(tmp: Path, steps: int) -> dict:
    """`asyndbt flower local`, kill -9 of the ServerApp after two server updates, then `--resume`.

    Synchronous (sync-dbt), so an uninterrupted run makes exactly steps / R server updates; the cell
    is ``resumed_ok`` when the resumed run logs each of them exactly once and finishes.
    """
    import signal
    import subprocess

    from asyndbt.runtime.flower._launch import kill_server_apps

    run_dir, steps = tmp / "run", 4 * 3
    sets = [a for o in (*_overrides(tmp, steps), "method=sync-dbt") for a in ("--set", o)]

    def cli(*args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "asyndbt", "flower", "local", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def updates() -> list[int]:
        return [e["iteration"] for e in RunDir(run_dir).events() if e["event"] == "server_update"] \
            if (run_dir / "events.jsonl").exists() else []

    t0 = time.perf_counter()
    first = cli("--run-dir", str(run_dir), "--worker-timeout", "600", *sets)
    try:
        while len(updates()) < 2 and first.poll() is None and time.perf_counter() - t0 < 900:
            time.sleep(0.2)
        killed = kill_server_apps(first.pid)
        first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    before = updates()
    t1 = time.perf_counter()
    second = cli("--resume", str(run_dir))
    out, _ = second.communicate(timeout=1800)
    after = updates()
    expected = list(range(1, steps // 3 + 1))
    ok = bool(killed) and second.returncode == 0 and after == expected and len(before) < len(expected)
    return {"resumed_ok": ok, "killed_after_server_steps": len(before), "server_steps": after,
            "expected_server_steps": expected, "first_run_s": t1 - t0, "resumed_run_s": time.perf_counter() - t1,
            "resume_exit_code": second.returncode, "tail": out[-500:] if not ok else ""}


def _run_end(run_dir: Path) -> dict:
    return [e for e in RunDir(run_dir).events() if e["event"] == "run_end"][-1]


def per_step_s(updates: list[tuple[float, int]]) -> float | None:
    """Wall seconds per worker step after start-up: first to last server update over the steps between them.

    ``updates``: (real time, worker steps) at each server update. Start-up (model loads, SuperNodes
    connecting) and the final selection fall outside the window.
    """
    if len(updates) < 2 or updates[-1][1] == updates[0][1]:
        return None
    return (updates[-1][0] - updates[0][0]) / (updates[-1][1] - updates[0][1])


def flower_updates(run_dir: Path) -> list[tuple[float, int]]:
    """(t, worker steps) of a Flower run's server updates; its ``t`` is real time (the simulator's is virtual)."""
    return [(e["t"], e["worker_steps"]) for e in RunDir(run_dir).events() if e["event"] == "server_update"]


def simulator(tmp: Path, steps: int) -> dict:
    cfg = _cfg(tmp, steps)
    t0 = time.perf_counter()
    prepared = job.prepare(cfg)
    rundir = RunDir(tmp / "run")
    client = job.make_client(cfg, rundir)
    updates: list[tuple[float, int]] = []  # (real time, worker steps) at each server update; the log holds virtual time

    def on_progress(info: dict) -> None:
        if info.get("kind") == "update":
            updates.append((time.perf_counter(), int(info["worker_steps"])))

    res = job.run_method(cfg, prepared, client, rundir=rundir, on_progress=on_progress)
    return {"wall_s": time.perf_counter() - t0, "worker_steps": res.worker_steps, "server_steps": res.server_steps,
            "test_accuracy_mean": res.summary()["test_accuracy_mean"], "per_step_s": per_step_s(updates)}


def flower_simulation(tmp: Path, steps: int) -> dict:
    from asyndbt.runtime.flower import FlowerSettings, run_simulation

    cfg = _cfg(tmp, steps)
    t0 = time.perf_counter()
    res = run_simulation(cfg, tmp / "run", FlowerSettings(connect_timeout_s=300, worker_timeout_s=300))
    end = _run_end(tmp / "run")
    return {"wall_s": time.perf_counter() - t0, "worker_steps": res.worker_steps, "server_steps": res.server_steps,
            "test_accuracy_mean": res.summary()["test_accuracy_mean"], "server_loop_s": end["virtual_time"],
            "messages": end["messages"]}


class PeakMemory:
    """Peak total resident memory of this process's descendants (SuperLink, SuperNodes, model servers, ...)."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.every_s, self.peak_mb, self._stop = every_s, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _tree_rss_mb(root: int) -> float:
        from asyndbt.runtime.flower._launch import descendants

        total = 0.0
        for pid in descendants(root):
            try:
                total += int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[21]) * os.sysconf(
                    "SC_PAGE_SIZE") / 2**20
            except (OSError, IndexError, ValueError):
                continue  # ended meanwhile
        return total

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.peak_mb = max(self.peak_mb, self._tree_rss_mb(os.getpid()))

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def flower_deployment(tmp: Path, steps: int, model_server: bool = False, workers: int = 3, secure: bool = False,
                      stock: bool = False) -> dict:
    """SuperLink + ``workers`` SuperNodes on loopback; ``model_server``: each node's model stays loaded apart.

    ``stock``: stock ``flower-supernode`` (3 s idle wait, a cold ``flwr-clientapp`` per message) instead of
    ``asyndbt flower supernode`` (idle waits capped at 0.2 s, ClientApps forked from a warm process).
    """
    from asyndbt.runtime.flower import (
        FlowerSettings,
        ModelServers,
        prepare_run_config,
        read_run_result,
        run_local_deployment,
    )

    cfg = _cfg(tmp, steps, workers)
    t0 = time.perf_counter()
    run_dir = tmp / "run"
    run_config = prepare_run_config(cfg, run_dir, FlowerSettings(connect_timeout_s=300, worker_timeout_s=300))
    nodes = [{"worker-id": w, "out-dir": str(tmp / f"node{w}"), "cache": False} for w in range(workers)]
    servers = ModelServers(threads=cfg.llm.threads, n_ctx=cfg.llm.n_ctx) if model_server else None
    with PeakMemory() as mem:
        run_local_deployment(run_config, tmp, nodes, timeout=1800, model_servers=servers, secure=secure,
                             **({"poll_s": None} if stock else {}))
    res = read_run_result(run_dir)["result"]
    end = _run_end(run_dir)
    return {"wall_s": time.perf_counter() - t0, "worker_steps": res["worker_steps"], "server_steps": res["server_steps"],
            "test_accuracy_mean": res["test_accuracy_mean"], "server_loop_s": end["virtual_time"],
            "supernodes": len(nodes), "model_server": model_server, "secure": secure, "peak_memory_mb": mem.peak_mb,
            "supernode": "stock flower-supernode" if stock else "asyndbt flower supernode (poll 0.2 s, warm ClientApps)",
            "per_step_s": per_step_s(flower_updates(run_dir)), "messages": end["messages"]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--modes", default="simulator,flower_simulation,flower_deployment,flower_deployment_model_server,"
                                       "reference_stock_supernode,"
                                       "flower_deployment_8nodes,flower_deployment_resume,flower_deployment_faults,"
                                       "flower_deployment_secure")
    ap.add_argument("--out", default=str(RESULTS / "flower.json"))
    args = ap.parse_args(argv)
    store = CellStore(Path(args.out), {
        "machine": machine_info(), "command": "python -m bench.flower " + " ".join(argv or sys.argv[1:]),
        "job": "synthetic task, 3 workers, S=2, tau=3, I=2 samples x B=2 queries per step, M=2, N=20, "
               f"{args.steps} worker steps, final test on 10 examples per worker, embedded model, 1 thread, no cache",
        "note": "wall_s includes start-up; overhead_per_step_s_mean = push-to-reply time minus node handler time",
    })
    fns = {"simulator": simulator, "flower_simulation": flower_simulation, "flower_deployment": flower_deployment,
           "flower_deployment_model_server": lambda tmp, steps: flower_deployment(tmp, steps, model_server=True),
           "reference_stock_supernode": lambda tmp, steps: flower_deployment(tmp, steps, model_server=True, stock=True),
           # 8 SuperNodes, each with its model server; twice the steps so every node steps about twice
           "flower_deployment_8nodes": lambda tmp, steps: flower_deployment(tmp, 2 * steps + 4, model_server=True,
                                                                            workers=8),
           "flower_deployment_resume": flower_deployment_resume, "flower_deployment_faults": flower_deployment_faults,
           "flower_deployment_secure": lambda tmp, steps: flower_deployment(tmp, steps, model_server=True, secure=True)}
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
