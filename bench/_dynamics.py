"""Shared runner for the benchmarks that follow a run's trajectory (stragglers, convergence, call efficiency).

One cell = one simulator run with the library's defaults (only the task, the number of workers and the
settings a benchmark studies are overridden), followed on a **benchmark-only held-out set**: rows of
the task's data files that no split of the run uses (the dev/test rows first, then training rows),
``HELD_OUT`` of them pooled over the workers (each worker's prompt is scored on its own share). The
run never sees them, so probing costs LLM calls but changes nothing in the run, and a 1,000-example
set resolves accuracy differences of about 3 points (standard error ≈ 1.5 points at 70 %).

A probe scores each worker's tuned prompt as learned so far (``Simulation.current_prompts``: the
argmax demonstrations with the shared fragment, calibrated with the prior from that worker's own
validation inputs) every ``probe_every`` worker steps, at the start and at the end; the prompts the
run exports are scored on the same set at the end. Each probe records the virtual time, server and
worker steps, and the run's own LLM calls so far (training and validation; the probes themselves are
not counted). All cells share one score cache (``bench/.cache``); the virtual clock uses the token
cost model, so cached and uncached runs give identical times.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from asyndbt import job
from asyndbt.config import RunConfig, build_config
from asyndbt.evaluation import evaluate_prompt
from asyndbt.tasks import Example
from asyndbt.tasks._splits import unused_rows
from bench._common import RESULTS

CACHE = RESULTS.parent / ".cache" / "scores.sqlite"
HELD_OUT = 1000
# The task the trajectory benchmarks follow: one where bench/results/fidelity.md shows tuning raising
# accuracy (and whose data files hold >= HELD_OUT rows beyond the run's splits).
TASK = "sst2"


def base_overrides(task: str, workers: int) -> list[str]:
    """The library defaults, except the task, R and what a benchmark needs to stay cheap and comparable.

    ``partition.test_mode=own``: each worker's exported prompt is tested on its own share of the test
    split (300 pooled) instead of all of it, so 8 workers do not score 8 x 300 test queries.
    """
    return [f"task.name={task}", f"partition.workers={workers}", "partition.test_mode=own",
            "simulation.checkpoint_every=1000000", "llm.threads=2"]


def make_config(overrides: Sequence[str]) -> RunConfig:
    return build_config(overrides=[*overrides, f"output_dir={json.dumps(str(RESULTS.parent / '.runs'))}",
                                   f"llm.cache_path={json.dumps(str(CACHE))}"])


def delay_overrides(sigma: float, straggler: float = 1.0) -> list[str]:
    """Lognormal network and compute delays with spread ``sigma``; optionally the last worker ``straggler``x slower."""
    return [f"simulation.network_sigma={sigma}", f"simulation.compute_sigma={sigma}",
            f"simulation.straggler_factor={straggler}"]


def held_out(cfg: RunConfig, prepared: job.Prepared, seed: int, n: int = HELD_OUT) -> list[Example]:
    """``n`` labelled rows that no split of this run uses, dev/test rows first (same distribution as test).

    Raises:
        ValueError: if the data files hold fewer than ``n`` unused rows.
    """
    rng = np.random.default_rng(10_000 + seed)
    out: list[Example] = []
    train_rows, dev_rows = job.source_rows(cfg)
    for rows in (dev_rows, train_rows):
        free = unused_rows(prepared.splits, rows)
        take = rng.permutation(len(free))[: n - len(out)]
        out += [free[i] for i in sorted(take)]
        if len(out) >= n:
            return out
    raise ValueError(f"only {len(out)} unused rows for a held-out set of {n}; use a task with more data")


def _shares(examples: Sequence[Example], parts: int) -> list[list[Example]]:
    return [list(examples[i::parts]) for i in range(parts)]


_clients: dict[str, Any] = {}


def run_cell(overrides: Sequence[str], method: str, seed: int, *, probe_every: int,
             held_out_n: int = HELD_OUT) -> dict[str, Any]:
    """Run one configuration and follow it on the held-out set; return the curve and final numbers (JSON-ready)."""
    cfg = make_config(overrides)
    prepared = job.prepare(cfg, seed=seed)
    client = _clients.setdefault("client", job.make_client(cfg, None))
    evaluation = held_out(cfg, prepared, seed, held_out_n)
    t0 = time.perf_counter()
    updates: list[dict[str, Any]] = []  # every server update: the training-loss curve (free, no extra calls)
    curve: list[dict[str, Any]] = []

    def score(prompts: Sequence[Any]) -> dict[str, float]:
        shares = _shares(evaluation, len(prompts))
        results = [evaluate_prompt(client, p, share, calibrate_on=env.validation, worker=w, purpose="bench/held-out")
                   for w, (p, share, env) in enumerate(zip(prompts, shares, sim.envs, strict=True))]
        n = sum(r.n for r in results)
        return {"accuracy": sum(r.accuracy * r.n for r in results) / n,
                "loss": sum(r.loss * r.n for r in results) / n, "n": n}

    def probe() -> None:
        curve.append({"t": sim.clock, "server_step": sim.server_steps, "worker_steps": sim.worker_steps,
                      "llm_calls": sim.llm_calls, "train_requests": sim.train_requests,
                      **score(sim.current_prompts())})

    def on_progress(info: dict[str, Any]) -> None:
        if info.get("kind") != "update":
            return
        updates.append({"t": info["clock"], "server_step": info["server_step"], "worker_steps": info["worker_steps"],
                        "reports": len(info.get("reporters", [0])),
                        "mean_loss": info.get("mean_loss", info.get("loss_mean"))})
        if sim.worker_steps >= curve[-1]["worker_steps"] + probe_every:
            probe()

    sim = job.make_simulation(cfg, prepared, client, method=method, seed=seed, on_progress=on_progress)
    sim.start()
    probe()
    res = sim.run()
    if curve[-1]["worker_steps"] != sim.worker_steps or curve[-1]["llm_calls"] != sim.llm_calls:
        probe()  # the end point, after the final selection round
    exported = score(res.prompts)
    accs = [r.accuracy for r in res.test]
    return {"method": method, "seed": seed, "overrides": list(overrides), "curve": curve, "updates": updates,
            "held_out_n": len(evaluation), "initial_accuracy": curve[0]["accuracy"],
            "final_accuracy": curve[-1]["accuracy"], "best_accuracy": max(c["accuracy"] for c in curve),
            "exported_accuracy": exported["accuracy"], "test_accuracy": float(np.mean(accs)),
            "test_accuracy_per_worker": accs, "virtual_time": res.virtual_time, "server_steps": res.server_steps,
            "worker_steps": res.worker_steps, "train_requests": res.train_requests, "llm_calls": sim.llm_calls,
            "wall_s": time.perf_counter() - t0}


def standard_error(accuracy: float, n: int) -> float:
    """Binomial standard error of an accuracy measured on ``n`` examples."""
    return math.sqrt(max(accuracy * (1 - accuracy), 1e-12) / n)


def accuracy_target(cells: Sequence[dict[str, Any]], share: float = 0.8) -> dict[str, Any]:
    """A seed's accuracy target: ``share`` of the way from the initial prompt's accuracy to the best final one.

    ``cells`` are the seed's runs of every method compared (they start from the same prompt). The target
    is ``None`` (with the reason) when no method ends more than two standard errors above the start:
    a target inside the noise, or one met at the start, would measure nothing.
    """
    start = float(np.mean([c["initial_accuracy"] for c in cells]))
    best = max(c["final_accuracy"] for c in cells)
    n = cells[0]["held_out_n"]
    se = standard_error(start, n)
    out = {"initial": start, "best_final": best, "standard_error": se, "share": share}
    if best - start <= 2 * se:
        return {**out, "target": None, "why": f"no method ends more than 2 standard errors ({200 * se:.1f} points) "
                                              "above the initial prompt"}
    return {**out, "target": start + share * (best - start)}


def first_reaching(curve: Sequence[dict[str, Any]], key: str, target: float, *, below: bool = False
                   ) -> dict[str, Any] | None:
    """The first curve point whose ``key`` is <= target (``below``) or >= target; None if never."""
    for point in curve:
        if (point[key] <= target) if below else (point[key] >= target):
            return point
    return None


def smoothed_train_loss(updates: Sequence[dict[str, Any]], window_reports: int = 8) -> list[dict[str, Any]]:
    """Training loss per server update, averaged over the updates that hold the last ~``window_reports``
    worker reports (one update of S reports is noisy when S is small)."""
    out: list[dict[str, Any]] = []
    for i, u in enumerate(updates):
        j, reports = i, 0
        while j >= 0 and reports < window_reports:
            reports += updates[j]["reports"]
            j -= 1
        window = updates[j + 1:i + 1]
        loss = float(np.average([v["mean_loss"] for v in window], weights=[v["reports"] for v in window]))
        out.append({**u, "train_loss": loss, "window_full": reports >= window_reports})
    return out


def plot_curves(path: Any, panels: dict[str, dict[str, list[list[dict[str, Any]]]]], x: str, xlabel: str) -> bool:
    """One panel per key of ``panels``; in each, held-out accuracy against ``x`` for every method, one line per seed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        print(f"no plot: matplotlib is missing ({exc})")
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.4), squeeze=False)
    for ax, (title, methods) in zip(axes[0], panels.items(), strict=True):
        for i, (method, runs) in enumerate(methods.items()):
            for j, run in enumerate(runs):
                ax.plot([p[x] for p in run], [100 * p["accuracy"] for p in run], "o-", color=f"C{i}", alpha=0.8,
                        markersize=3, label=method if j == 0 else None)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("held-out accuracy (%)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
