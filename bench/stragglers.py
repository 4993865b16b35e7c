"""Time to accuracy under stragglers: AsynDBT against synchronous and buffered federated tuning (issue 17).

8 workers, the library's defaults otherwise (``asyndbt`` is exactly the default configuration), the
task in ``bench._dynamics.TASK``, virtual clock (token cost model) with lognormal network and compute
delays of spread sigma. Methods compared:

* ``sync-dbt``: synchronous DBT (S = R = 8, tau = 1);
* ``asyndbt``: the defaults (S = 2, tau = ceil(2.5 R / S) = 10 at R = 8);
* ``fedbuff``: FedBuff-style buffered asynchrony: the server moves on after K = 2 reports (the same S)
  with no staleness bound (tau = 10^6), the schedule an FL engineer would reach for first;
* ``fedavg``: FedAvg-style synchronous prompt tuning (``method=fedavg``: every round waits for all
  workers, the server averages the fragment policies, workers restart from the average).

Every run has the same LLM budget (the default: 12 worker steps per worker, 96 in all). Accuracy is
followed on the benchmark-only held-out set (``bench._dynamics``), probed every 16 worker steps.

Target, per seed and profile: 80 % of the way from the initial prompt's held-out accuracy to the best
final accuracy among the methods compared (``accuracy_target``); a seed where no method ends more than
two standard errors above the start has no target. Speed-up = synchronous DBT's virtual time to the
target / the method's. A run that never reaches the target is a miss (counted, never dropped).

Run: ``python -m bench.stragglers [--seeds 3] [--profiles sigma1]``. Finished cells are kept in
bench/results/stragglers.json.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench._common import RESULTS, CellStore, machine_info
from bench._dynamics import (
    TASK,
    accuracy_target,
    base_overrides,
    delay_overrides,
    first_reaching,
    plot_curves,
    run_cell,
)

WORKERS = 8
PROBE_EVERY = 16  # two synchronous rounds of 8 workers: every method is probed on the same worker-step grid
PROFILES: dict[str, tuple[float, float]] = {  # name -> (sigma, straggler factor)
    "sigma0": (0.0, 1.0), "sigma0.5": (0.5, 1.0), "sigma1": (1.0, 1.0), "sigma1.5": (1.5, 1.0),
    "sigma1+straggler10x": (1.0, 10.0),
}
METHODS: dict[str, tuple[str, list[str]]] = {  # name -> (algorithm method, extra overrides)
    "sync-dbt": ("sync-dbt", []),
    "asyndbt": ("asyndbt", []),
    "fedbuff": ("asyndbt", ["algorithm.min_reports=2", "algorithm.tau=1000000"]),
    "fedavg": ("fedavg", []),
}


def _cell(task: str, profile: str, name: str, seed: int, threads: int, experiment: Sequence[str] = ()
          ) -> dict[str, Any]:
    sigma, straggler = PROFILES[profile]
    method, extra = METHODS[name]
    # threads change wall time only: the virtual clock uses the token cost model
    cell = run_cell([*base_overrides(task, WORKERS), *delay_overrides(sigma, straggler), *extra, *experiment,
                     f"llm.threads={threads}"], method, seed, probe_every=PROBE_EVERY)
    return {**cell, "experiment": list(experiment)} if experiment else cell


def summarise(store: CellStore, seeds: int) -> dict[str, Any]:
    """Per profile and method: times to the seed's target, speed-ups over sync-dbt, final accuracies."""
    out: dict[str, Any] = {}
    for profile in PROFILES:
        rows: dict[str, dict[str, Any]] = {}
        targets = []
        for seed in range(seeds):
            runs = {name: store.get(k) for name in METHODS if store.has(k := f"{profile}/{name}/{seed}")}
            if "sync-dbt" not in runs or len(runs) < 2:
                continue
            target = accuracy_target(list(runs.values()))
            targets.append({"seed": seed, **target})
            t_sync = _time_to(runs["sync-dbt"], target["target"])
            for name, c in runs.items():
                r = rows.setdefault(name, {"seeds": [], "time_val_acc": [], "speedup_val_acc": [], "reached": [],
                                           "final_accuracy": [], "exported_accuracy": [], "test_accuracy": [],
                                           "virtual_time": []})
                t = _time_to(c, target["target"])
                r["seeds"].append(seed)
                r["time_val_acc"].append(t)
                r["reached"].append(t is not None)
                r["speedup_val_acc"].append(t_sync / t if t is not None and t_sync is not None and t > 0 else None)
                # the pace, measurable with or without a target: sync-dbt's virtual time to spend the budget / this one's
                r.setdefault("speedup_budget", []).append(runs["sync-dbt"]["virtual_time"] / c["virtual_time"])
                for key in ("final_accuracy", "exported_accuracy", "test_accuracy", "virtual_time"):
                    r[key].append(c[key])
        for r in rows.values():
            sp = [s for s in r["speedup_val_acc"] if s is not None]
            r["speedup_median"] = float(np.median(sp)) if sp else None
            r["speedup_range"] = [float(min(sp)), float(max(sp))] if sp else None
            r["all_reached"] = all(r["reached"])
            r["speedup_budget_median"] = float(np.median(r["speedup_budget"]))
            for key in ("final_accuracy", "exported_accuracy", "test_accuracy"):
                r[f"{key}_mean"], r[f"{key}_std"] = float(np.mean(r[key])), float(np.std(r[key]))
        if rows:
            out[profile] = {**rows, "targets": targets}
    return out


