"""How much is there to find among random demonstration sets, and can validation find it?

Reads the fidelity table's ``random-sets@4x5`` cells (five random sets of four demonstrations per
class per seed, calibrated, each with its per-example test answers) and answers two questions
without a single new LLM call (the score cache holds every score it needs; the script says how many
requests missed it):

1. Are the sets really different, or is their spread test-sampling noise? Paired over the same test
   examples, the spread of the set accuracies splits into noise and a real between-set part.
2. Does picking the set with the best validation score pick a better set? Each set is scored on the
   first 100 validation inputs (the ones its calibration prior comes from), by accuracy and by mean
   calibrated log-loss, on all 100 and on every third (a worker's rank part is about that size), and
   the test accuracy of each statistic's pick is compared with the mean of the five.

    python -m bench.selection_study            # writes bench/results/selection_study.json and .md
"""

from __future__ import annotations

import itertools
import json
import sys
from typing import Any

import numpy as np

from asyndbt import job
from asyndbt.evaluation._baselines import baseline_prompt
from asyndbt.prompt._calibration import estimate_prior, predictions_and_losses
from asyndbt.session import paired_z
from bench._common import RESULTS, machine_info
from bench.fidelity import SETS, SHOTS, Bench, answer_bits, config

STATISTICS = ("accuracy@100", "log-loss@100", "accuracy@34", "log-loss@34")


def spread(answers: np.ndarray) -> dict[str, float]:
    """Between-set spread of test accuracy, split into test-sampling noise and a real part.

    ``answers`` is ``(sets, examples)`` 0/1. The noise variance of one set's accuracy, relative to
    the others on the same examples, is half the mean variance of a paired difference of two sets.
    """
    acc = answers.mean(axis=1)
    n = answers.shape[1]
    pairs = list(itertools.combinations(range(len(answers)), 2))
    noise = float(np.mean([np.var(answers[i] - answers[j], ddof=1) / n for i, j in pairs]) / 2)
    right = answers == 1
    z = [abs(paired_z(right[i], right[j])[0]) for i, j in pairs]
    var = float(acc.var(ddof=1))
    return {"sd_sets": float(np.sqrt(var)), "sd_noise": float(np.sqrt(noise)),
            "sd_real": float(np.sqrt(max(var - noise, 0.0))), "max_paired_z": float(max(z))}


def validation_stats(bench: Bench, task: str, seed: int, set_seeds: list[int]) -> tuple[np.ndarray, int]:
    """``(sets, STATISTICS)`` validation scores (higher is better) and the requests the cache missed."""
    cfg = config(task, "iid", bench.threads)
    splits = job.load_splits(cfg, seed)
    client = bench.client_for(cfg)
    val = splits.validation[:100]
    labels = [e.label for e in val]
    before = client.ledger.totals()["backend_requests"]
    rows = []
    for s in set_seeds:
        prompt = baseline_prompt(splits.task, "random-icl", splits.pool, s, SHOTS)
        scores = client.score(prompt.requests([e.texts for e in val]), purpose="eval/random-icl")
        preds, losses = predictions_and_losses(scores, labels, estimate_prior(scores))
        right = np.array([p == y for p, y in zip(preds, labels, strict=True)], dtype=np.float64)
        loss = np.asarray(losses)
        rows.append([right.mean(), -loss.mean(), right[::3].mean(), -loss[::3].mean()])
    return np.array(rows), int(client.ledger.totals()["backend_requests"] - before)


def main(argv: list[str] | None = None) -> None:
    cells = json.loads((RESULTS / "fidelity.json").read_text())["cells"]
    bench = Bench(1)
    out: dict[str, Any] = {"meta": {"machine": machine_info(), "command": "python -m bench.selection_study"},
                           "cells": {}}
    for key, cell in sorted(cells.items()):
        if not key.startswith(f"random-sets@{SHOTS}x{SETS}/") or "correct_per_set_cal" not in cell:
            continue
        _, task, seed = key.split("/")
        answers = np.array([answer_bits(b) for b in cell["correct_per_set_cal"]])
        stats, misses = validation_stats(bench, task, int(seed), cell["set_seeds"])
        test = answers.mean(axis=1)
        picks = {name: float(test[int(np.argmax(stats[:, i]))]) for i, name in enumerate(STATISTICS)}
        out["cells"][key] = {"test_per_set": test.tolist(), "test_mean": float(test.mean()), "test_best": float(test.max()),
                             "picked": picks, "validation": stats.tolist(), "cache_misses": misses, **spread(answers)}
        print(key, json.dumps(out["cells"][key]["picked"]), flush=True)
    rows = list(out["cells"].values())
    if rows:
        out["summary"] = {"cells": len(rows), "test_mean": float(np.mean([r["test_mean"] for r in rows])),
                          "test_best": float(np.mean([r["test_best"] for r in rows])),
                          "picked": {s: float(np.mean([r["picked"][s] for r in rows])) for s in STATISTICS},
                          "sd_real_mean": float(np.mean([r["sd_real"] for r in rows])),
                          "sd_noise_mean": float(np.mean([r["sd_noise"] for r in rows]))}
    (RESULTS / "selection_study.json").write_text(json.dumps(out, indent=1) + "\n")
    write_md(out)


def write_md(out: dict[str, Any]) -> None:
    lines = ["# Selection study: is there anything to find among random demonstration sets?", "",
             f"Five random sets of {SHOTS} demonstrations per class per seed (the fidelity table's `random-sets` cells, "
             "calibrated, 300 test examples). `real sd`: the spread of the sets' test accuracies once the paired "
             "test-sampling noise is taken out; `max z`: the largest paired (McNemar) statistic between two sets. "
             "`pick by X`: test accuracy of the set with the best validation score X, on the first 100 validation "
             "inputs or every third of them (34, about one worker's rank part). Accuracy in %.", "",
             "| cell | sets (test) | mean | best | real sd | noise sd | max z | " + " | ".join(
                 f"pick by {s}" for s in STATISTICS) + " |", "|---|" + "---|" * (6 + len(STATISTICS))]
    for key, r in out["cells"].items():
        lines.append(f"| {key} | {' '.join(f'{100 * t:.1f}' for t in r['test_per_set'])} | {100 * r['test_mean']:.1f} | "
                     f"{100 * r['test_best']:.1f} | {100 * r['sd_real']:.1f} | {100 * r['sd_noise']:.1f} | "
                     f"{r['max_paired_z']:.1f} | " + " | ".join(f"{100 * r['picked'][s]:.1f}" for s in STATISTICS) + " |")
    if "summary" in out:
        s = out["summary"]
        lines += ["", f"Over {s['cells']} cells: mean set {100 * s['test_mean']:.1f}, best set {100 * s['test_best']:.1f}; "
                  + ", ".join(f"pick by {k} {100 * v:.1f}" for k, v in s["picked"].items())
                  + f". Real between-set sd {100 * s['sd_real_mean']:.1f} points against {100 * s['sd_noise_mean']:.1f} "
                  "of test noise."]
    (RESULTS / "selection_study.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
