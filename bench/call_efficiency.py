"""LLM calls for AsynDBT and BDPL to reach BDPL's final validation accuracy on SST-2 (issue 6, item 4).

Default setting of ``asyndbt run`` on SST-2 (3 IID workers; BDPL tunes the fragment alone on the
pooled data with fixed random demonstrations), the same 48-worker-step budget, validation after
every server update. For each seed: BDPL's final validation accuracy is the target; the training
LLM requests each method made before it first reached the target are compared. Target ratio:
AsynDBT <= 0.5x BDPL's calls.

Run: ``python -m bench.call_efficiency [--seeds 3]``. Finished cells are kept in bench/results/call_efficiency.json.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from bench._common import RESULTS, CellStore, machine_info
from bench._dynamics import first_reaching, run_cell

BASE = ["task.name=sst2", "partition.workers=3", "simulation.max_worker_steps=48", "simulation.eval_every=1",
        "simulation.checkpoint_every=1000000", "llm.threads=2"]
METHODS = ("bdpl", "asyndbt")


def _calls_to(curve: list[dict[str, Any]], key: str, target: float, below: bool) -> int | None:
    point = first_reaching(curve, key, target, below=below)
    return None if point is None else point["train_requests"]


def summarise(store: CellStore, seeds: int) -> dict[str, Any]:
    per_seed = []
    for seed in range(seeds):
        keys = [f"{m}/{seed}" for m in METHODS]
        if not all(store.has(k) for k in keys):
            continue
        bdpl, asyn = (store.get(k) for k in keys)
        row: dict[str, Any] = {"seed": seed}
        # accuracy target (the issue's): BDPL's final validation accuracy; loss target: its final validation
        # loss (continuous, so less at the mercy of a 20-example validation set)
        for metric, key, target, below in (("accuracy", "val_accuracy_mean", bdpl["final_val_accuracy"], False),
                                           ("loss", "val_loss_mean", bdpl["final_val_loss"], True)):
            calls = {m: _calls_to(c["curve"], key, target, below) for m, c in (("bdpl", bdpl), ("asyndbt", asyn))}
            ratio = calls["asyndbt"] / calls["bdpl"] if calls["asyndbt"] is not None and calls["bdpl"] else None
            row[metric] = {"target": target, "calls_to_target": calls, "ratio": ratio,
                           "degenerate": calls["bdpl"] == 0}
        row.update({"final_val_accuracy": {"bdpl": bdpl["final_val_accuracy"], "asyndbt": asyn["final_val_accuracy"]},
                    "test_accuracy": {"bdpl": bdpl["test_accuracy"], "asyndbt": asyn["test_accuracy"]},
                    "total_train_requests": {"bdpl": bdpl["train_requests"], "asyndbt": asyn["train_requests"]}})
        per_seed.append(row)
    out: dict[str, Any] = {"per_seed": per_seed}
    for metric in ("accuracy", "loss"):
        ratios = [r[metric]["ratio"] for r in per_seed if r[metric]["ratio"] is not None]
        out[f"{metric}_ratio_mean"] = float(np.mean(ratios)) if ratios else None
        out[f"{metric}_seeds_with_a_ratio"] = len(ratios)
    out["note"] = ("A target BDPL already meets with its initial prompt (calls = 0) gives no ratio: on these "
                   "20-example validation sets the accuracy target often is; the loss target is the usable one.")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args(argv)
    store = CellStore(RESULTS / "call_efficiency.json", {
        "machine": machine_info(), "command": "python -m bench.call_efficiency " + " ".join(argv or sys.argv[1:]),
        "settings": {"overrides": BASE}, "target": "AsynDBT <= 0.5x BDPL's LLM calls to BDPL's final val accuracy",
    })
    for seed in range(args.seeds):
        for method in METHODS:
            store.ensure(f"{method}/{seed}", lambda m=method, s=seed: run_cell(BASE, m, s),
                         lambda c: f"final val {100 * c['final_val_accuracy']:.1f}% ({c['wall_s']:.0f}s wall)")
    summary = summarise(store, args.seeds)
    store.save(summary=summary)
    print(summary)


if __name__ == "__main__":
    main()