def _time_to(cell: dict[str, Any], target: float | None) -> float | None:
    if target is None:
        return None
    point = first_reaching(cell["curve"], "accuracy", target)
    return None if point is None else point["t"]


def throughput_bound(workers: int = WORKERS, draws: int = 200_000) -> dict[str, Any]:
    """What bounds the speed-up: a synchronous round lasts as long as its slowest worker.

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


def _pct(xs: list[float]) -> str:
    return f"{100 * np.mean(xs):.1f} ± {100 * np.std(xs):.1f}"


def write_md(store: CellStore, summary: dict[str, Any], seeds: int, task: str) -> None:
    lines = [f"# Stragglers: time to accuracy, {WORKERS} workers, {task}, virtual clock", "",
             "Held-out accuracy (benchmark-only set, see bench/_dynamics.py) of each worker's tuned prompt as "
             "learned so far. Target per seed: 80 % of the way from the initial prompt's accuracy to the best final "
             "accuracy among the methods; speed-up = sync-dbt's virtual time to the target / the method's; a "
             "run that never reaches it is a miss. Median and [min, max] over the seeds with a speed-up.", ""]
    for profile, rows in summary.items():
        lines += [f"## {profile}", ""]
        for t in rows["targets"]:
            tgt = "none: " + t["why"] if t["target"] is None else f"{100 * t['target']:.1f} %"
            lines.append(f"- seed {t['seed']}: start {100 * t['initial']:.1f} % (± {100 * t['standard_error']:.1f} "
                         f"SE), best final {100 * t['best_final']:.1f} %, target {tgt}")
        lines += ["", "| method | reached | speed-up to target: median [range] | final held-out % | exported "
                      "held-out % | test % (300 pooled) | virtual s to spend the budget | pace vs sync-dbt (median) |",
                  "|---|---|---|---|---|---|---|---|"]
        for name in METHODS:
            if name not in rows:
                continue
            r = rows[name]
            sp = "–" if r["speedup_median"] is None else (f"{r['speedup_median']:.2f}x [{r['speedup_range'][0]:.2f}, "
                                                          f"{r['speedup_range'][1]:.2f}]")
            lines.append(f"| {name} | {sum(r['reached'])}/{len(r['reached'])} | {sp} | {_pct(r['final_accuracy'])} | "
                         f"{_pct(r['exported_accuracy'])} | {_pct(r['test_accuracy'])} | "
                         f"{np.mean(r['virtual_time']):.0f} | {r['speedup_budget_median']:.2f}x |")
        lines.append("")
    experiments = sorted(k for k in store.data["cells"] if k.startswith("experiment/"))
    if experiments:
        lines += ["## Experiments (other settings; not part of the benchmark's verdict)", ""]
        for k in experiments:
            c = store.get(k)
            lines.append(f"- {k} ({', '.join(c.get('experiment', []))}): "
                         f"held-out start {100 * c['initial_accuracy']:.1f} %, best {100 * c['best_accuracy']:.1f} %, final "
                         f"{100 * c['final_accuracy']:.1f} %, exported {100 * c['exported_accuracy']:.1f} %, test "
                         f"{100 * c['test_accuracy']:.1f} %, {c['virtual_time']:.0f} virtual s")
        lines.append("")
    panels = {p: {name: [store.get(k)["curve"] for s in range(seeds) if store.has(k := f"{p}/{name}/{s}")]
                  for name in METHODS} for p in summary}
    if panels and plot_curves(RESULTS / "stragglers_curves.png", panels, "t", "virtual seconds"):
        lines += ["![accuracy against virtual time](stragglers_curves.png)", ""]
    (RESULTS / "stragglers.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--profiles", default="sigma1")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--task", default=TASK)
    ap.add_argument("--threads", type=int, default=2, help="llama.cpp threads per cell (1 for two shards on 2 cores)")
    ap.add_argument("--recompute", default="", help="comma-separated cell keys to run again under today's defaults; "
                                                    "the old cells are kept in the file's archive under --archive-as")
    ap.add_argument("--archive-as", default="older-defaults")
    ap.add_argument("--experiment", default="", help="store the cells under experiment/NAME/..., computed with the "
                                                     "--set overrides (never summarised: the defaults are the benchmark)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="config override for --experiment")
    ap.add_argument("--summary-only", action="store_true")
    args = ap.parse_args(argv)
    if bool(args.experiment) != bool(args.overrides):
        raise SystemExit("--experiment NAME and --set overrides go together")
    store = CellStore(RESULTS / "stragglers.json", {
        "machine": machine_info(), "command": "python -m bench.stragglers " + " ".join(argv or sys.argv[1:]),
        "settings": {"task": args.task, "workers": WORKERS, "base_overrides": base_overrides(args.task, WORKERS),
                     "profiles": PROFILES, "methods": METHODS, "probe_every_worker_steps": PROBE_EVERY},
        "target": "asyndbt reaches the target >= 2.5x sooner than sync-dbt at sigma = 1 (median over >= 3 seeds, all "
                  "reached), final accuracy within the spread over seeds",
    })
    for key in filter(None, args.recompute.split(",")):
        if store.has(key):  # dropped here only: the recomputed cell replaces the file's copy when it is saved
            store.archive(key, args.archive_as, drop=True)
    if not args.summary_only:
        for seed in range(args.seeds):
            for profile in args.profiles.split(","):
                for name in args.methods.split(","):
                    prefix = f"experiment/{args.experiment}/" if args.experiment else ""
                    store.ensure(f"{prefix}{profile}/{name}/{seed}",
                                 lambda p=profile, n=name, s=seed: _cell(args.task, p, n, s, args.threads, args.overrides),
                                 lambda c: f"held-out {100 * c['initial_accuracy']:.1f} -> {100 * c['final_accuracy']:.1f}%"
                                           f" t={c['virtual_time']:.0f}s ({c['wall_s']:.0f}s wall)")
    summary = summarise(store, args.seeds)
    store.save(summary=summary, throughput_bound=throughput_bound())
    write_md(store, summary, args.seeds, args.task)


if __name__ == "__main__":
    main()
