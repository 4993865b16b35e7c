"""Convergence against the theory: server iterations to a validation-loss level vs S and tau (issue 6, item 5).

The paper's Theorem 2: iterations to an epsilon-stationary point fall as the number of active workers
S grows and rise with the staleness bound tau. Here: 8 workers on SST-2, default embedded model,
sigma = 1 lognormal delays, the same 64-worker-step LLM budget for every (S, tau) in
{1, 2, 4, 8} x {1, 4, 16}. tau = 1 forces every live worker to report (synchronous DBT whatever S
is), so those cells share one trajectory (and one set of cached LLM calls).

Two measures of progress, each to a fixed level:
* training loss (the quantity Theorem 2 is about), averaged over the last 8 worker reports at each
  server update (free: it comes with the updates);
* mean validation loss, evaluated every ~8 worker reports whatever S is.
Level: halfway from the initial value to the lowest value any cell reaches. Reported per cell:
server iterations, worker steps and virtual time to each level (None: never reached), and final
validation loss and accuracy.

Run: ``python -m bench.convergence``. Finished cells are kept in bench/results/convergence.json.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench._common import RESULTS, CellStore, machine_info
from bench._dynamics import EIGHT_WORKERS, delay_overrides, eval_every_for, first_reaching, run_cell, smoothed_train_loss

S_VALUES = (1, 2, 4, 8)
TAU_VALUES = (1, 4, 16)


def _reach(points: list[dict[str, Any]], key: str, level: float) -> dict[str, Any]:
    p = first_reaching(points, key, level, below=True)
    return {"iterations": None if p is None else p["server_step"], "worker_steps": None if p is None else p["worker_steps"],
            "virtual_time": None if p is None else p["t"]}


def summarise(store: CellStore, seed: int) -> dict[str, Any]:
    cells = {k: store.get(k) for k in store.data["cells"] if k.endswith(f"/{seed}")}
    if not cells:
        return {}
    train = {k: [u for u in smoothed_train_loss(c["updates"]) if u["window_full"]] for k, c in cells.items()}
    t0 = max(t[0]["train_loss"] for t in train.values())
    t_best = min(u["train_loss"] for t in train.values() for u in t)
    v0 = max(c["curve"][0]["val_loss_mean"] for c in cells.values())  # same start for every cell
    v_best = min(c["best_val_loss"] for c in cells.values())
    levels = {"train_loss": t0 - 0.5 * (t0 - t_best), "val_loss": v0 - 0.5 * (v0 - v_best)}
    rows = []
    for key, c in sorted(cells.items()):
        s, tau = (int(x[1:]) if x[0] == "S" else int(x[3:]) for x in key.split("/")[0].split("-"))
        rows.append({"S": s, "tau": tau, "train_loss_level": _reach(train[key], "train_loss", levels["train_loss"]),
                     "val_loss_level": _reach(c["curve"], "val_loss_mean", levels["val_loss"]),
                     "final_val_loss": c["final_val_loss"], "final_val_accuracy": c["final_val_accuracy"],
                     "server_steps": c["server_steps"], "virtual_time": c["virtual_time"]})
    rows.sort(key=lambda r: (r["S"], r["tau"]))
    return {"levels": levels, "train_loss_range": [t0, t_best], "val_loss_range": [v0, v_best], "rows": rows}


def write_md(summary: dict[str, Any]) -> None:
    if not summary:
        return
    lv = summary["levels"]
    lines = ["# Convergence vs S and tau (8 workers, SST-2, sigma = 1)", "",
             f"Levels: training loss <= {lv['train_loss']:.4f} (range {summary['train_loss_range'][0]:.4f} -> "
             f"{summary['train_loss_range'][1]:.4f}); validation loss <= {lv['val_loss']:.4f} (range "
             f"{summary['val_loss_range'][0]:.4f} -> {summary['val_loss_range'][1]:.4f}).", "",
             "| S | tau | train level: iterations | worker steps | virtual s | val level: iterations | virtual s | "
             "final val loss | final val acc % |", "|---|---|---|---|---|---|---|---|---|"]

    def f(x: Any) -> str:
        return "never" if x is None else (f"{x:.1f}" if isinstance(x, float) else str(x))

    for r in summary["rows"]:
        tr, va = r["train_loss_level"], r["val_loss_level"]
        lines.append(f"| {r['S']} | {r['tau']} | {f(tr['iterations'])} | {f(tr['worker_steps'])} | {f(tr['virtual_time'])} | "
                     f"{f(va['iterations'])} | {f(va['virtual_time'])} | {r['final_val_loss']:.4f} | "
                     f"{100 * r['final_val_accuracy']:.1f} |")
    (RESULTS / "convergence.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    store = CellStore(RESULTS / "convergence.json", {
        "machine": machine_info(), "command": "python -m bench.convergence " + " ".join(argv or sys.argv[1:]),
        "settings": {"base_overrides": EIGHT_WORKERS, "delays": delay_overrides(1.0)},
    })
    for tau in TAU_VALUES:
        for s in S_VALUES:
            store.ensure(f"S{s}-tau{tau}/{args.seed}", lambda s=s, tau=tau: run_cell(
                [*EIGHT_WORKERS, *delay_overrides(1.0), f"algorithm.min_reports={s}", f"algorithm.tau={tau}",
                 eval_every_for(s if tau > 1 else 8)], "asyndbt", args.seed),
                lambda c: f"{c['server_steps']} iterations, final val loss {c['final_val_loss']:.4f} ({c['wall_s']:.0f}s)")
    summary = summarise(store, args.seed)
    store.save(summary=summary)
    write_md(summary)


if __name__ == "__main__":
    main()
