"""What the CLI commands do, as plain functions (usable from Python and tests)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from asyndbt.config import LLMConfig, RunConfig
from asyndbt.errors import DataError
from asyndbt.evaluation import BASELINES, evaluate_baseline, evaluate_prompt, majority_rate
from asyndbt.prompt import TunedPrompt
from asyndbt.prompt._calibration import calibrated_logprobs
from asyndbt.runtime import RunDir, RunResult, write_json_atomic
from asyndbt.session._export import export_prompt
from asyndbt.session._selection import worker_random_prompt

BASELINE_ALIASES = {"zero-shot": "manual"}


def canonical_baseline(name: str) -> str:
    """The baseline's own name for an alias (``zero-shot`` is the manual prompt); other names unchanged."""
    return BASELINE_ALIASES.get(name, name)


def _embedder(model: str | None) -> Any:
    from asyndbt.llm import LlamaCppEmbedder, resolve_model

    return LlamaCppEmbedder(resolve_model(model)).embed


def _default_cache(output_dir: str | Path) -> Path:
    return Path(output_dir) / ".cache" / "scores.sqlite"


def evaluate_baselines_per_worker(
    client: Any, prepared: Any, methods: Sequence[str], *, seed: int, model: str | None = None
) -> dict[str, list[float]]:
    """Each baseline on each worker's test split, raw and calibrated (``<name>+cal``).

    A worker's baselines use only its own demonstration pool, and their calibration prior is
    estimated on its own validation inputs with the tuner's calibration function; raw and calibrated
    share one scoring pass (the cache serves the second). ``random-icl`` is each worker's own untuned
    random set (``random-icl-0`` of its selection, fixed by ``seed``), so the report compares the
    tuned prompt with the random prompt the run could have kept.
    """
    out: dict[str, list[float]] = {}
    embed = _embedder(model) if "kate" in methods else None
    envs = prepared.federated_envs()
    for m in methods:
        m = canonical_baseline(m)
        for cal in (False, True):
            name = m + ("+cal" if cal else "")
            calibrate_on = [w.validation if cal else None for w in prepared.workers]
            if m == "random-icl":  # the worker's own untuned random set, the one its selection could keep
                out[name] = [evaluate_prompt(client, worker_random_prompt(env, seed), w.test, calibrate_on=c,
                                             purpose="eval/random-icl").accuracy
                             for env, w, c in zip(envs, prepared.workers, calibrate_on, strict=True)]
                continue
            out[name] = [
                evaluate_baseline(client, prepared.task, m, w.pool, w.test, seed=seed, embed=embed,
                                  calibrate_on=c).accuracy
                for w, c in zip(prepared.workers, calibrate_on, strict=True)
            ]
    return out


def export_prompts(rundir: RunDir, result: RunResult, task: Any, llm: LLMConfig | None = None) -> dict[str, str]:
    """Write every tuned prompt as JSON (for `asyndbt predict`) and return readable renderings.

    Each file records the LLM it was tuned with and why the selection protocol chose it.
    """
    shown: dict[str, str] = {}
    workers = result.selection.get("workers", [])
    for i, p in enumerate(result.prompts):
        name = f"worker{p.worker}" if len(result.prompts) > 1 else "central"
        export_prompt(p, workers[i] if i < len(workers) else None, llm, rundir.path / "prompts" / f"{name}.json")
        demo_text = p.requests([("<query>",) * len(task.text_fields)])[0].prompt
        if p.orders:
            demo_text += f"\n(answers averaged over {len(p.orders)} orders of these demonstrations; this is the first)"
        shown[name] = demo_text
    glob = TunedPrompt(task, result.global_fragment, (), method=result.method)
    glob.save(rundir.path / "prompts" / "global_fragment.json")
    shown["global fragment (no demonstrations)"] = glob.fragment or "(empty)"
    return shown


