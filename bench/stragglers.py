"""Asynchronous vs synchronous DBT under stragglers (issue 6, item 1).

8 workers on SST-2, default embedded model, virtual clock (token cost model). Delay profiles:
lognormal network and compute delays with sigma in {0, 0.5, 1, 1.5}, and sigma = 1 with the last
worker 10x slower. Methods: synchronous DBT (S = R = 8, tau = 1) and AsynDBT at a few (S, tau).
Every run gets the same LLM budget (64 worker steps) and is evaluated on validation every 2 server updates.

Targets (defined here, computed per profile):
* accuracy target: 95% of synchronous DBT's final mean validation accuracy in that profile;
* loss target: 90% of the way from the initial validation loss to the best one synchronous DBT reaches.
Speed-up = synchronous DBT's virtual time to a target / AsynDBT's. Final accuracy is compared on the
validation curve's last point and on 50 test examples.

Run: ``python -m bench.stragglers [--seeds 1]``. Finished cells are kept in bench/results/stragglers.json.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from bench._common import RESULTS, CellStore, machine_info
from bench._dynamics import EIGHT_WORKERS, delay_overrides, first_reaching, run_cell

PROFILES: dict[str, tuple[float, float]] = {  # name -> (sigma, straggler factor)
    "sigma0": (0.0, 1.0), "sigma0.5": (0.5, 1.0), "sigma1": (1.0, 1.0), "sigma1.5": (1.5, 1.0),
    "sigma1+straggler10x": (1.0, 10.0),
}
ASYNC = {"asyndbt-S2-tau16": (2, 16), "asyndbt-S4-tau4": (4, 4)}
ASYNC_PROFILES = {"asyndbt-S2-tau16": tuple(PROFILES), "asyndbt-S4-tau4": ("sigma1",)}  # budget: one more at sigma 1


def _cell(profile: str, name: str, seed: int) -> dict[str, Any]:
    sigma, straggler = PROFILES[profile]
    overrides = [*EIGHT_WORKERS, *delay_overrides(sigma, straggler)]
    if name == "sync-dbt":
        return run_cell(overrides, "sync-dbt", seed)
    s, tau = ASYNC[name]
    return run_cell([*overrides, f"algorithm.min_reports={s}", f"algorithm.tau={tau}"], "asyndbt", seed)


def _time_to(cell: dict[str, Any], key: str, target: float, below: bool) -> float | None:
    point = first_reaching(cell["curve"], key, target, below=below)
    return None if point is None else point["t"]


def summarise(store: CellStore, seeds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for profile in PROFILES:
        rows: dict[str, dict[str, Any]] = {}
        for seed in range(seeds):
            key = f"{profile}/sync-dbt/{seed}"
            if not store.has(key):
                continue
            sync = store.get(key)
            l0 = sync["curve"][0]["val_loss_mean"]
            acc_target = 0.95 * sync["final_val_accuracy"]
            loss_target = l0 - 0.9 * (l0 - sync["best_val_loss"])
            t_sync = {"acc": _time_to(sync, "val_accuracy_mean", acc_target, False),
                      "loss": _time_to(sync, "val_loss_mean", loss_target, True)}
            for name in ("sync-dbt", *ASYNC):
                k = f"{profile}/{name}/{seed}"
                if not store.has(k):
                    continue
                c = store.get(k)
                t = {"acc": _time_to(c, "val_accuracy_mean", acc_target, False),
                     "loss": _time_to(c, "val_loss_mean", loss_target, True)}
                r = rows.setdefault(name, {"final_val_accuracy": [], "test_accuracy": [], "virtual_time": [],
                                           "time_to_acc_target": [], "time_to_loss_target": [],
                                           "speedup_acc": [], "speedup_loss": []})
                r["final_val_accuracy"].append(c["final_val_accuracy"])
                r["test_accuracy"].append(c["test_accuracy"])
                r["virtual_time"].append(c["virtual_time"])
                r["time_to_acc_target"].append(t["acc"])
                r["time_to_loss_target"].append(t["loss"])
                for m in ("acc", "loss"):
                    ok = t[m] is not None and t_sync[m] is not None and t[m] > 0
                    r[f"speedup_{m}"].append(t_sync[m] / t[m] if ok else None)
        out[profile] = rows
    return out


def _fmt(xs: list[Any], pct: bool = False) -> str:
    vals = [x for x in xs if x is not None]
    if not vals:
        return "never"
    m = float(np.mean(vals))
    return f"{100 * m:.1f}" if pct else f"{m:.2f}"


def write_md(summary: dict[str, Any]) -> None:
    lines = ["# Stragglers: AsynDBT vs synchronous DBT (8 workers, SST-2, virtual clock)", "",
             "Virtual seconds to the targets (see bench/stragglers.py), speed-up = sync time / this time.", "",
             "| profile | method | t to acc target | speed-up (acc) | t to loss target | speed-up (loss) | "
             "total time | final val acc % | test acc % |", "|---|---|---|---|---|---|---|---|---|"]
    for profile, rows in summary.items():
        for name, r in rows.items():
            lines.append(f"| {profile} | {name} | {_fmt(r['time_to_acc_target'])} | {_fmt(r['speedup_acc'])} | "
                         f"{_fmt(r['time_to_loss_target'])} | {_fmt(r['speedup_loss'])} | {_fmt(r['virtual_time'])} | "
                         f"{_fmt(r['final_val_accuracy'], True)} | {_fmt(r['test_accuracy'], True)} |")
    (RESULTS / "stragglers.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--profiles", default=",".join(PROFILES))
    args = ap.parse_args(argv)
    store = CellStore(RESULTS / "stragglers.json", {
        "machine": machine_info(), "command": "python -m bench.stragglers " + " ".join(argv or sys.argv[1:]),
        "settings": {"base_overrides": EIGHT_WORKERS, "profiles": PROFILES, "async": ASYNC},
        "target": "AsynDBT reaches the target >= 2.5x sooner than sync DBT at sigma = 1, same final accuracy",
    })
    for seed in range(args.seeds):
        for profile in args.profiles.split(","):
            for name in ("sync-dbt", *ASYNC):
                if name in ASYNC and profile not in ASYNC_PROFILES[name]:
                    continue
                store.ensure(f"{profile}/{name}/{seed}", lambda p=profile, n=name, s=seed: _cell(p, n, s),
                             lambda c: f"val {100 * c['final_val_accuracy']:.1f}% t={c['virtual_time']:.1f}s "
                                       f"({c['wall_s']:.0f}s wall, {c['backend_requests']} backend calls)")
    summary = summarise(store, args.seeds)
    store.save(summary=summary)
    write_md(summary)


if __name__ == "__main__":
    main()
