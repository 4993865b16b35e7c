"""Shared runner for the benchmarks that look at a run's trajectory (stragglers, convergence, call efficiency).

One cell = one simulator run on SST-2 with the default embedded model, evaluated on validation after
every server step, summarised as its curve (virtual time, server step, worker steps, LLM requests,
mean validation accuracy and loss). All cells share one score cache (``bench/.cache``), so cells
whose LLM calls coincide (e.g. synchronous DBT under different delay profiles: same updates, other
clock) cost nothing twice; the virtual clock uses the token cost model, so cached and uncached runs
give identical times.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from asyndbt import job
from asyndbt.config import RunConfig, build_config
from bench._common import RESULTS

CACHE = RESULTS.parent / ".cache" / "scores.sqlite"

# 8 workers on SST-2: 8 training queries, 4 validation examples and ~12 candidates per class per worker;
# 2 sampled prompts x 4 queries per worker step, a 64-step budget, validation every 2 server updates and
# 50 test examples keep one run at a few CPU minutes (evaluation, 8 workers x own prompt, dominates).
EIGHT_WORKERS = [
    "task.name=sst2", "partition.workers=8", "task.train_per_class=32", "task.val_per_class=16",
    "task.pool_per_class=48", "task.test_size=50", "simulation.max_worker_steps=64", "simulation.eval_every=2",
    "simulation.checkpoint_every=1000000", "algorithm.batch_size=4", "algorithm.samples_per_step=2",
    "llm.threads=2",
]


def make_config(overrides: Sequence[str]) -> RunConfig:
    return build_config(overrides=[*overrides, f"output_dir={json.dumps(str(RESULTS.parent / '.runs'))}",
                                   f"llm.cache_path={json.dumps(str(CACHE))}"])


def delay_overrides(sigma: float, straggler: float = 1.0) -> list[str]:
    """Lognormal network and compute delays with spread ``sigma``; optionally the last worker ``straggler``x slower."""
    return [f"simulation.network_sigma={sigma}", f"simulation.compute_sigma={sigma}",
            f"simulation.straggler_factor={straggler}"]


_clients: dict[str, Any] = {}


def run_cell(overrides: Sequence[str], method: str, seed: int = 0) -> dict[str, Any]:
    """Run one configuration; return its validation curve and final numbers (JSON-ready)."""
    cfg = make_config(overrides)
    prepared = job.prepare(cfg, seed=seed)
    client = _clients.setdefault("client", job.make_client(cfg, None))
    before = client.ledger.totals()
    t0 = time.perf_counter()
    updates: list[dict[str, Any]] = []  # every server update: the training-loss curve (free, no extra calls)

    def on_progress(info: dict[str, Any]) -> None:
        if info.get("kind") == "update":
            updates.append({"t": info["clock"], "server_step": info["server_step"], "worker_steps": info["worker_steps"],
                            "reports": len(info.get("reporters", [0])),
                            "mean_loss": info.get("mean_loss", info.get("loss_mean"))})

    res = job.run_method(cfg, prepared, client, method=method, seed=seed, on_progress=on_progress)
    after = client.ledger.totals()
    curve = [{k: h[k] for k in ("t", "server_step", "worker_steps", "train_requests", "val_accuracy_mean",
                                "val_loss_mean")} for h in res.history]
    accs = [r.accuracy for r in res.test]
    return {"method": method, "seed": seed, "overrides": list(overrides), "curve": curve, "updates": updates,
            "final_val_accuracy": curve[-1]["val_accuracy_mean"], "final_val_loss": curve[-1]["val_loss_mean"],
            "best_val_loss": min(c["val_loss_mean"] for c in curve),
            "test_accuracy": float(np.mean(accs)), "test_accuracy_per_worker": accs,
            "virtual_time": res.virtual_time, "server_steps": res.server_steps,
            "worker_steps": res.worker_steps, "train_requests": res.train_requests,
            "backend_requests": after["backend_requests"] - before["backend_requests"],
            "wall_s": time.perf_counter() - t0}


def eval_every_for(min_reports: int, workers: int = 8) -> str:
    """Validation every ~``workers`` worker reports whatever S is, so curves of different S have the same
    resolution (synchronous DBT: every update; S = 2 of 8: every 4th)."""
    return f"simulation.eval_every={max(1, workers // max(1, min_reports))}"


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


def first_reaching(curve: Sequence[dict[str, Any]], key: str, target: float, *, below: bool) -> dict[str, Any] | None:
    """The first curve point whose ``key`` is <= target (``below``) or >= target; None if never."""
    for point in curve:
        if (point[key] <= target) if below else (point[key] >= target):
            return point
    return None
