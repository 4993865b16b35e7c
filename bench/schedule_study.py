"""Schedule only: how fast each S/tau setting spends the training budget under stragglers (issue 17).

The speed-up an asynchronous schedule can show is capped by how often it waits. Synchronous DBT pays
the slowest of R workers every round; an asynchronous server pays only for S reports, but a staleness
bound counted in server iterations makes it wait whenever a slow worker would fall ``tau`` iterations
behind. A worker's own step spans about R / S iterations, so a fixed ``tau`` turns a larger federation
synchronous. This study isolates that effect from learning: the LLM is a **schedule-only stand-in**
(every label gets the same score, so no policy moves and every run samples from its starting policy;
token counts are the prompts' whitespace words), the clock is the simulator's token cost model with
lognormal network and compute delays (sigma = 1), and the budget is the default (12 worker steps per
worker). Measured per run: virtual time until 90 % of the worker steps are done (the training part;
the final selection round adds the same time to every method). Speed-up = sync-dbt's time / the
setting's, per seed; median over seeds. Seconds per run, so it covers R = 3 and R = 8.

Run: ``python -m bench.schedule_study [--seeds 5]``; writes bench/results/schedule_study.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from asyndbt import job
from asyndbt.config import build_config
from asyndbt.llm import LabelScores, LLMClient, ScoreRequest
from bench._common import RESULTS, machine_info
from bench.stragglers import throughput_bound

TASK = "sst2"
SIGMA = 1.0
WORKERS = (3, 8)
NO_BOUND = 1_000_000
# name -> (method, algorithm overrides); "asyndbt" is the library default (tau from staleness_bound)
SETTINGS: dict[str, tuple[str, dict[str, int]]] = {
    "sync-dbt": ("sync-dbt", {}),
    "asyndbt": ("asyndbt", {}),
    "S2-tau4 (old default)": ("asyndbt", {"min_reports": 2, "tau": 4}),
    "S4-tau4": ("asyndbt", {"min_reports": 4, "tau": 4}),
    "S4-default-tau": ("asyndbt", {"min_reports": 4}),
    "fedbuff (S2, no bound)": ("asyndbt", {"min_reports": 2, "tau": NO_BOUND}),
}


class ScheduleOnlyBackend:
    """A schedule-only stand-in for an LLM: equal label scores (nothing to learn), word-count tokens."""

    kind = "schedule-only"

    def identity(self) -> dict[str, Any]:
        return {"kind": self.kind, "version": 1}

    def score(self, requests: Sequence[ScoreRequest]) -> list[LabelScores]:
        return [LabelScores(tuple(-1.0 for _ in r.labels), prompt_tokens=len(r.prompt.split()),
                            prefix_tokens=len(r.prefix.split()), label_tokens=(1,) * len(r.labels))
                for r in requests]


def run(workers: int, setting: str, seed: int, out_dir: str) -> dict[str, Any]:
    """One run: virtual time to 90 % of the worker steps, the whole run's, and the staleness bound used."""
    method, algo = SETTINGS[setting]
    cfg = build_config(overrides=[
        f"task.name={TASK}", f"partition.workers={workers}", "partition.test_mode=own",
        f"simulation.network_sigma={SIGMA}", f"simulation.compute_sigma={SIGMA}",
        "simulation.checkpoint_every=1000000", f"output_dir={json.dumps(out_dir)}", f"algorithm={json.dumps(algo)}"])
    prepared = job.prepare(cfg, seed=seed)
    updates: list[tuple[float, int]] = []

    def on_progress(info: dict[str, Any]) -> None:
        if info.get("kind") == "update":
            updates.append((float(info["clock"]), int(info["worker_steps"])))

    sim = job.make_simulation(cfg, prepared, LLMClient(ScheduleOnlyBackend()), method=method, seed=seed,
                              on_progress=on_progress)
    sim.start()
    res = sim.run()
    budget = cfg.simulation.max_worker_steps
    t90 = next(t for t, w in updates if w >= math.ceil(0.9 * budget))
    return {"t90": t90, "virtual_time": res.virtual_time, "server_steps": res.server_steps, "tau": sim.server.tau,
            "worker_steps": res.worker_steps}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args(argv)
    cells: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in WORKERS:
            for setting in SETTINGS:
                cells[f"R{r}/{setting}"] = [run(r, setting, s, tmp) for s in range(args.seeds)]
                print(f"R{r}/{setting}: t90 {[round(c['t90'], 1) for c in cells[f'R{r}/{setting}']]}", flush=True)
    summary: dict[str, Any] = {}
    for r in WORKERS:
        sync = [c["t90"] for c in cells[f"R{r}/sync-dbt"]]
        for setting in SETTINGS:
            runs = cells[f"R{r}/{setting}"]
            sp = [a / c["t90"] for a, c in zip(sync, runs, strict=True)]
            summary[f"R{r}/{setting}"] = {"tau": runs[0]["tau"], "speedup_median": float(np.median(sp)),
                                          "speedup_range": [float(min(sp)), float(max(sp))],
                                          "t90_median": float(np.median([c["t90"] for c in runs]))}
    caps = {r: throughput_bound(workers=r)["ratio_E_max_over_E_step"]["sigma1"] for r in WORKERS}
    out = {"meta": {"machine": machine_info(), "command": "python -m bench.schedule_study " + " ".join(argv or sys.argv[1:]),
                    "task": TASK, "sigma": SIGMA, "seeds": args.seeds, "settings": SETTINGS,
                    "stand_in": ScheduleOnlyBackend.__doc__},
           "cells": cells, "summary": summary, "throughput_cap_sigma1": caps}
    (RESULTS / "schedule_study.json").write_text(json.dumps(out, indent=1) + "\n")
    lines = ["# Schedule only: speed-up over sync-dbt in spending the training budget (sigma = 1)", "",
             " ".join(__doc__.split("\n\n")[1].split()), "",
             "| workers | setting | tau | speed-up to 90 % of the steps: median [range] | virtual s (median) |",
             "|---|---|---|---|---|"]
    for key, s in summary.items():
        r, setting = key.split("/", 1)
        tau = "none" if s["tau"] >= NO_BOUND else s["tau"]
        lines.append(f"| {r[1:]} | {setting} | {tau} | {s['speedup_median']:.2f}x [{s['speedup_range'][0]:.2f}, "
                     f"{s['speedup_range'][1]:.2f}] | {s['t90_median']:.1f} |")
    lines += ["", "Throughput cap E[max of R] / E[step] at sigma = 1 (compute delays only; network delays add to "
                  "both): " + ", ".join(f"R = {r}: {c:.2f}x" for r, c in caps.items()), ""]
    (RESULTS / "schedule_study.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
