"""Convergence against the theory: server iterations to a validation-loss level vs S and tau (issue 6, item 5).

The paper's Theorem 2: iterations to an epsilon-stationary point fall as the number of active workers
S grows and rise with the staleness bound tau. Here: 8 workers on SST-2, default embedded model,
sigma = 1 lognormal delays, the same 64-worker-step LLM budget for every (S, tau) in
{1, 2, 4, 8} x {1, 4, 16}. tau = 1 forces every live worker to report (synchronous DBT whatever S
is), so those cells share one trajectory (and one set of cached LLM calls).

Level: halfway from the initial mean validation loss to the lowest one any cell reaches. Reported
per cell: server iterations, worker steps and virtual time to the level (None: never reached), and
final validation loss and accuracy.

Run: ``python -m bench.convergence``. Finished cells are kept in bench/results/convergence.json.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench._common import RESULTS, CellStore, machine_info
from bench._dynamics import EIGHT_WORKERS, delay_overrides, first_reaching, run_cell

S_VALUES = (1, 2, 4, 8)
TAU_VALUES = (1, 4, 16)


def summarise(store: CellStore, seed: int) -> dict[str, Any]:
    cells = {k: store.get(k) for k in store.data["cells"] if k.endswith(f"/{seed}")}
    if not cells:
        return {}
    l0 = max(c["curve"][0]["val_loss_mean"] for c in cells.values())  # same start for every cell
    best = min(c["best_val_loss"] for c in cells.values())
    level = l0 - 0.5 * (l0 - best)
    rows = []
    for key, c in sorted(cells.items()):
        point = first_reaching(c["curve"], "val_loss_mean", level, below=True)
        s, tau = (int(x[1:]) if x[0] == "S" else int(x[3:]) for x in key.split("/")[0].split("-"))
        rows.append({"S": s, "tau": tau, "iterations_to_level": None if point is None else point["server_step"],
                     "worker_steps_to_level": None if point is None else point["worker_steps"],
                     "virtual_time_to_level": None if point is None else point["t"],
                     "final_val_loss": c["final_val_loss"], "final_val_accuracy": c["final_val_accuracy"],
                     "server_steps": c["server_steps"], "virtual_time": c["virtual_time"]})
    return {"level": level, "initial_loss": l0, "best_loss": best, "rows": rows}


def write_md(summary: dict[str, Any]) -> None:
    if not summary:
        return
    lines = ["# Convergence vs S and tau (8 workers, SST-2, sigma = 1)", "",
             f"Level: validation loss <= {summary['level']:.4f} (initial {summary['initial_loss']:.4f}, "
             f"best of all cells {summary['best_loss']:.4f}).", "",
             "| S | tau | iterations to level | worker steps to level | virtual s to level | final val loss | "
             "final val acc % |", "|---|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        def f(x: Any) -> str:
            return "never" if x is None else (f"{x:.1f}" if isinstance(x, float) else str(x))
        lines.append(f"| {r['S']} | {r['tau']} | {f(r['iterations_to_level'])} | {f(r['worker_steps_to_level'])} | "
                     f"{f(r['virtual_time_to_level'])} | {r['final_val_loss']:.4f} | {100 * r['final_val_accuracy']:.1f} |")
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
                [*EIGHT_WORKERS, *delay_overrides(1.0), f"algorithm.min_reports={s}", f"algorithm.tau={tau}"],
                "asyndbt", args.seed),
                lambda c: f"{c['server_steps']} iterations, final val loss {c['final_val_loss']:.4f} ({c['wall_s']:.0f}s)")
    summary = summarise(store, args.seed)
    store.save(summary=summary)
    write_md(summary)


if __name__ == "__main__":
    main()
