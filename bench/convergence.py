"""Convergence against the theory: server iterations to a level vs S and tau (issue 6, item 5; issue 17).

The paper's Theorem 2: iterations to an epsilon-stationary point fall as the number of active workers
S grows and rise with the staleness bound tau. Here: 8 workers on the task in ``bench._dynamics.TASK``,
the library's defaults otherwise, sigma = 1 lognormal delays, the same default LLM budget (12 worker
steps per worker, 96 in all) for every (S, tau) in {1, 2, 4, 8} x {1, 4, 16}. tau = 1 forces every
live worker to report (synchronous DBT whatever S is), so those cells share one trajectory (and one
set of cached LLM calls).

Two measures of progress, each to a fixed level:
* training loss (the quantity Theorem 2 is about), averaged over the last 8 worker reports at each
  server update (free: it comes with the updates);
* held-out accuracy of the tuned prompts (the benchmark-only set of ``bench._dynamics``), probed every
  8 worker reports whatever S is.
Levels: halfway from the initial value to the best value any cell reaches. Reported per cell: server
iterations, worker steps and virtual time to each level (None: never reached), and final accuracy.

Run: ``python -m bench.convergence``. Finished cells are kept in bench/results/convergence.json.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench._common import RESULTS, CellStore, machine_info
from bench._dynamics import TASK, base_overrides, delay_overrides, first_reaching, plot_curves, run_cell, smoothed_train_loss

S_VALUES = (1, 2, 4, 8)
TAU_VALUES = (1, 4, 16)
WORKERS = 8
PROBE_EVERY = 8


def _reach(points: list[dict[str, Any]], key: str, level: float, below: bool) -> dict[str, Any]:
    p = first_reaching(points, key, level, below=below)
    return {"iterations": None if p is None else p["server_step"], "worker_steps": None if p is None else p["worker_steps"],
            "virtual_time": None if p is None else p["t"]}


def summarise(store: CellStore, seed: int) -> dict[str, Any]:
    cells = {k: store.get(k) for k in store.data["cells"] if k.endswith(f"/{seed}")}
    if not cells:
        return {}
    train = {k: [u for u in smoothed_train_loss(c["updates"]) if u["window_full"]] for k, c in cells.items()}
    t0 = max(t[0]["train_loss"] for t in train.values())
    t_best = min(u["train_loss"] for t in train.values() for u in t)
    a0 = min(c["initial_accuracy"] for c in cells.values())  # the same start for every cell
    a_best = max(c["best_accuracy"] for c in cells.values())
    levels = {"train_loss": t0 - 0.5 * (t0 - t_best), "accuracy": a0 + 0.5 * (a_best - a0)}
    rows = []
    for key, c in sorted(cells.items()):
        s, tau = (int(x[1:]) if x[0] == "S" else int(x[3:]) for x in key.split("/")[0].split("-"))
        rows.append({"S": s, "tau": tau,
                     "train_loss_level": _reach(train[key], "train_loss", levels["train_loss"], True),
                     "accuracy_level": _reach(c["curve"], "accuracy", levels["accuracy"], False),
                     "final_accuracy": c["final_accuracy"], "exported_accuracy": c["exported_accuracy"],
                     "server_steps": c["server_steps"], "virtual_time": c["virtual_time"]})
    rows.sort(key=lambda r: (r["S"], r["tau"]))
    return {"levels": levels, "train_loss_range": [t0, t_best], "accuracy_range": [a0, a_best], "rows": rows}


def write_md(store: CellStore, summary: dict[str, Any], seed: int, task: str) -> None:
    if not summary:
        return
    lv = summary["levels"]
    lines = [f"# Convergence vs S and tau ({WORKERS} workers, {task}, sigma = 1)", "",
             f"Levels: training loss <= {lv['train_loss']:.4f} (range {summary['train_loss_range'][0]:.4f} -> "
             f"{summary['train_loss_range'][1]:.4f}); held-out accuracy >= {100 * lv['accuracy']:.1f} % (range "
             f"{100 * summary['accuracy_range'][0]:.1f} -> {100 * summary['accuracy_range'][1]:.1f} %).", "",
             "| S | tau | train level: iterations | worker steps | virtual s | accuracy level: iterations | virtual s | "
             "final held-out % | exported held-out % |", "|---|---|---|---|---|---|---|---|---|"]

    def f(x: Any) -> str:
        return "never" if x is None else (f"{x:.1f}" if isinstance(x, float) else str(x))

    for r in summary["rows"]:
        tr, va = r["train_loss_level"], r["accuracy_level"]
        lines.append(f"| {r['S']} | {r['tau']} | {f(tr['iterations'])} | {f(tr['worker_steps'])} | {f(tr['virtual_time'])} | "
                     f"{f(va['iterations'])} | {f(va['virtual_time'])} | {100 * r['final_accuracy']:.1f} | "
                     f"{100 * r['exported_accuracy']:.1f} |")
    panels = {f"tau = {tau}": {f"S = {s}": [store.get(k)["curve"]] for s in S_VALUES
                               if store.has(k := f"S{s}-tau{tau}/{seed}")} for tau in TAU_VALUES}
    if plot_curves(RESULTS / "convergence_curves.png", {k: v for k, v in panels.items() if v}, "t", "virtual seconds"):
        lines += ["", "![held-out accuracy against virtual time](convergence_curves.png)"]
    (RESULTS / "convergence.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--task", default=TASK)
    ap.add_argument("--summary-only", action="store_true")
    args = ap.parse_args(argv)
    base = [*base_overrides(args.task, WORKERS), *delay_overrides(1.0)]
    store = CellStore(RESULTS / "convergence.json", {
        "machine": machine_info(), "command": "python -m bench.convergence " + " ".join(argv or sys.argv[1:]),
        "settings": {"task": args.task, "base_overrides": base, "probe_every_worker_steps": PROBE_EVERY},
    })
    if not args.summary_only:
        for tau in TAU_VALUES:
            for s in S_VALUES:
                store.ensure(f"S{s}-tau{tau}/{args.seed}", lambda s=s, tau=tau: run_cell(
                    [*base, f"algorithm.min_reports={s}", f"algorithm.tau={tau}"], "asyndbt", args.seed,
                    probe_every=PROBE_EVERY),
                    lambda c: f"{c['server_steps']} iterations, held-out {100 * c['final_accuracy']:.1f}% "
                              f"({c['wall_s']:.0f}s)")
    summary = summarise(store, args.seed)
    store.save(summary=summary)
    write_md(store, summary, args.seed, args.task)


if __name__ == "__main__":
    main()
