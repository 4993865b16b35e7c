"""Fidelity table (issue 14): does the tuned prompt beat every untuned prompt, with one set of defaults?

Every method runs with the library's defaults (3 workers, the default budget, the selection protocol
of asyndbt.session) on the same splits and the same test set per seed, so rows are paired. Untuned
rows (`majority`, `manual`, `random-icl`, `kate`, each raw and `+cal`) share one scoring pass per
prompt and use the tuner's calibration function (prior estimated on the validation inputs). Tuned
rows are the mean over workers of each worker's exported prompt.

Cells are resumable: ``python -m bench.fidelity`` skips finished cells, so the table is built up over
several sittings; ``--only`` restricts a run to some cell groups; ``--summary-only`` rewrites the
summary and fidelity.md from the cells already stored. Each cell records its compute time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from asyndbt import job
from asyndbt.algorithm import AlgorithmConfig
from asyndbt.config import PartitionConfig, SimulationConfig, build_config
from asyndbt.evaluation import evaluate_baseline
from bench._common import RESULTS, CellStore, machine_info, pct_band

SIGNAL = ("sst2", "agnews", "trec", "subj")
ALL_TASKS = (*SIGNAL, "sst5", "cola", "mrpc", "qnli")
UNTUNED = ("majority", "manual", "random-icl", "kate")
UNTUNED_ROWS = tuple(r for b in UNTUNED for r in (b, b + "+cal"))
# Supplementary untuned rows, outside the issue's "best untuned": random demonstrations with as many
# per class as the tuner shows (algorithm.shots), so a gain from more demonstrations is not credited
# to the search. Their own cells (untuned-shots@K/...), so the older untuned cells stay valid.
SHOTS = AlgorithmConfig().shots
SHOTS_ROWS = (f"random-icl@{SHOTS}", f"random-icl@{SHOTS}+cal")
# One random set per seed is a lottery ticket: on SST-2 seed 0, five random sets of 4 per class scored
# 65.0-82.3 % calibrated on the same test set. The expected random set is the mean over SETS of them
# (set 0 is the untuned-shots cell's own set), the fair reference for what the search adds.
SETS = 5
SETS_ROWS = (f"random-icl@{SHOTS}x{SETS}", f"random-icl@{SHOTS}x{SETS}+cal")
# Other tasks with a random-icl@SHOTS row: SST-5, where AsynDBT's four-per-class prompts trail the
# calibrated one-shot random set (session 24), to measure whether the extra demonstrations pay there.
SHOTS_EXTRA = ("sst5",)
# which tuned methods run where (issue 14's table)
PLAN_IID = {"asyndbt": ALL_TASKS, "cendbt": SIGNAL, "random-search": SIGNAL, "sync-dbt": ("sst2", "agnews"),
            "bdpl": ("sst2", "agnews")}
PLAN_NONIID = {"asyndbt": SIGNAL}
ABLATIONS: dict[str, list[str]] = {
    "no-calibration": ["selection.calibrate=false"],
    "no-do-no-harm": ["selection.do_no_harm=false"],
    "old-optimiser": ["algorithm.optimizer=\"projected-adam\"", "algorithm.lr_p=0.05", "algorithm.lr_q=0.1"],
    "old-fragment-space": ["vocab.style=\"ngrams\"", "vocab.empty=false", "vocab.placement=\"every\"",
                           "algorithm.fragment_length=5"],
}
ABLATIONS["one-shot"] = ["algorithm.shots=1"]  # departure 16: the paper's one demonstration per class
ABLATIONS["no-beat-start"] = ["selection.beat_start=false"]  # departure 22: trained sets replace the start freely
# which variants run on which task: every variant on SST-2 and TREC (AG News cells take over an hour
# each at 1 thread; TREC is a win task at ~45 min). Both are tasks where tuned prompts win, so
# do-no-harm never changes their result; SUBJ, where the untuned prompt is kept, shows what it buys
# (its training is the default run's, so the score cache answers nearly every call).
ABLATION_PLAN: dict[str, tuple[str, ...]] = {"sst2": tuple(ABLATIONS), "trec": tuple(ABLATIONS),
                                              "subj": ("no-do-no-harm",)}
ABLATION_TASKS = tuple(ABLATION_PLAN)
UNTUNED_GROUPS = ("untuned", "untuned-shots", "random-sets")  # cell groups computed without tuning
# the selection rules a tuned cell was computed (or replayed unchanged) under; older cells have none
RULES = "session-27: beat_start, exact paired tests, pooled untuned choice, held-out pool in the tests"
# rules under which the starting set is named "start" (earlier cells may call it "argmax")
START_NAMED = (RULES, "session-26: beat_start, exact paired tests, pooled untuned choice",
               "session-19: beat_start, exact paired tests, untuned test", "session-18: beat_start, exact paired tests")
# the default LLM budget in worker steps: a tuned cell that recorded another was computed under older defaults
BUDGET = SimulationConfig().steps_per_worker * PartitionConfig().workers
PAIRED_METHODS = ("random-search", "cendbt")  # tuned references AsynDBT is compared with on the same seeds


def correct_bits(predictions: Any, examples: Any) -> str:
    """Per-example correctness on the test split as a string of 0/1 (cells of a seed share that split).

    Stored in every cell so two rows of one seed can be compared example by example (a paired test),
    which resolves differences far smaller than the spread over seeds.
    """
    return "".join("1" if int(p) == e.label else "0" for p, e in zip(predictions, examples, strict=True))


def config(task: str, partition: str, threads: int, extra: list[str] = (), track_test: bool = False):
    over = [f"task.name={task}", f"partition.scheme={partition}", "partition.alpha=0.5",
            f"output_dir={json.dumps(str(RESULTS.parent / '.runs'))}",
            f"llm.cache_path={json.dumps(str(RESULTS.parent / '.cache' / 'scores.sqlite'))}", f"llm.threads={threads}",
            f"simulation.track_test={'true' if track_test else 'false'}", *extra]
    return build_config(overrides=over)


class Bench:
    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.client = None
        self.embed = None

    def compute(self, group: str, kw: dict[str, Any]) -> dict[str, Any]:
        """One cell of ``group`` (see :func:`cells`): an untuned group's own method, else a tuned run."""
        fn = dict(zip(UNTUNED_GROUPS, (self.untuned, self.untuned_shots, self.random_sets), strict=True))
        t0 = time.process_time()
        out = fn.get(group, self.tuned)(**kw)
        # this process's CPU time (the llama.cpp thread included): the cell's cost even when other
        # processes share the cores, where ``wall_s`` would count their time too
        return {**out, "cpu_s": time.process_time() - t0}

    def client_for(self, cfg: Any) -> Any:
        self.client = self.client or job.make_client(cfg, None)
        return self.client

    def untuned(self, task: str, seed: int) -> dict[str, Any]:
        """Every untuned row on the test split, raw and calibrated (prior from the validation inputs)."""
        from asyndbt.llm import LlamaCppEmbedder, resolve_model

        cfg = config(task, "iid", self.threads)
        splits = job.load_splits(cfg, seed)
        client = self.client_for(cfg)
        t0 = time.perf_counter()
        counts = splits.label_counts("test")
        out: dict[str, Any] = {"majority": max(counts) / sum(counts), "majority+cal": max(counts) / sum(counts),
                               "n_test": len(splits.test), "n_validation": len(splits.validation)}
        top = int(np.argmax(counts))
        bits = {"majority": correct_bits([top] * len(splits.test), splits.test)}
        bits["majority+cal"] = bits["majority"]
        for base in ("manual", "random-icl", "kate"):
            if base == "kate" and self.embed is None:
                self.embed = LlamaCppEmbedder(resolve_model(cfg.llm.model), n_threads=self.threads).embed
            kw = {"seed": seed, "embed": self.embed if base == "kate" else None}
            raw = evaluate_baseline(client, splits.task, base, splits.pool, splits.test, **kw)
            cal = evaluate_baseline(client, splits.task, base, splits.pool, splits.test, calibrate_on=splits.validation[:100],
                                    **kw)
            out[base], out[base + "+cal"] = raw.accuracy, cal.accuracy
            bits[base], bits[base + "+cal"] = (correct_bits(r.predictions, splits.test) for r in (raw, cal))
        out["correct"] = bits
        out["wall_s"] = time.perf_counter() - t0
        return out

    def untuned_shots(self, task: str, seed: int, shots: int = SHOTS) -> dict[str, Any]:
        """Random demonstrations, ``shots`` per class, raw and calibrated (the supplementary rows)."""
        cfg = config(task, "iid", self.threads)
        splits = job.load_splits(cfg, seed)
        client = self.client_for(cfg)
        t0 = time.perf_counter()
        kw = {"seed": seed, "shots": shots}
        raw = evaluate_baseline(client, splits.task, "random-icl", splits.pool, splits.test, **kw)
        cal = evaluate_baseline(client, splits.task, "random-icl", splits.pool, splits.test,
                                calibrate_on=splits.validation[:100], **kw)
        return {f"random-icl@{shots}": raw.accuracy, f"random-icl@{shots}+cal": cal.accuracy,
                "correct": {f"random-icl@{shots}": correct_bits(raw.predictions, splits.test),
                            f"random-icl@{shots}+cal": correct_bits(cal.predictions, splits.test)},
                "wall_s": time.perf_counter() - t0}

    def random_sets(self, task: str, seed: int, shots: int = SHOTS, sets: int = SETS) -> dict[str, Any]:
        """``sets`` random demonstration sets of ``shots`` per class: each raw and calibrated, and their means."""
        cfg = config(task, "iid", self.threads)
        splits = job.load_splits(cfg, seed)
        client = self.client_for(cfg)
        t0 = time.perf_counter()
        raw, cal, bits = [], [], []
        for k in range(sets):
            kw = {"seed": seed + 1000 * k, "shots": shots}  # k = 0: the untuned-shots cell's own set
            raw.append(evaluate_baseline(client, splits.task, "random-icl", splits.pool, splits.test, **kw).accuracy)
            res = evaluate_baseline(client, splits.task, "random-icl", splits.pool, splits.test,
                                    calibrate_on=splits.validation[:100], **kw)
            cal.append(res.accuracy)
            bits.append(correct_bits(res.predictions, splits.test))
        return {SETS_ROWS[0]: float(np.mean(raw)), SETS_ROWS[1]: float(np.mean(cal)), "per_set_raw": raw,
                "per_set_cal": cal, "correct_per_set_cal": bits, "set_seeds": [seed + 1000 * k for k in range(sets)],
                "wall_s": time.perf_counter() - t0}

    def tuned(self, task: str, partition: str, method: str, seed: int, extra: list[str] = (),
              track_test: bool = False) -> dict[str, Any]:
        cfg = config(task, partition, self.threads, list(extra), track_test)
        prepared = job.prepare(cfg, seed=seed)
        client = self.client_for(cfg)
        before = client.ledger.totals()
        t0 = time.perf_counter()
        res = job.run_method(cfg, prepared, client, method=method, seed=seed)
        after = client.ledger.totals()
        accs = [r.accuracy for r in res.test]
        curve = [{k: h.get(k) for k in ("llm_calls", "val_accuracy_mean", "test_accuracy_mean", "server_step")}
                 for h in res.history]
        tests = [w.test for w in prepared.workers] if len(res.test) > 1 else [prepared.pooled_env().test]
        return {"accuracy": float(np.mean(accs)), "accuracy_per_worker": accs, "wall_s": time.perf_counter() - t0,
                "correct_per_worker": [correct_bits(r.predictions, t) for r, t in zip(res.test, tests, strict=True)],
                "llm_calls": after["requests"] - before["requests"],
                "backend_requests": after["backend_requests"] - before["backend_requests"],
                "train_requests": res.train_requests, "worker_steps": res.worker_steps,
                "winners": [w.get("winner") for w in res.selection.get("workers", [])],
                "tuned_won": [bool(w.get("tuned_won")) for w in res.selection.get("workers", [])],
                "mode": res.selection.get("mode"), "fragment_kept": res.selection.get("fragment_kept"),
                "fragment": list(res.global_fragment), "curve": curve, "rules": RULES}


