"""Does the fragment search space hold any signal? Every one-word fragment on the calibrated zero-shot prompt.

Why: over the fidelity table's tuned cells the pooled paired test has never kept the shared fragment
(docs/fidelity-history.md, session 20). That is either right (the words do nothing the test could
see) or a failure of training to find the words that help. This study scores the whole space one
word at a time, with no demonstrations in the way: the manual prompt with each word of the run's own
vocabulary (what a default run mines and merges, ``job.prepare``) as its fragment, " Note: <word>."
in the instruction, on every validation and test example of a split seed.

Each prompt is calibrated with its own prior, the mean answer over all validation inputs (what a run
pools for the zero-shot prompt). Per cell: the no-fragment prompt, every word's validation and test
accuracy, the word a plain pick on validation takes (ties to the first in vocabulary order, and the
tied words' test accuracy), the best word on test (an oracle, not a result), the spread over words,
the validation-test correlation over words, and the picked word against no fragment paired on test.

    python -m bench.fragment_study --tasks subj --threads 1        # resumable cell by cell
    python -m bench.fragment_study --summary-only                   # rewrite fragment_study.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from asyndbt import job
from asyndbt.prompt._calibration import estimate_prior, predictions_and_losses
from asyndbt.session import paired_z
from bench._common import RESULTS, CellStore, machine_info
from bench.fidelity import answer_bits, config, correct_bits

QUERIES_PER_CALL = 4  # every word's prompt for one query goes back to back: the backend reuses the shared prefix


def fragment_cell(task: str, seed: int, threads: int, cache: str | None) -> dict[str, Any]:
    extra = [f"llm.cache_path={json.dumps(cache)}"] if cache else []
    cfg = config(task, "iid", threads, extra)
    prepared = job.prepare(cfg, seed=seed)
    env = prepared.pooled_env()  # every worker's validation examples, and the shared test set
    vocab = prepared.vocab
    if vocab[0] != "":
        raise RuntimeError(f"vocabulary entry 0 is {vocab[0]!r}, not the empty word: vocab.empty is off in the defaults?")
    prompts = [env.prompt([j], [], method="manual") for j in range(len(vocab))]
    val, test = list(env.validation), list(env.test)
    examples = val + test
    client = job.make_client(cfg, None)
    t0 = time.perf_counter()
    scores: list[list[Any]] = [[None] * len(examples) for _ in prompts]
    for start in range(0, len(examples), QUERIES_PER_CALL):
        part = range(start, min(start + QUERIES_PER_CALL, len(examples)))
        requests = [r for i in part for p in prompts for r in p.requests([examples[i].texts])]
        got = client.score(requests, purpose="fragment-study")
        for a, i in enumerate(part):
            for j in range(len(prompts)):
                scores[j][i] = got[a * len(prompts) + j]
    y_val = np.array([e.label for e in val])
    rows = []
    for j, word in enumerate(vocab):
        on_val, on_test = scores[j][: len(val)], scores[j][len(val):]
        prior = estimate_prior(on_val)
        hv = np.array(predictions_and_losses(on_val, None, prior)[0]) == y_val
        test_bits = correct_bits(predictions_and_losses(on_test, None, prior)[0], test)
        rows.append({"word": word, "val": float(hv.mean()), "test": float(answer_bits(test_bits).mean()),
                     "correct_test": test_bits})
    return {"vocab": list(vocab), "rows": rows, "n_val": len(val), "n_test": len(test),
            "wall_s": time.perf_counter() - t0}


def analyse(cell: dict[str, Any]) -> dict[str, Any]:
    """The cell's summary numbers (see the module docstring)."""
    none, words = cell["rows"][0], cell["rows"][1:]
    val = np.array([r["val"] for r in words])
    test = np.array([r["test"] for r in words])
    pick = max(words, key=lambda r: r["val"])  # the first maximal word in vocabulary order
    ties = [r for r in words if r["val"] == pick["val"]]
    oracle = max(words, key=lambda r: r["test"])
    base = answer_bits(none["correct_test"]).astype(bool)

    def vs_none(r: dict[str, Any]) -> dict[str, Any]:
        """Paired on test: examples only the word gets right (b), only no fragment (c), the runs' exact z."""
        z, b, c = paired_z(answer_bits(r["correct_test"]).astype(bool), base)
        return {"b": b, "c": c, "z": z}

    zs = [vs_none(r)["z"] for r in words]
    return {"none_val": none["val"], "none_test": none["test"], "words": len(words),
            "beat_none_val": int((val > none["val"]).sum()), "beat_none_test": int((test > none["test"]).sum()),
            "pick": pick["word"], "pick_val": pick["val"], "pick_test": pick["test"],
            "pick_ties": {r["word"]: r["test"] for r in ties},
            "pick_vs_none_test": vs_none(pick),
            "oracle": oracle["word"], "oracle_test": oracle["test"],
            "test_mean": float(test.mean()), "test_std": float(test.std(ddof=1)), "test_min": float(test.min()),
            "corr_val_test": float(np.corrcoef(val, test)[0, 1]),
            "help_z196": [r["word"] for r, z in zip(words, zs, strict=True) if z > 1.96],
            "hurt_z196": [r["word"] for r, z in zip(words, zs, strict=True) if z < -1.96]}


