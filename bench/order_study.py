"""Does averaging over demonstration orders beat one order, on every signal task?

Session 11 found, on SST-2 seed 0, that the same four-per-class demonstration set scored 75.0-82.3 %
in five orders, and that averaging the calibrated label probabilities over the five orders scored
about 2.7 points above the mean order. This study asks whether that holds on every signal task and
seed before the library builds on it.

For each (task, seed, set) cell: the random set of ``SHOTS`` demonstrations per class that the
fidelity table's ``random-sets`` cell scored as its set ``k`` (same seed, same draw), rendered in
``ORDERS`` orders (order 0 as drawn: classes alternating; the others uniform random permutations).
Each order is calibrated with its own prior (the first 100 validation inputs, the fidelity table's
rule) and scored on the fixed test set. Reported per cell: each order's accuracy, their mean, the
ensemble (calibrated probabilities averaged over the orders, then argmax) and the ensemble minus the
mean order, paired on test examples. A ``mean-prior`` variant calibrates the ensemble once instead
(average the raw probabilities, divide by their prior): the form the library ships as
``selection.demo_orders``, scored here through it, to see whether per-order priors matter.

    python -m bench.order_study --threads 1             # resumable cell by cell
    python -m bench.order_study --summary-only          # rewrite order_study.md from stored cells
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

from asyndbt import job
from asyndbt.evaluation import evaluate_prompt
from asyndbt.evaluation._baselines import random_demonstrations
from asyndbt.evaluation._scoring import prompt_prior
from asyndbt.prompt import TunedPrompt
from asyndbt.prompt._calibration import calibrated_logprobs
from bench._common import RESULTS, CellStore, machine_info
from bench.fidelity import SHOTS, SIGNAL, Bench, answer_bits, config

ORDERS = 5
CALIBRATION_INPUTS = 100


def orders(n: int, count: int, seed: int) -> list[list[int]]:
    """``count`` orders of ``n`` demonstrations: as drawn first, then seeded random permutations."""
    rng = np.random.default_rng([seed, 4099])
    return [list(range(n))] + [rng.permutation(n).tolist() for _ in range(count - 1)]


def order_cell(bench: Bench, task: str, seed: int, set_index: int) -> dict[str, Any]:
    cfg = config(task, "iid", bench.threads)
    splits = job.load_splits(cfg, seed)
    client = bench.client_for(cfg)
    t0 = time.perf_counter()
    demos = random_demonstrations(splits.pool, splits.task.num_classes, seed + 1000 * set_index, SHOTS)
    labels = np.array([e.label for e in splits.test])
    val, texts = splits.validation[:CALIBRATION_INPUTS], [e.texts for e in splits.test]
    perms = orders(len(demos), ORDERS, seed + 1000 * set_index)
    per_order, cal_probs, bits = [], [], []
    for perm in perms:
        prompt = TunedPrompt(splits.task, (), tuple(demos[i] for i in perm), method="random-icl")
        prior = prompt_prior(client, prompt, val, purpose="order-study")
        cal = np.exp([calibrated_logprobs(s.logprobs, prior) for s in prompt.score(client, texts, purpose="order-study")])
        hit = cal.argmax(axis=1) == labels
        per_order.append(float(hit.mean()))
        bits.append("".join("1" if h else "0" for h in hit))
        cal_probs.append(cal)
    ensemble = np.mean(cal_probs, axis=0).argmax(axis=1) == labels
    first_k = {str(k): float((np.mean(cal_probs[:k], axis=0).argmax(axis=1) == labels).mean()) for k in range(2, ORDERS)}
    # one prior for the averaged answers: the form the library ships (TunedPrompt.orders, selection.demo_orders)
    shipped = TunedPrompt(splits.task, (), demos, method="random-icl", orders=tuple(tuple(p) for p in perms))
    mean_prior = np.array(evaluate_prompt(client, shipped, splits.test, calibrate_on=val,
                                          purpose="order-study").predictions) == labels
    mean_order = np.mean([answer_bits(b) for b in bits], axis=0)
    diff = ensemble.astype(float) - mean_order
    return {"per_order": per_order, "mean_order": float(np.mean(per_order)), "ensemble": float(ensemble.mean()),
            "ensemble_mean_prior": float(mean_prior.mean()), "ensemble_of_first_k": first_k,
            "ensemble_minus_mean_order": float(diff.mean()),
            "ensemble_minus_mean_order_se": float(diff.std(ddof=1) / np.sqrt(len(diff))),
            "best_order": float(max(per_order)), "worst_order": float(min(per_order)),
            "correct_per_order": bits, "correct_ensemble": "".join("1" if h else "0" for h in ensemble),
            "n_test": len(labels), "wall_s": time.perf_counter() - t0}


def cell_keys(seeds: int, sets: int) -> list[tuple[str, str, int, int]]:
    """Seed-major then set-major, so an interrupted run covers every task once before repeating."""
    return [(f"{task}/{seed}/set{k}", task, seed, k) for k in range(sets) for seed in range(seeds) for task in SIGNAL]


def write_summary(store: CellStore) -> None:
    cells_ = store.data["cells"]
    lines = ["# Averaging over demonstration orders (bench/order_study.py)", "",
             f"Random sets of {SHOTS} demonstrations per class (the fidelity table's random-sets draws), each in "
             f"{ORDERS} orders, calibrated per order on {CALIBRATION_INPUTS} validation inputs; test accuracy in %. "
             "*ensemble*: calibrated probabilities averaged over the orders; *gain*: ensemble minus the mean order, "
             "paired on test examples (± 1.96 SE).", "",
             "| cell | orders (min-max) | mean order | ensemble | gain | ensemble, one mean prior | "
             "ensembles of the first 2, 3, 4 orders | s |",
             "|---|---|---|---|---|---|---|---|"]
    gains: dict[str, list[float]] = {}
    for key in sorted(cells_):
        c = cells_[key]
        gains.setdefault(key.split("/")[0], []).append(c["ensemble_minus_mean_order"])
        lines.append(f"| {key} | {100 * c['worst_order']:.1f}-{100 * c['best_order']:.1f} | {100 * c['mean_order']:.1f} "
                     f"| {100 * c['ensemble']:.1f} | {100 * c['ensemble_minus_mean_order']:+.1f} ± "
                     f"{196 * c['ensemble_minus_mean_order_se']:.1f} | {100 * c['ensemble_mean_prior']:.1f} "
                     f"| {', '.join(f'{100 * v:.1f}' for v in c['ensemble_of_first_k'].values())} | {c['wall_s']:.0f} |")
    lines += ["", "Mean gain per task (over its cells): " + ", ".join(
        f"{t} {100 * float(np.mean(g)):+.1f} ({len(g)} cells)" for t, g in sorted(gains.items())) + "."]
    summary = {t: {"mean_gain": float(np.mean(g)), "cells": len(g)} for t, g in gains.items()}
    store.save(summary=summary)
    (RESULTS / "order_study.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--sets", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tasks", default="")
    ap.add_argument("--summary-only", action="store_true")
    args = ap.parse_args(argv)
    store = CellStore(RESULTS / "order_study.json", {
        "machine": machine_info(), "command": "python -m bench.order_study " + " ".join(argv or sys.argv[1:]),
        "settings": {"shots": SHOTS, "orders": ORDERS, "calibration_inputs": CALIBRATION_INPUTS}})
    if not args.summary_only:
        bench = Bench(args.threads)
        tasks = set(filter(None, args.tasks.split(","))) or set(SIGNAL)
        for key, task, seed, k in cell_keys(args.seeds, args.sets):
            if task in tasks and not store.has(key):
                store.ensure(key, lambda t=task, s=seed, k=k: order_cell(bench, t, s, k),
                             lambda c: f"ensemble {100 * c['ensemble']:.1f} vs mean order {100 * c['mean_order']:.1f}")
                write_summary(store)
    write_summary(store)


if __name__ == "__main__":
    main()
