"""Untuned baselines on the paper's 200-example test split: manual, zero-shot CoT, random ICL, KATE.

Run: ``python -m bench.baselines [--seeds 3] [--tasks sst2,cola,mrpc,qnli]``
Writes bench/results/baselines.json (cells are kept, so an interrupted run resumes).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from asyndbt.config import LLMConfig
from asyndbt.evaluation import evaluate_baseline
from asyndbt.llm import DEFAULT_MODEL, LlamaCppEmbedder, make_llm_client, resolve_model
from asyndbt.tasks import load_task_splits
from bench._common import RESULTS, CellStore, machine_info, pct_band

METHODS = ("manual", "zero-shot-cot", "random-icl", "kate", "manual+cc", "random-icl+cc")
# "+cc" = the same prompt with contextual calibration (Zhao et al. 2021): measured because small models
# put most answers in one class.


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default="sst2,cola,mrpc,qnli")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", default=str(RESULTS / "baselines.json"))
    args = ap.parse_args(argv)
    model = args.model or DEFAULT_MODEL
    store = CellStore(__import__("pathlib").Path(args.out), {
        "machine": machine_info(), "model": model, "command": "python -m bench.baselines " + " ".join(argv or sys.argv[1:]),
        "protocol": "paper split protocol per seed (10/class train, 10/class val, 200 test, 50/class pool); "
                    "test accuracy on the 200-example test split; seeds 0..n-1 redraw splits and demonstrations",
    })
    client = make_llm_client(LLMConfig(model=model, threads=2), cache_path=RESULTS.parent / ".cache" / "scores.sqlite",
                             ledger_path=None)
    embedder = None
    for task in args.tasks.split(","):
        for method in args.methods.split(","):
            for seed in range(args.seeds):
                key = f"{task}/{method}/{seed}"
                if store.has(key):
                    continue
                if method == "kate" and embedder is None:
                    embedder = LlamaCppEmbedder(resolve_model(model), n_threads=2)
                splits = load_task_splits(task, seed=seed)
                t0 = time.perf_counter()
                base, _, cc = method.partition("+")
                res = evaluate_baseline(client, splits.task, base, splits.pool, splits.test, seed=seed,
                                        embed=embedder.embed if embedder else None,
                                        calibrate_on=splits.validation if cc else None)
                dt = time.perf_counter() - t0
                store.put(key, {**res.to_dict(), "seconds": dt})
                print(f"{key}: acc {100 * res.accuracy:.1f}% majority {res.majority_fraction:.2f} ({dt:.0f}s)", flush=True)
    summary = {}
    for task in args.tasks.split(","):
        for method in args.methods.split(","):
            accs = [store.get(f"{task}/{method}/{s}")["accuracy"] for s in range(args.seeds)
                    if store.has(f"{task}/{method}/{s}")]
            if accs:
                summary.setdefault(task, {})[method] = {"mean": float(np.mean(accs)), "std": float(np.std(accs)),
                                                        "n_seeds": len(accs)}
    store.save(summary=summary)
    write_markdown(summary, store.data["meta"])
    for task, rows in summary.items():
        print(task, {m: f"{100 * r['mean']:.1f}±{100 * r['std']:.1f}" for m, r in rows.items()})


def write_markdown(summary: dict, meta: dict) -> None:
    """baselines.md: one row per method, one column per task (accuracy %, mean ± std over seeds)."""
    tasks = list(summary)
    methods = list(dict.fromkeys(m for rows in summary.values() for m in rows))
    lines = [f"# Untuned baselines ({meta['model']}), accuracy % on the 200-example test split", "",
             meta["protocol"] + ". `+cc` = contextual calibration. KATE embeds with the same GGUF model "
             "(mean-pooled) and takes the nearest pool example of each class.", "",
             "| method | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    for m in methods:
        cells = [pct_band(summary[t][m]) if m in summary[t] else "–"
                 for t in tasks]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    (RESULTS / "baselines.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