def write_summary(store: CellStore) -> None:
    cells_ = store.data["cells"]
    summary = {key: analyse(c) for key, c in sorted(cells_.items())}
    lines = ["# One-word fragments on the calibrated zero-shot prompt (bench/fragment_study.py)", "",
             "The manual prompt with each word of the run's own vocabulary (the default `vocab`: 50 mined words, "
             "merged over 3 IID workers) as its fragment, no demonstrations; each prompt calibrated on all "
             "validation inputs. Accuracy in %. *pick*: the best word on validation (ties: the first in "
             "vocabulary order; the tied words' test accuracy in brackets). *oracle*: the best word on test, an "
             "upper bound no run could pick. *z*: the picked word against no fragment, paired on test.", "",
             "| cell | no fragment (val / test) | words beating it (val / test) | pick: val / test | z | "
             "oracle | words on test: mean ± std (min) | r(val, test) | z beyond ±1.96 on test: helps / hurts | s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key, s in summary.items():
        ties = ", ".join(f"{w} {100 * t:.1f}" for w, t in s["pick_ties"].items())
        lines.append(
            f"| {key} | {100 * s['none_val']:.1f} / {100 * s['none_test']:.1f} | {s['beat_none_val']} / "
            f"{s['beat_none_test']} of {s['words']} | `{s['pick']}`: {100 * s['pick_val']:.1f} / "
            f"{100 * s['pick_test']:.1f} ({ties}) | {s['pick_vs_none_test']['z']:+.2f} | `{s['oracle']}` "
            f"{100 * s['oracle_test']:.1f} | {100 * s['test_mean']:.1f} ± {100 * s['test_std']:.1f} "
            f"({100 * s['test_min']:.1f}) | {s['corr_val_test']:.2f} | {', '.join(s['help_z196']) or '–'} / "
            f"{', '.join(s['hurt_z196']) or '–'} | {cells_[key]['wall_s']:.0f} |")
    store.save(summary=summary)
    (RESULTS / "fragment_study.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default="subj", help="comma-separated tasks")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", default=None, help="score cache (default: the benchmarks' bench/.cache/scores.sqlite)")
    ap.add_argument("--summary-only", action="store_true")
    args = ap.parse_args(argv)
    store = CellStore(RESULTS / "fragment_study.json", {
        "machine": machine_info(), "command": "python -m bench.fragment_study " + " ".join(argv or sys.argv[1:])})
    if not args.summary_only:
        for seed in range(args.seeds):
            for task in filter(None, args.tasks.split(",")):
                key = f"{task}/{seed}"
                if not store.has(key):
                    store.ensure(key, lambda t=task, s=seed: fragment_cell(t, s, args.threads, args.cache),
                                 lambda c: f"no fragment {100 * c['rows'][0]['test']:.1f} % on test")
                    write_summary(store)
    write_summary(store)


if __name__ == "__main__":
    main()
