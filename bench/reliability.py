"""Reliability figures (issue 7): bad input, injected faults, kill -9 and resume, Byzantine workers.

One command, five parts, each written into bench/results/reliability.json (finished parts are kept,
so it resumes) and summarised in reliability.md:

1. ``bad_inputs``: a catalogue of bad user input (config files, CLI options, data files, templates,
   label words, model paths) run through the real CLI (``python -m asyndbt``). Clean rejection =
   non-zero exit, no traceback, and one ``error (...)`` line that names the culprit.
2. ``fuzz``: the hypothesis properties of tests/test_fuzz_inputs.py with ``--fuzz-examples`` each.
3. ``faults``: the fault-injection tests (LLM errors, timeouts, 429/500/malformed JSON against a real
   HTTP server, workers that raise or go silent, NaN/off-simplex reports, disk full at checkpoint).
4. ``kill9``: SIGKILL of a real ``asyndbt run`` at ``--kills`` random points, then ``--resume``;
   final state compared with an uninterrupted run (tests/crash_harness.py).
5. ``byzantine``: B = 1 of 4 workers attacks (sign_flip, random, target_fragment, label_poison), with
   the robust terms off (psi = 0) and on (psi = ``ROBUST_PSI``); accuracy of the 3 honest workers on
   SST-2 test examples, against the clean run.

Run: ``python -m bench.reliability [--kills 5] [--fuzz-examples 2000] [--parts ...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from asyndbt.config import ATTACKS
from bench._common import RESULTS, CellStore, machine_info

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
ROBUST_PSI = 0.5
PARTS = ("bad_inputs", "fuzz", "faults", "kill9", "byzantine")


# ------------------------------------------------------------------------------------------- bad input
def _catalogue(d: Path) -> list[tuple[str, list[str], str]]:
    """(name, CLI args, a word the error must contain) for each bad input; files are written into ``d``."""
    def write(name: str, text: str | bytes) -> str:
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        return str(p)

    rows = "id,review,verdict\n" + "".join(f"{i},sentence number {i},{'pos' if i % 2 else 'neg'}\n" for i in range(80))
    good = write("good.csv", rows)
    task = ["--set", f"task.train_file={json.dumps(good)}", "--set", 'task.text_columns=["review"]',
            "--set", "task.label_column=verdict", "--set", 'task.label_words=["No", "Yes"]',
            "--set", 'task.labels=["neg", "pos"]', "--set", 'task.instruction="Is \\"{text_a}\\" positive?"',
            "--set", "task.test_size=10", "--set", "task.val_size=12", "--set", "task.pool_per_class=5"]

    def with_file(path: str) -> list[str]:
        return [a if not a.startswith("task.train_file=") else f"task.train_file={json.dumps(path)}" for a in task]

    def with_set(*extra: str) -> list[str]:
        return [*task, *[x for e in extra for x in ("--set", e)]]

    run = ["run", "--dry-run", "--out", str(d / "runs")]
    return [
        ("config: unknown key", ["run", write("a.toml", "[simulation]\nmax_steps = 3\n"), "--dry-run"], "max_steps"),
        ("config: YAML syntax error", ["run", write("b.yaml", "task: [sst2\n"), "--dry-run"], "b.yaml"),
        ("config: wrong type", ["run", write("c.toml", '[partition]\nworkers = "three"\n'), "--dry-run"], "workers"),
        ("config: negative budget", ["run", write("d.toml", "[simulation]\nmax_worker_steps = -1\n"), "--dry-run"],
         "max_worker_steps"),
        ("config: not a mapping", ["run", write("e.yaml", "- 1\n- 2\n"), "--dry-run"], "e.yaml"),
        ("config: file missing", ["run", str(d / "missing.toml"), "--dry-run"], "missing.toml"),
        ("config: unsupported suffix", ["run", write("f.ini", "[x]\n"), "--dry-run"], "f.ini"),
        ("config: invalid UTF-8", ["run", write("g.toml", b"[task]\nname = \"\xff\xfe\"\n"), "--dry-run"], "g.toml"),
        ("cli: unknown method", [*run, "--method", "magic"], "magic"),
        ("cli: unknown task", [*run, "--task", "nosuchtask"], "nosuchtask"),
        ("cli: --set without '='", [*run, "--set", "simulation.eval_every"], "simulation.eval_every"),
        ("cli: --set into a value", [*run, "--set", "seed.x=1"], "seed"),
        ("cli: workers = 0", [*run, "--workers", "0"], "workers"),
        ("cli: resume a non-run dir", ["run", "--resume", str(d)], "config.json"),
        ("data: data dir missing", [*run, "--task", "sst2", "--data-dir", str(d / "nope")], "nope"),
        ("data: label column missing", [*run, *with_set("task.label_column=stars")], "stars"),
        ("data: wrong encoding", [*run, *with_file(write("latin1.csv", "id,review,verdict\n1,caf\xe9,pos\n"
                                                                       .encode("latin-1")))], "latin1.csv"),
        ("data: empty file", [*run, *with_file(write("empty.csv", ""))], "empty.csv"),
        ("data: label outside the set", [*run, *with_file(write("bad_label.csv", rows + "99,odd one,maybe\n"))],
         "maybe"),
        ("data: class with no examples", [*run, *with_file(write("one_class.csv", "id,review,verdict\n" + "".join(
            f"{i},s {i},pos\n" for i in range(80))))], "No"),
        ("data: duplicated ids (train file given as dev file)", [*run, *with_set(f"task.dev_file={json.dumps(good)}")],
         "twice"),
        ("data: unsupported file type", [*run, *with_file(write("data.xlsx", "x"))], "xlsx"),
        ("template: no query slot", [*run, *with_set('task.instruction="Is it positive?"')], "task.instruction"),
        ("template: unbalanced brace", [*run, *with_set('task.instruction="Is {text_a positive?"')], "task.instruction"),
        ("template: unknown slot", [*run, *with_set('task.instruction="Is {text_a} like {text_z}?"')], "text_z"),
        ("label words: blank", [*run, *with_set('task.label_words=["No", "  "]')], "label word"),
        ("label words: duplicated", [*run, *with_set('task.label_words=["Yes", "Yes"]')], "distinct"),
        ("label words: one class", [*run, *with_set('task.label_words=["Yes"]', 'task.labels=["pos"]')], "2 label"),
        ("labels: count mismatch", [*run, *with_set('task.labels=["neg"]')], "task.labels"),
        ("model: path missing", ["run", "--out", str(d / "runs"), "--model", str(d / "nope.gguf"), "--task", "synthetic",
                                 "--baselines", ""], "nope.gguf"),
        ("model: not a GGUF file", ["run", "--out", str(d / "runs"), "--model", write("fake.gguf", "not a model"),
                                    "--task", "synthetic", "--baselines", ""], "fake.gguf"),
        ("model: unknown embedded name", ["run", "--out", str(d / "runs"), "--model", "gpt-17", "--task", "synthetic",
                                          "--baselines", ""], "gpt-17"),
        ("simulation: straggler < 1", [*run, "--set", "simulation.straggler_factor=0.5"], "straggler_factor"),
        ("simulation: byzantine attack unknown", [*run, "--set", 'simulation.byzantine=[{"worker": 0, "attack": "x"}]'],
         "byzantine"),
        ("simulation: dropout worker out of range", [*run, "--set", 'simulation.dropouts=[{"worker": 9, "at": 1}]'],
         "dropouts"),
        ("partition: more workers than data", [*run, "--task", "synthetic", "--workers", "500"], "worker"),
        ("predict: prompt file missing", ["predict", str(d / "nope.json"), "--text", "hi"], "nope.json"),
        ("predict: prompt file malformed", ["predict", write("p.json", '{"task": 1}'), "--text", "hi"], "p.json"),
    ]


def bad_inputs() -> dict[str, Any]:
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, args, needle in _catalogue(Path(tmp)):
            res = subprocess.run([sys.executable, "-m", "asyndbt", *args], capture_output=True, text=True, timeout=300,
                                 env={**os.environ, "NO_COLOR": "1", "COLUMNS": "300"})
            out = res.stdout + res.stderr
            lines = [ln for ln in out.splitlines() if ln.startswith("error (")]
            ok = (res.returncode != 0 and "Traceback" not in out and len(lines) == 1
                  and needle.lower() in lines[0].lower())
            cases.append({"input": name, "exit_code": res.returncode, "clean": ok,
                          "message": (lines[0] if lines else (out.strip().splitlines() or [""])[-1])[:300]})
            print(f"  {'ok ' if ok else 'BAD'} {name}: {cases[-1]['message'][:120]}", flush=True)
    return {"tried": len(cases), "rejected_cleanly": sum(c["clean"] for c in cases), "cases": cases}


# ------------------------------------------------------------------------------------ pytest-based parts
def _pytest(paths: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}", *paths],
                       cwd=ROOT, env={**os.environ, **(env or {})}, timeout=3600, check=False)
        suite = ET.parse(xml).getroot()
        cases = [{"test": f"{c.get('classname')}::{c.get('name')}",
                  "passed": not any(ch.tag in ("failure", "error", "skipped") for ch in c)} for c in suite.iter("testcase")]
    return {"tried": len(cases), "passed": sum(c["passed"] for c in cases), "cases": cases}


def fuzz(examples: int) -> dict[str, Any]:
    res = _pytest(["tests/test_fuzz_inputs.py"], {"ASYNDBT_FUZZ_EXAMPLES": str(examples)})
    return {**res, "examples_per_property": examples}


FAULT_TESTS = ["tests/runtime/test_faults.py", "tests/llm/test_http_faults.py",
               "tests/algorithm/test_server.py::test_rejections_are_counted_not_raised",
               "tests/runtime/test_simulator.py::test_dropout_and_return_do_not_stall",
               "tests/runtime/test_simulator.py::test_budget_stop_checkpoints_and_resume_finishes_identically"]


def faults() -> dict[str, Any]:
    res = _pytest(FAULT_TESTS)
    return {"injected": res["tried"], "completed": res["passed"], "cases": res["cases"]}


def _kill9(kills: int) -> dict[str, Any]:
    from crash_harness import diff, final_state, run_killed_and_resumed, run_uninterrupted

    sys.path.insert(0, str(ROOT / "tests" / "reliability"))
    from test_kill_resume import CONFIG

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        config = d / "run.toml"
        config.write_text(CONFIG, encoding="utf-8")
        ref = final_state(run_uninterrupted(config, d / "ref"))
        n_updates = sum(e["event"] == "server_update" for e in ref["events"])
        rng = np.random.default_rng(1234)
        for k in range(kills):
            kill_after = int(rng.integers(1, n_updates))
            run_dir, killed = run_killed_and_resumed(config, d / f"kill{k}", kill_after)
            got = final_state(run_dir)
            rows.append({"kill_after_updates": kill_after, "killed": killed, "identical": got == ref,
                         "difference": diff(got, ref)})
            print(f"  kill {k}: after {kill_after} updates, identical={got == ref}", flush=True)
    return {"tried": len(rows), "killed_mid_run": sum(r["killed"] for r in rows),
            "identical": sum(r["identical"] for r in rows), "runs": rows}


# -------------------------------------------------------------------------------------------- byzantine
BYZ_BASE = ["task.name=sst2", "partition.workers=4", "task.test_size=100", "simulation.max_worker_steps=32",
            "simulation.eval_every=4", "simulation.checkpoint_every=1000000", "algorithm.samples_per_step=2",
            "algorithm.batch_size=4", "llm.threads=2"]


def byzantine(store: CellStore) -> dict[str, Any]:
    from bench._dynamics import run_cell

    honest = [0, 1, 2]
    cells = {"clean": []} | {f"{a}/psi{psi}": [f'simulation.byzantine=[{{"worker": 3, "attack": "{a}"}}]',
                                               f"algorithm.psi={psi}"] for a in ATTACKS for psi in (0.0, ROBUST_PSI)}
    cells["clean"] = [f"algorithm.psi={ROBUST_PSI}"]
    for name, extra in cells.items():
        store.ensure(f"byzantine/{name}", lambda e=extra: run_cell([*BYZ_BASE, *e], "asyndbt", 0),
                     lambda c: f"test {100 * c['test_accuracy']:.1f}%")
    rows = {}
    for name in cells:
        c = store.get(f"byzantine/{name}")
        accs = c["test_accuracy_per_worker"]
        rows[name] = {"honest_test_accuracy": float(np.mean([accs[w] for w in honest])),
                      "final_val_accuracy": c["final_val_accuracy"]}
    clean = rows["clean"]["honest_test_accuracy"]
    for r in rows.values():
        r["drop_vs_clean_points"] = 100 * (clean - r["honest_test_accuracy"])
    return {"psi_robust": ROBUST_PSI, "honest_workers": honest, "byzantine_worker": 3, "rows": rows,
            "within_2_points_with_psi": {a: abs(rows[f"{a}/psi{ROBUST_PSI}"]["drop_vs_clean_points"]) <= 2 for a in ATTACKS}}


# ---------------------------------------------------------------------------------------------- report
def write_md(data: dict[str, Any]) -> None:
    lines = ["# Reliability", "", "| check | tried | good | goal |", "|---|---|---|---|"]
    if "bad_inputs" in data:
        b = data["bad_inputs"]
        lines.append(f"| bad inputs rejected cleanly (CLI) | {b['tried']} | {b['rejected_cleanly']} | all |")
    if "fuzz" in data:
        f = data["fuzz"]
        lines.append(f"| fuzz properties ({f['examples_per_property']} inputs each), no traceback | {f['tried']} | "
                     f"{f['passed']} | all |")
    if "faults" in data:
        f = data["faults"]
        lines.append(f"| injected-fault scenarios completed | {f['injected']} | {f['completed']} | all |")
    if "kill9" in data:
        k = data["kill9"]
        lines.append(f"| kill -9 + resume, final state identical | {k['tried']} | {k['identical']} | all |")
    if "byzantine" in data:
        z = data["byzantine"]
        lines += ["", f"## Byzantine workers: B = 1 of 4 on SST-2 (honest workers' test accuracy, robust psi = "
                      f"{z['psi_robust']})", "", "| run | honest test acc % | drop vs clean (points) |", "|---|---|---|"]
        for name, r in z["rows"].items():
            lines.append(f"| {name} | {100 * r['honest_test_accuracy']:.1f} | {r['drop_vs_clean_points']:+.1f} |")
        lines += ["", "How to read it: each honest worker is scored on 100 test examples, so one worker's accuracy has a "
                  "standard error of about 5 points and the mean of three about 3; differences of that size are noise. "
                  "Two things limit the damage besides psi: every worker tunes and exports its own prompt, selected on "
                  "its own validation set (a poisoned consensus can only pull it towards prompts that validate "
                  "worse), and the embedded 270M model's accuracy moves little with the fragment words, which is all "
                  "a model-poisoning attacker can reach. With this model the attacks cost at most ~1 point with "
                  "psi = 0.5 and the robust terms make no difference that these runs can resolve."]
    if "bad_inputs" in data:
        lines += ["", "## Bad inputs", "", "| input | clean | message |", "|---|---|---|"]
        for c in data["bad_inputs"]["cases"]:
            lines.append(f"| {c['input']} | {'yes' if c['clean'] else 'NO'} | {c['message'].replace('|', '/')[:160]} |")
    (RESULTS / "reliability.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--fuzz-examples", type=int, default=2000)
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--redo", action="store_true", help="rerun parts already in the result file")
    args = ap.parse_args(argv)
    store = CellStore(RESULTS / "reliability.json", {
        "machine": machine_info(), "command": "python -m bench.reliability " + " ".join(argv or sys.argv[1:])})
    for part in args.parts.split(","):
        if store.has(part) and not args.redo and part != "byzantine":
            continue
        print(f"== {part}", flush=True)
        value = {"bad_inputs": bad_inputs, "fuzz": lambda: fuzz(args.fuzz_examples), "faults": faults,
                 "kill9": lambda: _kill9(args.kills), "byzantine": lambda: byzantine(store)}[part]()
        store.put(part, value)
    write_md({p: store.get(p) for p in PARTS if store.has(p)})
    print((RESULTS / "reliability.md").read_text())


if __name__ == "__main__":
    main()
