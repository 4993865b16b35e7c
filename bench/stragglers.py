"""Asynchronous vs synchronous DBT under stragglers (issue 6, item 1).

8 workers on SST-2, default embedded model, virtual clock (token cost model). Delay profiles:
lognormal network and compute delays with sigma in {0, 0.5, 1, 1.5}, and sigma = 1 with the last
worker 10x slower. Methods: synchronous DBT (S = R = 8, tau = 1) and AsynDBT at a few (S, tau).
Every run gets the same LLM budget (64 worker steps) and is evaluated on validation every 2 server updates.

Validation runs every ~8 worker reports for every method (synchronous DBT: every update; S = 2:
every 4th), so no method's curve is sampled more finely than another's.

Targets (defined here, computed per profile from synchronous DBT's own run):
* budget: virtual time to spend the LLM budget (64 worker steps): the throughput speed-up;
* training loss: the first update at which the training loss (averaged over the last 8 worker
  reports) is at or below synchronous DBT's final value;
* validation loss: 90% of the way from the initial validation loss to the best one synchronous DBT
  reaches;
* validation accuracy: 95% of synchronous DBT's final mean validation accuracy.
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
from bench._dynamics import EIGHT_WORKERS, delay_overrides, eval_every_for, first_reaching, run_cell, smoothed_train_loss

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
        return run_cell([*overrides, eval_every_for(8)], "sync-dbt", seed)
    s, tau = ASYNC[name]
    return run_cell([*overrides, f"algorithm.min_reports={s}", f"algorithm.tau={tau}", eval_every_for(s)], "asyndbt",
                    seed)


def _time_to(cell: dict[str, Any], key: str, target: float, below: bool) -> float | None:
    point = first_reaching(cell["curve"], key, target, below=below)
    return None if point is None else point["t"]


def _time_to_train_loss(cell: dict[str, Any], target: float) -> float | None:
    points = [u for u in smoothed_train_loss(cell["updates"]) if u["window_full"]]
    point = first_reaching(points, "train_loss", target, below=True)
    return None if point is None else point["t"]


METRICS = ("budget", "train_loss", "val_loss", "val_acc")


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
            train_target = [u for u in smoothed_train_loss(sync["updates"]) if u["window_full"]][-1]["train_loss"]

            def times(c: dict[str, Any], sync: dict[str, Any] = sync, l0: float = l0,
                      train_target: float = train_target) -> dict[str, float | None]:
                return {"budget": c["virtual_time"], "train_loss": _time_to_train_loss(c, train_target),
                        "val_loss": _time_to(c, "val_loss_mean", l0 - 0.9 * (l0 - sync["best_val_loss"]), True),
                        "val_acc": _time_to(c, "val_accuracy_mean", 0.95 * sync["final_val_accuracy"], False)}

            t_sync = times(sync)
            for name in ("sync-dbt", *ASYNC):
                k = f"{profile}/{name}/{seed}"
                if not store.has(k):
                    continue
                c = store.get(k)
                t = times(c)
                r = rows.setdefault(name, {"final_val_accuracy": [], "test_accuracy": [],
                                           **{f"time_{m}": [] for m in METRICS}, **{f"speedup_{m}": [] for m in METRICS}})
                r["final_val_accuracy"].append(c["final_val_accuracy"])
                r["test_accuracy"].append(c["test_accuracy"])
                for m in METRICS:
                    r[f"time_{m}"].append(t[m])
                    ok = t[m] is not None and t_sync[m] is not None and t[m] > 0 and t_sync[m] > 0
                    r[f"speedup_{m}"].append(t_sync[m] / t[m] if ok else None)
        out[profile] = rows
    return out


def throughput_bound(workers: int = 8, draws: int = 200_000) -> dict[str, Any]:
    """What bounds the budget speed-up: a synchronous round lasts as long as its slowest worker.

    With i.i.d. lognormal step times of spread sigma, synchronous DBT pays E[max of R] per round while a
    worker that never waits pays E[X]; their ratio caps the throughput gain of any asynchronous schedule
    (network delays and tau waits only lower it). Monte Carlo, fixed seed.
    """
    rng = np.random.default_rng(0)
    out = {}
    for profile, (sigma, straggler) in PROFILES.items():
        x = np.exp(sigma * rng.standard_normal((draws // workers, workers)))
        x[:, -1] *= straggler
        out[profile] = float(x.max(axis=1).mean() / x.mean())  # E[max] / mean over all workers' steps
    note = " ".join(throughput_bound.__doc__.split("\n\n")[1].split())
    return {"note": note, "ratio_E_max_over_E_step": out}


def _fmt(xs: list[Any], pct: bool = False) -> str:
    vals = [x for x in xs if x is not None]
    if not vals:
        return "never"
    m = float(np.mean(vals))
    return f"{100 * m:.1f}" if pct else f"{m:.2f}"


def write_md(summary: dict[str, Any]) -> None:
    lines = ["# Stragglers: AsynDBT vs synchronous DBT (8 workers, SST-2, virtual clock)", "",
             "Virtual seconds to each target (bench/stragglers.py defines them) and speed-up = synchronous DBT's "
             "time / this time. 'at start' = already met by the initial prompt; 'never' = not reached.", "",
             "| profile | method | budget spent: t (speed-up) | train-loss target: t (speed-up) | "
             "val-loss target: t (speed-up) | val-acc target: t (speed-up) | final val acc % | test acc % |",
             "|---|---|---|---|---|---|---|---|"]
    for profile, rows in summary.items():
        for name, r in rows.items():
            cells = []
            for m in METRICS:
                t = [x for x in r[f"time_{m}"] if x is not None]
                if not t:
                    cells.append("never")
                elif max(t) == 0:
                    cells.append("at start")
                else:
                    cells.append(f"{_fmt(r[f'time_{m}'])} ({_fmt(r[f'speedup_{m}'])}x)")
            lines.append(f"| {profile} | {name} | " + " | ".join(cells) +
                         f" | {_fmt(r['final_val_accuracy'], True)} | {_fmt(r['test_accuracy'], True)} |")
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
    store.save(summary=summary, throughput_bound=throughput_bound())
    write_md(summary)


if __name__ == "__main__":
    main()