def cells(seeds: int, only: set[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every cell of the table, most important first: (group, key, arguments).

    Order: the headline (untuned rows and AsynDBT on the signal tasks, all seeds), then the
    random-search control, non-IID, the other tuned methods, the ablations and the other tasks, so an
    interrupted build-up still answers the main question first.
    """
    out: list[tuple[str, str, dict[str, Any]]] = []

    def tuned(group: str, task: str, method: str, seed: int, partition: str = "iid", **extra: Any) -> None:
        prefix = "dirichlet" if partition == "dirichlet" else "iid"
        out.append((group, f"{prefix}/{task}/{method}/{seed}",
                    {"task": task, "partition": partition, "method": method, "seed": seed, **extra}))

    for seed in range(seeds):
        for task in SIGNAL:
            out.append(("untuned", f"untuned/{task}/{seed}", {"task": task, "seed": seed}))
            out.append(("untuned-shots", f"untuned-shots@{SHOTS}/{task}/{seed}", {"task": task, "seed": seed}))
            out.append(("random-sets", f"random-sets@{SHOTS}x{SETS}/{task}/{seed}", {"task": task, "seed": seed}))
            tuned("iid", task, "asyndbt", seed, track_test=True)
    for seed in range(seeds):
        for task in SIGNAL:
            tuned("iid", task, "random-search", seed)
    for seed in range(seeds):
        for task in SIGNAL:
            tuned("noniid", task, "asyndbt", seed, partition="dirichlet")
    for seed in range(seeds):
        for method in ("cendbt", "sync-dbt", "bdpl"):
            for task in PLAN_IID[method]:
                tuned("iid", task, method, seed)
    for seed in range(min(seeds, 2)):
        for task, variants in ABLATION_PLAN.items():
            for variant in variants:
                extra = ABLATIONS[variant]
                out.append(("ablation", f"ablation/{task}/{variant}/{seed}",
                            {"task": task, "partition": "iid", "method": "asyndbt", "seed": seed, "extra": extra}))
    for seed in range(seeds):
        for task in ALL_TASKS[len(SIGNAL):]:
            out.append(("untuned", f"untuned/{task}/{seed}", {"task": task, "seed": seed}))
            if task in SHOTS_EXTRA:
                out.append(("untuned-shots", f"untuned-shots@{SHOTS}/{task}/{seed}", {"task": task, "seed": seed}))
            tuned("iid", task, "asyndbt", seed)
    return [c for c in out if not only or c[0] in only]


def select_cells(seeds: int, only: str, keys: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The cells a run computes: the groups in ``only`` (all when empty), or exactly ``keys`` in their order.

    An unknown key is an error naming the closest known ones, so a typo does not silently compute nothing.
    """
    if not keys:
        return cells(seeds, set(filter(None, only.split(","))))
    known = {key: (group, key, kw) for group, key, kw in cells(seeds, set())}
    wanted = [k.strip() for k in keys.split(",") if k.strip()]
    unknown = [k for k in wanted if k not in known]
    if unknown:
        import difflib

        hints = {k: difflib.get_close_matches(k, known, n=3) for k in unknown}
        raise SystemExit(f"unknown cell keys (with --seeds {seeds}): {hints}; "
                         "keys look like untuned/sst2/0 or dirichlet/subj/asyndbt/1")
    return [known[k] for k in wanted]


def experiment_cell(name: str, overrides: list[str], group: str, key: str,
                    kw: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """A table cell recomputed under ``overrides``, stored as ``experiment/<name>/<key without its partition>``.

    Experiments never enter the summary; they answer "what would this change do" on the table's own
    splits and test sets, so they pair example by example with the cell they copy.
    """
    if group in UNTUNED_GROUPS or group == "ablation":
        raise SystemExit(f"--experiment applies to tuned iid/noniid cells, not {key}")
    if not overrides:
        raise SystemExit("--experiment needs at least one --set override (else it recomputes the cell itself)")
    partition = "" if kw["partition"] == "iid" else kw["partition"] + "/"
    return group, f"experiment/{name}/{partition}{key.split('/', 1)[1]}", {**kw, "extra": list(overrides)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="llama.cpp threads (1 when running shards side by side)")
    ap.add_argument("--only", default="", help="comma-separated cell groups: untuned, untuned-shots, random-sets, iid, noniid, "
                    "ablation")
    ap.add_argument("--tasks", default="", help="restrict to these tasks (comma-separated)")
    ap.add_argument("--keys", default="", help="compute exactly these cells, in this order (comma-separated keys "
                    "such as dirichlet/sst2/asyndbt/0), e.g. one list per shard when running shards side by side")
    ap.add_argument("--experiment", default="",
                    help="store the selected tuned cells under experiment/NAME/... computed with --set overrides (the "
                         "table's own cells stay as they are); e.g. --experiment orders-3 --set selection.demo_orders=3")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="config override for --experiment")
    ap.add_argument("--summary-only", action="store_true")
    ap.add_argument("--backfill-answers", action="store_true",
                    help="add per-example answers to cells stored without them (replayed from the score cache)")
    ap.add_argument("--replay-tuned", default="",
                    help="recompute every stored tuned cell with the current code (the score cache answers the calls "
                         "it made before); a cell whose result changed is replaced and its old version archived "
                         "under this name")
    ap.add_argument("--dry-run", action="store_true",
                    help="with --replay-tuned: print what the current code would change and store nothing; "
                         "only cells computed under the current rules are replayed (the score cache answers "
                         "them, about a second each), so a change to the selection rules is measured on the "
                         "whole table in a minute")
    args = ap.parse_args(argv)
    cfg0 = config("sst2", "iid", args.threads)
    store = CellStore(RESULTS / "fidelity.json", {
        "machine": machine_info(), "command": "python -m bench.fidelity " + " ".join(argv or sys.argv[1:]),
        "settings": {"defaults": cfg0.to_dict(), "algorithm": "asyndbt.algorithm.AlgorithmConfig defaults",
                     "non_iid": "partition.scheme=dirichlet, alpha=0.5", "ablations": ABLATIONS},
    })
    bench = Bench(args.threads)
    tasks = set(args.tasks.split(",")) if args.tasks else None
    if args.dry_run and not args.replay_tuned:
        raise SystemExit("--dry-run goes with --replay-tuned NAME (the name is not used: nothing is stored)")
    if args.replay_tuned:
        replay_tuned(store, bench, select_cells(args.seeds, args.only, args.keys), tasks, args.replay_tuned,
                     dry_run=args.dry_run)
        if args.dry_run:
            return
    elif args.backfill_answers:
        backfill_answers(store, bench, args.seeds, tasks)
    elif not args.summary_only:
        for group, key, kw in select_cells(args.seeds, args.only, args.keys):
            if args.experiment:
                group, key, kw = experiment_cell(args.experiment, args.overrides, group, key, kw)
            if store.has(key) or (tasks and kw["task"] not in tasks):
                continue
            store.ensure(key, lambda group=group, kw=kw: bench.compute(group, kw),
                         lambda c: f"{100 * next(v for k, v in c.items() if k != 'wall_s'):.1f}% ({c['wall_s']:.0f}s)")
    write_summary(store, args.seeds)


ANSWER_KEYS = ("correct", "correct_per_worker", "correct_per_set_cal")
COST_KEYS = ("wall_s", "cpu_s")  # what a cell cost when it was computed (see :func:`missing_cell_prices`)


def backend_requests(bench: Any) -> int:
    """LLM requests the bench's client has sent to the model so far (score-cache misses); 0 before it has one."""
    client = getattr(bench, "client", None)
    return int(client.ledger.totals()["backend_requests"]) if client else 0


def backfill_answers(store: CellStore, bench: Bench, seeds: int, tasks: set[str] | None) -> None:
    """Add per-example answers to cells stored before cells recorded them.

    Each such cell is computed again; the score cache answers its LLM calls, so this is cheap, and it is
    exact: the answers are kept only when the recomputed accuracies equal the stored ones (else the cell
    is left as it was and the mismatch printed). Nothing else in the stored cell changes.
    """
    for group, key, kw in cells(seeds, set()):
        cell = store.data["cells"].get(key)
        if cell is None or any(k in cell for k in ANSWER_KEYS) or (tasks and kw["task"] not in tasks):
            continue
        before = backend_requests(bench)
        new = bench.compute(group, kw)
        misses = backend_requests(bench) - before
        values = [k for k, v in cell.items() if isinstance(v, float) and k != "wall_s" and k in new]
        if any(abs(new[k] - cell[k]) > 1e-12 for k in values):
            print(f"{key}: recomputed {[new[k] for k in values]} != stored {[cell[k] for k in values]}; left as it was")
            continue
        store.put(key, {**cell, **{k: new[k] for k in ANSWER_KEYS if k in new}})
        print(f"{key}: answers added ({misses} LLM requests not in the cache)", flush=True)


def replay_tuned(store: CellStore, bench: Bench, selected: list[tuple[str, str, dict[str, Any]]],
                 tasks: set[str] | None, archive: str, *, dry_run: bool = False) -> list[str]:
    """Recompute the stored tuned cells after a change to the selection protocol or the default budget.

    Training makes the same calls as before (a smaller budget makes a prefix of them), so the score
    cache answers them; only prompts the new code exports for the first time are scored. A cell whose
    accuracy and budget are unchanged keeps its numbers (and gains per-example answers); any other is
    replaced, its old version kept under ``archive[<archive>]`` in the result file. The replaced cell
    keeps the original run's cost (a replay from the cache costs seconds; for a smaller budget the
    original cost is an upper bound). ``selected``: the cells to consider (see :func:`select_cells`).

    ``dry_run``: replay only the cells computed under the current ``RULES`` (the score cache answers
    them), print each result and store nothing: a change to the selection rules measured on the whole
    table in about a minute (session 24 measured and rejected one this way). Returns the keys whose
    accuracy or budget changed.
    """
    changed = []
    for group, key, kw in selected:
        cell = store.data["cells"].get(key)
        if cell is None or group in UNTUNED_GROUPS or (tasks and kw["task"] not in tasks):
            continue
        if dry_run and cell.get("rules") != RULES:
            print(f"{key}: skipped (computed under {cell.get('rules')!r}; the cache may not answer it)", flush=True)
            continue
        before = backend_requests(bench)
        new = bench.tuned(**kw)
        misses = backend_requests(bench) - before
        same_budget = cell.get("worker_steps") == new.get("worker_steps")
        same = abs(new["accuracy"] - cell["accuracy"]) < 1e-12 and same_budget
        changed += [] if same else [key]
        if dry_run:
            print(f"{key}: {100 * cell['accuracy']:.1f}% -> {100 * new['accuracy']:.1f}% (mode {new.get('mode')}, "
                  f"winners {new['winners']}, {misses} LLM requests not in the cache)"
                  f"{'' if same else '  CHANGED'}", flush=True)
            continue
        if same:
            store.put(key, {**cell, **{k: new[k] for k in ANSWER_KEYS if k in new}, "rules": RULES})
            print(f"{key}: unchanged ({100 * cell['accuracy']:.1f}%)", flush=True)
            continue
        store.archive(key, archive)
        cost = {k: cell[k] for k in COST_KEYS if k in cell}  # the cell's price stays the original run's
        budget = "" if same_budget else (f"; the original ran {cell.get('worker_steps')} worker steps, "
                                         f"so its cost is an upper bound for {new.get('worker_steps')}")
        store.put(key, {**new, **cost, "replay_wall_s": new["wall_s"],
                        "note": f"recomputed by --replay-tuned {archive} ({misses} LLM requests not in the score "
                                f"cache; its cost, wall_s and cpu_s where recorded, is the original run's{budget})"})
        print(f"{key}: {100 * cell['accuracy']:.1f}% -> {100 * new['accuracy']:.1f}% (mode {cell.get('mode')} -> "
              f"{new.get('mode')}, winners {new['winners']}, {new.get('worker_steps')} worker steps)", flush=True)
    return changed


def _band(values: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "n_seeds": len(values)}


def summarise(store: CellStore, seeds: int) -> dict[str, Any]:
    cells_ = store.data["cells"]
    summary: dict[str, dict[str, Any]] = {}
    noniid: dict[str, dict[str, Any]] = {}
    for task in ALL_TASKS:
        for row in UNTUNED_ROWS:
            vals = [cells_[k][row] for s in range(seeds) if (k := f"untuned/{task}/{s}") in cells_]
            if vals:
                summary.setdefault(row, {})[task] = _band(vals)
                if task in SIGNAL:
                    noniid.setdefault(row, {})[task] = _band(vals)
        for row in SHOTS_ROWS:
            vals = [cells_[k][row] for s in range(seeds) if (k := f"untuned-shots@{SHOTS}/{task}/{s}") in cells_]
            if vals:
                summary.setdefault(row, {})[task] = _band(vals)
        for row in SETS_ROWS:
            vals = [cells_[k][row] for s in range(seeds) if (k := f"random-sets@{SHOTS}x{SETS}/{task}/{s}") in cells_]
            if vals:
                summary.setdefault(row, {})[task] = _band(vals)
        for method in PLAN_IID:
            vals = [cells_[k]["accuracy"] for s in range(seeds) if (k := f"iid/{task}/{method}/{s}") in cells_]
            if vals:
                summary.setdefault(method, {})[task] = _band(vals)
        vals = [cells_[k]["accuracy"] for s in range(seeds) if (k := f"dirichlet/{task}/asyndbt/{s}") in cells_]
        if vals:
            noniid.setdefault("asyndbt", {})[task] = _band(vals)
    ablation: dict[str, dict[str, Any]] = {}
    for task in ABLATION_TASKS:
        for variant in ABLATIONS:
            vals = [cells_[k]["accuracy"] for s in range(seeds) if (k := f"ablation/{task}/{variant}/{s}") in cells_]
            if vals:
                ablation.setdefault(task, {})[variant] = _band(vals)
    curves: dict[str, list[dict[str, float]]] = {}
    for task in SIGNAL:
        runs = [cells_[k]["curve"] for s in range(seeds) if (k := f"iid/{task}/asyndbt/{s}") in cells_]
        if runs:
            n = min(len(r) for r in runs)
            curves[task] = [{"llm_calls": float(np.mean([r[i]["llm_calls"] for r in runs])),
                             "val_accuracy": float(np.mean([r[i]["val_accuracy_mean"] for r in runs])),
                             "test_accuracy": float(np.mean([r[i]["test_accuracy_mean"] for r in runs
                                                             if r[i].get("test_accuracy_mean") is not None] or [np.nan]))}
                            for i in range(n)]
    pairs = paired(cells_, seeds)
    return {"summary": summary, "summary_noniid": noniid, "paired": pairs,
            "paired_examples": paired_examples(cells_, seeds, pairs), "reference_bias": reference_bias(cells_, pairs),
            "ablation": ablation,
            "ablation_paired": ablation_paired(cells_, seeds), "curves": curves, "compute": compute_cost(cells_, seeds)}


REQUIRED_ABLATIONS = ("no-calibration", "no-do-no-harm", "old-optimiser", "old-fragment-space")  # the issue's list


def ablation_paired(cells_: dict[str, Any], seeds: int) -> dict[str, dict[str, Any]]:
    """Per ablation task and variant: AsynDBT (the defaults) minus the variant, on the seeds where both ran.

    Pairing by seed keeps the splits, partitions and sampling seeds equal, so a difference is the
    switched-off change's effect plus the run's own noise.
    """
    out: dict[str, dict[str, Any]] = {}
    for task in ABLATION_TASKS:
        for variant in ABLATIONS:
            both = [s for s in range(seeds)
                    if f"ablation/{task}/{variant}/{s}" in cells_ and f"iid/{task}/asyndbt/{s}" in cells_]
            if not both:
                continue
            diffs = [cells_[f"iid/{task}/asyndbt/{s}"]["accuracy"] - cells_[f"ablation/{task}/{variant}/{s}"]["accuracy"]
                     for s in both]
            entry = {"seeds": both, "diffs": diffs, "diff": float(np.mean(diffs))}
            bits = [(cells_[f"iid/{task}/asyndbt/{s}"].get("correct_per_worker"),
                     cells_[f"ablation/{task}/{variant}/{s}"].get("correct_per_worker")) for s in both]
            if all(a and b for a, b in bits):  # example by example: the test-sampling noise of the difference
                paired_ = _paired_diff(bits)
                entry.update(n=paired_["n"], se=paired_["se"])
            out.setdefault(task, {})[variant] = entry
    return out


def ablation_lines(ab: dict[str, dict[str, Any]]) -> list[str]:
    """The ablation part of the verdict: each change's effect, and whether the issue's minimum is covered."""
    lines = []
    for task, per in ab.items():
        for variant, e in per.items():
            each = ", ".join(f"{100 * d:+.1f}" for d in e["diffs"])
            paired_ = f", ± {196 * e['se']:.1f} (95 %) paired on {e['n']} test examples" if "se" in e else ""
            lines.append(f"- Ablation, {task}, seeds {e['seeds']}: AsynDBT minus {variant}: {100 * e['diff']:+.1f} "
                         f"points{paired_} (per seed {each}).")
    covered = [t for t, per in ab.items() if t in SIGNAL
               and all(len(per.get(v, {}).get("seeds", [])) >= 2 for v in REQUIRED_ABLATIONS)]
    lines.append(f"- Ablations with all of {list(REQUIRED_ABLATIONS)} on >= 2 seeds: {len(covered)} signal task(s) "
                 f"{covered} (the issue asks for 2).")
    return lines


def curve_lines(curves: dict[str, list[dict[str, float]]]) -> list[str]:
    """Whether each task's selected-prompt test accuracy ends at or above where it started (mean over seeds)."""
    lines = []
    for task, pts in curves.items():
        start, end = pts[0]["test_accuracy"], pts[-1]["test_accuracy"]
        if np.isnan(start) or np.isnan(end):
            continue
        ok = "ends at or above its start" if end >= start else "ENDS BELOW ITS START"
        lines.append(f"- Curve, {task}: selected prompts' test accuracy {100 * start:.1f} → {100 * end:.1f} % "
                     f"over {len(pts)} selection rounds: {ok}.")
    return lines


def paired(cells_: dict[str, Any], seeds: int) -> dict[str, dict[str, Any]]:
    """AsynDBT and every untuned row over the seeds where both were run, for the verdict.

    The tables show each row over all the seeds it has; a verdict that compared AsynDBT on seed 0 with
    untuned means over seeds 0-1 would not be paired (each seed has its own splits and test set).
    """
    out: dict[str, dict[str, Any]] = {}
    for part, prefix in (("iid", "iid"), ("noniid", "dirichlet")):
        for task in ALL_TASKS:
            both = [s for s in range(seeds)
                    if f"{prefix}/{task}/asyndbt/{s}" in cells_ and f"untuned/{task}/{s}" in cells_]
            if not both:
                continue
            rows = {row: _band([cells_[f"untuned/{task}/{s}"][row] for s in both]) for row in UNTUNED_ROWS}
            name = max(rows, key=lambda r: rows[r]["mean"])
            entry: dict[str, Any] = {"seeds": both, "asyndbt": _band([cells_[f"{prefix}/{task}/asyndbt/{s}"]["accuracy"]
                                                                       for s in both]),
                                     "best_untuned": name, "best_untuned_band": rows[name]}
            shots = [s for s in both if f"untuned-shots@{SHOTS}/{task}/{s}" in cells_]
            if shots == both:
                entry[SHOTS_ROWS[1]] = _band([cells_[f"untuned-shots@{SHOTS}/{task}/{s}"][SHOTS_ROWS[1]] for s in both])
            if all(f"random-sets@{SHOTS}x{SETS}/{task}/{s}" in cells_ for s in both):
                entry[SETS_ROWS[1]] = _band([cells_[f"random-sets@{SHOTS}x{SETS}/{task}/{s}"][SETS_ROWS[1]] for s in both])
            for method in PAIRED_METHODS:  # the optimiser's control and cenDBT, with AsynDBT on their seeds only
                ran = [s for s in both if f"{prefix}/{task}/{method}/{s}" in cells_]
                if ran:
                    tag = method.replace("-", "_")
                    entry[method] = _band([cells_[f"{prefix}/{task}/{method}/{s}"]["accuracy"] for s in ran])
                    entry[f"asyndbt_on_{tag}_seeds"] = _band([cells_[f"{prefix}/{task}/asyndbt/{s}"]["accuracy"]
                                                              for s in ran])
                    entry[f"{tag}_seeds"] = ran
            out.setdefault(part, {})[task] = entry
    return out


def answer_bits(bits: str) -> np.ndarray:
    """A stored string of per-example answers ("0110...") as a float array of 0/1."""
    return np.frombuffer(bits.encode("ascii"), dtype=np.uint8).astype(np.float64) - ord("0")


def _mean_bits(many: list[str]) -> np.ndarray:
    """Per-example share of correct answers over several prompts (workers, or random sets)."""
    return np.mean([answer_bits(b) for b in many], axis=0)


def _paired_diff(pairs: list[tuple[list[str], list[str]]]) -> dict[str, Any]:
    """Mean and standard error over test examples of (share right in ``ours``) minus (share right in ``theirs``)."""
    d = np.concatenate([_mean_bits(ours) - _mean_bits(theirs) for ours, theirs in pairs])
    return {"n": int(d.size), "diff": float(d.mean()),
            "se": float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("nan")}


def _reference_bits(cells_: dict[str, Any], prefix: str, task: str, ref: str, seed: int) -> list[str] | None:
    """A reference row's stored per-example answers for one seed (None where the cell has none)."""
    if ref in PAIRED_METHODS:
        bits = cells_.get(f"{prefix}/{task}/{ref}/{seed}", {}).get("correct_per_worker")
    elif ref == SETS_ROWS[1]:
        bits = cells_.get(f"random-sets@{SHOTS}x{SETS}/{task}/{seed}", {}).get("correct_per_set_cal")
    elif ref in SHOTS_ROWS:
        one = cells_.get(f"untuned-shots@{SHOTS}/{task}/{seed}", {}).get("correct", {}).get(ref)
        bits = [one] if one else None
    else:
        one = cells_.get(f"untuned/{task}/{seed}", {}).get("correct", {}).get(ref)
        bits = [one] if one else None
    return bits or None


def paired_examples(cells_: dict[str, Any], seeds: int, pairs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """AsynDBT minus each reference, example by example, pooled over the seeds where both stored their answers.

    Per test example the difference is (share of AsynDBT's worker prompts that are right) minus (the
    reference's share: 0/1 for one prompt, the mean over workers or random sets otherwise). Its mean
    and standard error over all pooled examples give an interval for the test-sampling noise of the
    comparison, given the runs; the spread of whole runs over seeds is in the main table.
    """
    out: dict[str, dict[str, Any]] = {}
    for part, prefix in (("iid", "iid"), ("noniid", "dirichlet")):
        for task, entry in pairs.get(part, {}).items():
            best = entry["best_untuned"]
            for ref in (best, SHOTS_ROWS[1], SETS_ROWS[1], *PAIRED_METHODS):
                bits, used = [], []
                for s in range(seeds):
                    ours = cells_.get(f"{prefix}/{task}/asyndbt/{s}", {}).get("correct_per_worker")
                    theirs = _reference_bits(cells_, prefix, task, ref, s)
                    if ours and theirs:
                        bits.append((ours, theirs))
                        used.append(s)
                if not bits:
                    continue
                name = f"best untuned ({ref})" if ref == best else ref
                out.setdefault(part, {}).setdefault(task, {})[name] = {"seeds": used, **_paired_diff(bits)}
    return out


def reference_bias(cells_: dict[str, Any], pairs: dict[str, Any], splits: int = 200) -> dict[str, dict[str, Any]]:
    """How much "best untuned" owes to being picked on the test set it is scored on, per task.

    The do-no-harm rule compares AsynDBT, whose prompt was chosen on validation, with the best of eight
    untuned rows chosen after the fact on test. Where the rows are level (a task the model cannot do),
    that maximum sits above every row's true accuracy by test noise alone. Cross-fitting measures it:
    pick the best row on a random half of the pooled test examples, score it on the other half, both
    ways, over ``splits`` seeded splits. ``bias`` = post-hoc best minus cross-fitted best; picking on
    half the examples is noisier than on all of them, so it is an upper estimate. The seeds are the
    verdict's (IID), and only where every untuned row stored per-example answers.
    """
    out: dict[str, dict[str, Any]] = {}
    rng = np.random.default_rng(0)
    for task, entry in pairs.get("iid", {}).items():
        stored = [[_reference_bits(cells_, "iid", task, r, s) for s in entry["seeds"]] for r in UNTUNED_ROWS]
        if any(b is None for row in stored for b in row):
            continue
        bits = np.array([np.concatenate([answer_bits(b[0]) for b in row]) for row in stored])
        n = bits.shape[1]
        post_hoc = float(bits.mean(axis=1).max())
        held, picked = [], []
        for _ in range(splits):
            half = np.zeros(n, dtype=bool)
            half[rng.permutation(n)[: n // 2]] = True
            for pick_on in (half, ~half):
                best = int(np.argmax(bits[:, pick_on].mean(axis=1)))
                held.append(float(bits[best, ~pick_on].mean()))
                picked.append(UNTUNED_ROWS[best])
        cross = float(np.mean(held))
        ours = [cells_.get(f"iid/{task}/asyndbt/{s}", {}).get("correct_per_worker") for s in entry["seeds"]]
        row: dict[str, Any] = {"seeds": entry["seeds"], "n": n, "splits": splits, "post_hoc": post_hoc, "cross_fitted": cross,
                               "bias": post_hoc - cross, "most_picked": max(set(picked), key=picked.count)}
        if all(ours):
            row["asyndbt"] = float(np.concatenate([_mean_bits(b) for b in ours]).mean())
        out[task] = row
    return out


def reference_bias_lines(bias: dict[str, dict[str, Any]]) -> list[str]:
    """fidelity.md's lines on the post-hoc reference's own selection bias (supplementary, not the verdict)."""
    if not bias:
        return []
    splits = next(iter(bias.values()))["splits"]
    lines = ["## How much \"best untuned\" owes to being picked on test (supplementary)", "",
             "The verdict's reference is the best of the eight untuned rows, picked on the test set it is scored on. "
             f"Cross-fitted: picked on a random half of the pooled test examples and scored on the other half ({splits} "
             "splits, both ways); the gap is what the post-hoc pick gains from test noise (an upper estimate). The "
             "verdict above is unchanged by this section.", "",
             "| task | examples | best untuned, post hoc | cross-fitted | gap | most often picked | AsynDBT |",
             "|---|---|---|---|---|---|---|"]
    for task, b in bias.items():
        ours = f"{100 * b['asyndbt']:.1f}" if "asyndbt" in b else "–"
        lines.append(f"| {task} | {b['n']} | {100 * b['post_hoc']:.1f} | {100 * b['cross_fitted']:.1f} | "
                     f"{100 * b['bias']:+.1f} | {b['most_picked']} | {ours} |")
    return [*lines, ""]


def paired_lines(out: dict[str, Any]) -> list[str]:
    """fidelity.md's example-paired comparisons (95 % intervals over test examples)."""
    rows = [(part, task, ref, e) for part, tasks in out.get("paired_examples", {}).items()
            for task, refs in tasks.items() for ref, e in refs.items()]
    if not rows:
        return []
    lines = ["## AsynDBT against the references, paired on test examples", "",
             "Difference in accuracy points, with a 95 % interval over the pooled test examples of the seeds where "
             "both cells stored per-example answers (test-sampling noise only: the spread of whole runs over seeds "
             "is in the tables above). An interval that contains 0 is no evidence either way.", "",
             "| partition | task | reference | seeds | examples | AsynDBT − reference |", "|---|---|---|---|---|---|"]
    for part, task, ref, e in rows:
        lines.append(f"| {part} | {task} | {ref} | {e['seeds']} | {e['n']} | "
                     f"{100 * e['diff']:+.1f} ± {196 * e['se']:.1f} |")
    return [*lines, ""]


def verdict(out: dict[str, Any]) -> list[str]:
    """The issue's rules, computed on paired seeds (AsynDBT and the untuned rows on the same splits)."""
    lines = ["## Verdict (computed on the seeds where AsynDBT and the untuned rows both ran)", ""]
    for part, title in (("iid", "IID"), ("noniid", "non-IID (Dirichlet 0.5)")):
        wins, harm = [], []
        for task, e in out["paired"].get(part, {}).items():
            ours, name, b = e["asyndbt"], e["best_untuned"], e["best_untuned_band"]
            gain = 100 * (ours["mean"] - b["mean"])
            win = gain >= 3 and ours["mean"] - ours["std"] > b["mean"] + b["std"]
            wins += [task] if win and task in SIGNAL else []
            harm += [task] if gain < -1 else []
            provisional = " (provisional: fewer than 3 seeds)" if len(e["seeds"]) < 3 else ""
            lines.append(f"- {title} {task}, seeds {e['seeds']}: AsynDBT {pct_band(ours)} vs best untuned "
                         f"{name} {pct_band(b)}: {gain:+.1f} points{' — WIN' if win else ''}{provisional}"
                         f"{' — HARM (> 1 point below)' if gain < -1 else ''}")
        lines.append(f"- {title}: wins on {len(wins)} signal task(s) {wins}; more than 1 point below the best "
                     f"untuned row on {len(harm)} task(s) {harm}.")
        lines.append("")
    for task, e in out["paired"].get("iid", {}).items():
        for row, what in ((SHOTS_ROWS[1], "one random set"), (SETS_ROWS[1], f"the mean of {SETS} random sets")):
            if row in e:
                gap = 100 * (e["asyndbt"]["mean"] - e[row]["mean"])
                lines.append(f"- Supplementary, {task}, seeds {e['seeds']}: AsynDBT vs {row} ({what} of {SHOTS} per "
                             f"class, calibrated, untuned): {gap:+.1f} points.")
        if "random-search" in e:
            gap = 100 * (e["asyndbt_on_random_search_seeds"]["mean"] - e["random-search"]["mean"])
            lines.append(f"- Control, {task}, seeds {e['random_search_seeds']}: AsynDBT "
                         f"{pct_band(e['asyndbt_on_random_search_seeds'])} vs random-search {pct_band(e['random-search'])}:"
                         f" {gap:+.1f} points (what the optimiser adds over sampling and selection alone).")
    pairs = {t: e for t, e in out["paired"].get("iid", {}).items() if t in SIGNAL and "random-search" in e}
    ahead = [t for t, e in pairs.items() if e["asyndbt_on_random_search_seeds"]["mean"] >= e["random-search"]["mean"]]
    lines.append(f"- AsynDBT mean >= random-search mean (on the seeds both ran) on {len(ahead)} of {len(pairs)} signal "
                 f"tasks {ahead}.")
    cen = {t: e for t, e in out["paired"].get("iid", {}).items() if t in SIGNAL and "cendbt" in e}
    for task, e in cen.items():
        lines.append(f"- cenDBT, {task}, seeds {e['cendbt_seeds']}: {pct_band(e['cendbt'])} vs AsynDBT "
                     f"{pct_band(e['asyndbt_on_cendbt_seeds'])} on the same seeds.")
    if cen:
        gap = 100 * float(np.mean([e["cendbt"]["mean"] - e["asyndbt_on_cendbt_seeds"]["mean"] for e in cen.values()]))
        provisional = "" if len(cen) == len(SIGNAL) else f" (provisional: {len(cen)} of {len(SIGNAL)} signal tasks)"
        lines.append(f"- cenDBT minus AsynDBT, averaged over {list(cen)} on the seeds cenDBT ran: {gap:+.1f} points "
                     f"(the issue asks for AsynDBT within 1.5){provisional}.")
    return [*lines, *ablation_lines(out.get("ablation_paired", {})), *curve_lines(out.get("curves", {}))]


TRAINED = ("argmax", "elite-")  # winner names of demonstration sets the run found (not "start", not untuned)


def trained_lines(cells_: dict[str, Any]) -> list[str]:
    """How often training's own sets were exported: the rest export the starting set or an untuned prompt.

    Only cells computed or replayed under rules that name the starting set (``START_NAMED``) count:
    older ones may call it "argmax".
    """
    lines = []
    for method in ("asyndbt", "random-search"):
        runs = {k: c for k, c in cells_.items() if k.startswith(("iid/", "dirichlet/")) and f"/{method}/" in k
                and c.get("winners") and c.get("rules") in START_NAMED}
        kept = sorted(k for k, c in runs.items() if any(str(w).startswith(TRAINED) for w in c["winners"]))
        if runs:
            lines.append(f"- {method}: a worker exports a demonstration set found in training (not its starting "
                         f"set, not an untuned prompt) in {len(kept)} of {len(runs)} runs under the "
                         f"session-18 or later selection rules: {kept}.")
    return lines


def stale_lines(cells_: dict[str, Any]) -> list[str]:
    """Which tuned cells behind the verdict and the controls predate the current rules or the current budget.

    Rules (``RULES``): numbers from an older selection protocol; a task whose seeds mix protocols
    has a verdict that the current code may not reproduce (AG News seed 0 fell from 69.1 to 64.7 % when
    replayed in session 20), and a control computed under older rules is not compared like with like.
    Budget (``BUDGET``): a cell that recorded another number of worker steps ran under older defaults.
    AsynDBT cells are named by partition and task, the other methods' with the method after the task.
    """
    rules_stale: dict[str, dict[str, list[int]]] = {}  # rules label -> cell name -> seeds
    budget_stale: dict[tuple[str, int], list[int]] = {}
    for key, cell in cells_.items():
        part, task, method, seed = (key.split("/") + ["", "", "", ""])[:4]
        if part not in ("iid", "dirichlet") or not method:
            continue
        name = f"{'IID' if part == 'iid' else 'non-IID'} {task}" + ("" if method == "asyndbt" else f" {method}")
        if cell.get("rules") != RULES:
            rules = cell.get("rules")
            label = f"the {str(rules).split(':')[0]} rules" if rules else "rules older than session 18"
            rules_stale.setdefault(label, {}).setdefault(name, []).append(int(seed))
        steps = cell.get("worker_steps")
        if steps is not None and steps != BUDGET:
            budget_stale.setdefault((name, int(steps)), []).append(int(seed))
    current = RULES.split(":")[0]
    lines = [f"- Older rules: computed under {label}, not the current ({current}), and not recomputed since (the "
             "tables and the verdict above use them as they are): "
             + "; ".join(f"{name} seeds {sorted(seeds)}" for name, seeds in sorted(names.items())) + "."
             for label, names in sorted(rules_stale.items())]
    return lines + [f"- Older budget: {name} seeds {sorted(seeds)} ran {steps} worker steps (the default is now "
                    f"{BUDGET}) and were not recomputed since; the tables and the verdict above use them as they are."
                    for (name, steps), seeds in sorted(budget_stale.items())]


def missing_cell_prices(cells_: dict[str, Any], seeds: int) -> tuple[dict[str, float], dict[str, float]]:
    """Core-seconds of the planned table's finished cells, and an estimate for each missing one.

    A missing cell is priced at the mean of the finished cells of its group and task, else of its
    group, else of all finished tuned cells.
    """
    planned = cells(seeds, set())
    done = {key: float(cells_[key].get("cpu_s", cells_[key]["wall_s"])) for _, key, _ in planned
            if key in cells_ and "wall_s" in cells_[key]}
    by_group_task: dict[tuple[str, str], list[float]] = {}
    by_group: dict[str, list[float]] = {}
    for group, key, kw in planned:
        if key in done:
            by_group_task.setdefault((group, kw["task"]), []).append(done[key])
            by_group.setdefault(group, []).append(done[key])
    tuned = [w for g, ws in by_group.items() if g not in UNTUNED_GROUPS for w in ws]
    missing = {key: float(np.mean(by_group_task.get((group, kw["task"])) or by_group.get(group) or tuned or [np.nan]))
               for group, key, kw in planned if key not in done}
    return done, missing


def compute_cost(cells_: dict[str, Any], seeds: int) -> dict[str, Any]:
    """Core-hours spent on the table so far and a projection for the cells still missing.

    Cells run one llama.cpp thread each, two side by side on 2 cores, so a cell's cost in core-seconds
    is its ``cpu_s`` (recorded since session 15), else its ``wall_s``, and the table's wall time on 2
    cores is about half their sum. Cells that found some calls in the score cache ran faster than a
    fresh checkout would, so the figures are lower bounds.
    """
    done, missing = missing_cell_prices(cells_, seeds)
    spent, left = sum(done.values()), sum(missing.values())
    return {"cells_done": len(done), "cells_missing": len(missing), "core_hours_done": spent / 3600,
            "core_hours_missing_estimate": left / 3600, "hours_on_2_cores_estimate": (spent + left) / 7200,
            "target_hours_on_2_cores": 8.0}


def cost_lines(cost: dict[str, Any]) -> list[str]:
    """fidelity.md's compute section: what the table has cost and what the rest would cost."""
    return ["## Compute", "",
            f"{cost['cells_done']} cells of the planned table are done in {cost['core_hours_done']:.1f} core-hours "
            f"(one llama.cpp thread per cell); the {cost['cells_missing']} missing cells would take about "
            f"{cost['core_hours_missing_estimate']:.1f} more, priced at the mean of finished cells of the same kind. "
            f"The whole table: about {cost['hours_on_2_cores_estimate']:.1f} hours on 2 cores (issue target: "
            f"≤ {cost['target_hours_on_2_cores']:.0f}). Cells that found calls in the score cache ran faster than a "
            "fresh checkout would, so these are lower bounds.", ""]


def plot_curves(curves: dict[str, list[dict[str, float]]]) -> bool:
    """fidelity_curves.png: one panel per signal task, validation and test accuracy against LLM calls."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        print(f"no curves plot: matplotlib is missing ({exc})", file=sys.stderr)
        return False
    fig, axes = plt.subplots(1, len(curves), figsize=(4 * len(curves), 3.2), squeeze=False)
    for ax, (task, pts) in zip(axes[0], curves.items(), strict=True):
        calls = [p["llm_calls"] for p in pts]
        for key, style in (("val_accuracy", "o-"), ("test_accuracy", "s--")):
            ax.plot(calls, [100 * p[key] for p in pts], style, label=key.split("_")[0])
        ax.set_title(task)
        ax.set_xlabel("LLM calls")
        ax.set_ylabel("accuracy (%)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "fidelity_curves.png", dpi=110)
    plt.close(fig)
    return True


def write_summary(store: CellStore, seeds: int) -> None:
    out = summarise(store, seeds)
    store.save(**out)
    lines = ["# Fidelity: test accuracy (%), mean ± std over seeds", "",
             "Defaults everywhere (3 workers; test split of 300 per seed, the same for every row of a seed). Tuned "
             "rows: mean over workers of each worker's exported prompt. `+cal`: the tuner's calibration function "
             "(prior = mean label distribution on the validation inputs). `n` = seeds done; a missing cell is not "
             f"run yet (the benchmark resumes). `random-icl@{SHOTS}`: supplementary, {SHOTS} random demonstrations per "
             "class (as many as the tuner shows, `algorithm.shots`), one set per seed; "
             f"`random-icl@{SHOTS}x{SETS}`: the mean of {SETS} such sets per seed (the expected random set; one set "
             "is a lottery ticket). Neither is one of the eight rows behind \"best untuned\". Cells of earlier "
             "defaults are kept under `archive` in fidelity.json.", ""]
    for title, rows in (("IID", out["summary"]), ("Non-IID (Dirichlet α = 0.5)", out["summary_noniid"])):
        tasks = [t for t in ALL_TASKS if any(t in r for r in rows.values())]
        if not tasks:
            continue
        lines += [f"## {title}", "", "| method | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
        for method, per in rows.items():
            lines.append(f"| {method} | " + " | ".join(f"{pct_band(per[t])} (n={per[t]['n_seeds']})" if t in per else "–"
                                                      for t in tasks) + " |")
        lines.append("")
    if out["ablation"]:
        variants = list(ABLATIONS)
        lines += ["## Ablations (AsynDBT with one change switched off)", "",
                  "| task | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
        for task, per in out["ablation"].items():
            lines.append(f"| {task} | " + " | ".join(f"{pct_band(per[v])} (n={per[v]['n_seeds']})" if v in per else "–"
                                                     for v in variants) + " |")
        lines.append("")
    if out["curves"] and plot_curves(out["curves"]):
        lines += ["## Curves", "", "Validation and test accuracy of the currently selected prompts against LLM calls "
                  "(mean over seeds and workers): ![curves](fidelity_curves.png)", ""]
    lines += paired_lines(out)
    lines += verdict(out)
    lines += trained_lines(store.data["cells"])
    lines += stale_lines(store.data["cells"])
    lines += ["", *reference_bias_lines(out["reference_bias"])]
    lines += cost_lines(out["compute"])
    (RESULTS / "fidelity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