def finish_run(
    cfg: RunConfig, prepared: Any, client: Any, rundir: RunDir, result: RunResult, baselines: Sequence[str],
    console: Console, on_evaluated: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Export prompts, evaluate reference baselines, write results.json and report.md, print a summary.

    ``on_evaluated`` runs once the last LLM request is answered, before anything is printed (the CLI
    closes its live progress display there).
    """
    from asyndbt.reports import write_report

    for b in baselines:
        if canonical_baseline(b) not in BASELINES:
            raise DataError(f"unknown baseline {b!r}; choose from {', '.join(BASELINES)}")
    shown = export_prompts(rundir, result, prepared.task, cfg.llm)
    if result.stopped_by == "budget":
        console.print("[yellow]stopped: an LLM budget was reached[/]; prompts exported, no test evaluation. "
                      f"Raise the budget and continue with `asyndbt run --resume {rundir.path}`.")
        baselines = []
    base = evaluate_baselines_per_worker(client, prepared, baselines, seed=cfg.seed, model=cfg.llm.model)
    if on_evaluated is not None:
        on_evaluated()
    tuned = [r.accuracy for r in result.test]
    majority = [majority_rate(w.test) for w in prepared.workers] if tuned else []
    if len(tuned) == 1 and len(majority) > 1:  # one central prompt, scored on the pooled test examples
        majority = [majority_rate(prepared.pooled_env().test)]
    rows = [{"method": MAJORITY_ROW, "accuracies": majority}] if tuned else []
    rows += [{"method": m, "accuracies": a} for m, a in base.items()]
    rows.append({"method": result.method, "accuracies": tuned,
                 "train_requests": result.train_requests, "virtual_time": result.virtual_time})
    warning = below_majority_warning(tuned, majority)
    ledger = client.ledger.totals() if getattr(client, "ledger", None) else None
    by_phase = client.ledger.by_phase() if ledger is not None else None
    results = {"task": prepared.task.name, "synthetic": prepared.task.synthetic, "notes": list(prepared.notes),
               "result": result.summary(), "baselines": base, "majority_class": majority, "ledger": ledger,
               "ledger_by_phase": by_phase}
    rundir.write_results(results)
    report = write_report(rundir.path, title=f"asyndbt run: {result.method} on {prepared.task.name}",
                          notes=list(prepared.notes) + [f"stopped by {result.stopped_by}",
                                                        f"{result.worker_steps} worker steps, "
                                                        f"{result.server_steps} server steps"]
                          + ([f"warning: {warning}"] if warning else []),
                          rows=rows, histories={result.method: result.history}, prompts=shown, ledger=ledger,
                          usage_by_phase=by_phase, why=selection_reasons(result.selection))
    table = Table("method", "test accuracy (mean over workers)", "per worker")
    for r in rows:
        if not r["accuracies"]:
            continue
        table.add_row(r["method"], f"{100 * float(np.mean(r['accuracies'])):.1f}%",
                      " ".join(f"{100 * a:.1f}" for a in r["accuracies"]))
    console.print(table)
    if warning:
        console.print(f"[yellow]warning:[/] {warning}")
    if ledger:
        cost = f", estimated cost {ledger['cost']:.4f}" if ledger.get("cost") else ""
        console.print(f"LLM: {ledger['requests']:,.0f} requests, {ledger['cache_hits']:,.0f} answered by the cache, "
                      f"{ledger['latency_s'] / 60:.1f} min of LLM time{cost} (report.md breaks it down by phase)")
    console.print(f"tuned prompts: {rundir.path / 'prompts'}  ·  report: {report}")
    return results


def selection_reasons(selection: dict[str, Any]) -> list[str]:
    """One line per worker: which candidate it exports and why (the selection record's own words)."""
    out = []
    for i, w in enumerate(selection.get("workers", [])):
        if w.get("why"):
            out.append(f"worker {i}: exports {w.get('winner', '?')} ({w.get('mode', '?')}): {w['why']}")
    if out and "fragment_kept" in selection:
        frag = " ".join(selection.get("fragment") or []) or "(empty)"
        out.append(f"shared fragment {'kept' if selection['fragment_kept'] else 'not used'}: {frag}")
    if out and selection.get("start_test"):
        z = float(selection["start_test"].get("z", 0.0))
        out.append("trained demonstration sets " + ("did not beat the starting sets: each worker's tuned candidate is "
                                                   f"its starting set (z={z:.2f})" if selection.get("start_kept")
                                                   else f"beat the starting sets (z={z:.2f})"))
    choice = selection.get("untuned_choice") or {}
    if out and "random_kept" in choice:
        kept = "each worker's random set" if choice["random_kept"] else "the manual prompt"
        hits = f"{choice.get('random_hits', 0):.0f} vs {choice.get('zero_shot_hits', 0):.0f}"
        out.append(f"untuned incumbent: {kept} ({hits} hits for the random sets vs the manual prompt, "
                   f"{choice.get('mode', '?')}, pooled over {choice.get('examples', 0)} labelled examples of every worker)")
    return out


MAJORITY_ROW = "majority class (no LLM)"


def below_majority_warning(tuned: Sequence[float], majority: Sequence[float], margin: float = 0.01) -> str | None:
    """A warning when the tuned prompts classify worse than always answering the most frequent label.

    On skewed data a weak model can lose to that constant even after tuning; a user should hear it from
    the run rather than find it in production. ``margin``: how far below (a fraction) counts.
    """
    t, m = (float(np.mean(x)) if len(x) else float("nan") for x in (tuned, majority))
    if not (t < m - margin):  # nan compares False: nothing to say
        return None
    return (f"the tuned prompts score {100 * t:.1f}% on test, below the {100 * m:.1f}% of always answering each "
            "worker's most frequent label: this LLM adds little on this task; try a stronger model "
            "(docs/llm.md) or more demonstrations (algorithm.shots)")


def compare_requests(cfg: RunConfig, prepared: Any, methods: Sequence[str]) -> int:
    """Pre-run estimate of one seed's score requests in a comparison (tuned runs and baselines)."""
    from asyndbt import job

    total = 0
    for m in methods:
        if canonical_baseline(m) in BASELINES:
            total += job.baseline_requests(prepared)
        else:
            total += int(job.estimate_requests(replace(cfg, method=m), prepared)["score_requests"])
    return total


def run_compare(cfg: RunConfig, methods: Sequence[str], seeds: int, out_dir: Path, console: Console,
                progress: Any = None) -> dict[str, Any]:
    """Run methods × seeds on identical data; write compare.json, compare.md and plots.

    ``progress`` (the CLI's live display, optional) is told the estimated requests of the whole
    comparison and watches the client's ledger.
    """
    from asyndbt import job
    from asyndbt.reports import method_table, plot_histories

    out_dir.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict[str, Any]] = {}
    histories: dict[str, list[dict[str, Any]]] = {}
    client = None
    for seed in range(seeds):
        prepared = job.prepare(cfg, seed=seed)
        if client is None:
            client = job.make_client(cfg, None)
            if progress is not None:
                progress.set_requests(seeds * compare_requests(cfg, prepared, methods))
                progress.watch(client.ledger)
        for m in methods:
            row = rows.setdefault(m, {"method": m, "accuracies": [], "train_requests": [], "virtual_time": []})
            console.print(f"seed {seed} · {m}")
            if canonical_baseline(m) in BASELINES:
                row["accuracies"] += evaluate_baselines_per_worker(client, prepared, [m], seed=seed,
                                                                   model=cfg.llm.model)[canonical_baseline(m)]
                continue
            rundir = RunDir(out_dir / m / f"seed{seed}")
            rundir.write_config({**cfg.to_dict(), "method": m, "seed": seed})
            res = job.run_method(cfg, prepared, client, method=m, rundir=rundir, seed=seed)
            row["accuracies"] += [r.accuracy for r in res.test]
            row["train_requests"].append(res.train_requests)
            row["virtual_time"].append(res.virtual_time)
            if seed == 0:
                histories[m] = res.history
    if progress is not None:
        progress.close()  # the LLM work is done: the table prints below the bars' final state
    table_rows = [{**r, "train_requests": float(np.mean(r["train_requests"])) if r["train_requests"] else None,
                   "virtual_time": float(np.mean(r["virtual_time"])) if r["virtual_time"] else None}
                  for r in rows.values()]
    md = method_table(table_rows)
    plot_histories(histories, out_dir)
    (out_dir / "compare.md").write_text(md + "\n", encoding="utf-8")
    write_json_atomic(out_dir / "compare.json", {"config": cfg.to_dict(), "seeds": seeds, "rows": list(rows.values())})
    console.print(md)
    console.print(f"written: {out_dir}")
    return {"rows": list(rows.values())}


def run_eval(
    *, task: str, methods: Sequence[str], seeds: int, limit: int | None, data_dir: str | None, llm: LLMConfig,
    calibrate: bool, output: Path | None, console: Console,
) -> dict[str, Any]:
    """Baselines × seeds on a task's paper-protocol test split; prints a table, optionally writes JSON."""
    from asyndbt.llm import make_llm_client
    from asyndbt.tasks import load_task_splits

    for m in methods:
        if canonical_baseline(m) not in BASELINES:
            raise DataError(f"unknown method {m!r} for eval; choose from {', '.join(BASELINES)}")
    client = make_llm_client(llm, cache_path=_default_cache("runs"), ledger_path=None)
    embed = _embedder(llm.model) if "kate" in methods else None
    results: dict[str, Any] = {}
    for m in methods:
        m = canonical_baseline(m)
        accs = []
        for seed in range(seeds):
            splits = load_task_splits(task, data_dir=data_dir, seed=seed)
            test = splits.test[:limit] if limit else splits.test
            # calibration prior from the validation inputs (labels unused), as the tuner does
            res = evaluate_baseline(client, splits.task, m, splits.pool, test, seed=seed, embed=embed,
                                    calibrate_on=splits.validation if calibrate else None)
            accs.append(res.accuracy)
        results[m] = {"mean": float(np.mean(accs)), "std": float(np.std(accs)), "per_seed": accs,
                      "n_test": len(test)}
    table = Table("method", "accuracy % (mean ± std)", "seeds", "n test")
    for m, r in results.items():
        table.add_row(m, f"{100 * r['mean']:.1f} ± {100 * r['std']:.1f}", str(seeds), str(r["n_test"]))
    console.print(table)
    out = {"task": task, "seeds": seeds, "limit": limit, "calibrate": calibrate, "results": results}
    if output:
        write_json_atomic(Path(output), out)
        console.print(f"written: {output}")
    return out


def run_predict(prompt_path: Path, texts: Sequence[str], input_path: Path | None, model: str | None,
                console: Console, llm: LLMConfig | None = None) -> list[dict[str, Any]]:
    """Classify texts with a tuned prompt; prints one JSON line per text."""
    from asyndbt.llm import make_llm_client

    prompt = TunedPrompt.load(prompt_path)
    n_fields = len(prompt.task.text_fields)
    queries: list[tuple[str, ...]] = [tuple(t.split("||")) for t in texts]
    if input_path is not None:
        if not input_path.is_file():
            raise DataError(f"--input {input_path} does not exist")
        for i, line in enumerate(input_path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{input_path}:{i} is not JSON ({exc}); write one object per line") from exc
            queries.append(tuple(row["texts"]) if "texts" in row else (row["text"],))
    if not queries:
        raise DataError("nothing to classify; pass --text TEXT or --input FILE.jsonl")
    for q in queries:
        if len(q) != n_fields:
            raise DataError(f"task {prompt.task.name!r} needs {n_fields} text field(s) per query "
                            f"(separate them with '||'), got {len(q)}: {q!r}")
    prov = prompt.provenance or {}
    embedded = llm is None or llm.backend == "llama.cpp"
    if model is None and embedded and prov.get("backend") == "llama.cpp" and prov.get("model") not in (None, "default"):
        model = prov["model"]  # the embedded model the prompt was tuned with
    elif model is not None and prov.get("model") not in (None, model):
        Console(stderr=True).print(f"[yellow]warning: this prompt was tuned with model {prov.get('model')!r}, not {model!r}; "
                      "its demonstrations and calibration may not transfer[/]")
    llm = llm or LLMConfig()
    if model is not None:
        llm = replace(llm, model=model)
    client = make_llm_client(llm, cache_path=None, ledger_path=None)
    scores = prompt.score(client, queries, purpose="predict")
    out = []
    for q, s in zip(queries, scores, strict=True):
        # the prompt's own calibration prior (stored at export) is part of the prompt
        lp = calibrated_logprobs(s.logprobs, prompt.calibration)
        label = prompt.task.label_words[max(range(len(lp)), key=lp.__getitem__)]
        probs = {w: round(math.exp(p), 4) for w, p in zip(prompt.task.label_words, lp, strict=True)}
        row = {"label": label, "probs": probs, "text": list(q)}
        out.append(row)
        # One JSON object per line on stdout, so predictions can be piped into other tools.
        print(json.dumps(row, ensure_ascii=False), flush=True)
    return out
