"""The main job end to end on the REAL embedded model (llama.cpp), on small slices."""

from __future__ import annotations

import json
import re

import pytest

from asyndbt import job
from asyndbt.cli import main
from asyndbt.config import build_config
from asyndbt.evaluation import evaluate_prompt
from asyndbt.prompt._tuned import demonstration_orders

pytestmark = pytest.mark.llm


def test_run_writes_a_complete_run_dir_and_predict_uses_it(tmp_path, capsys):
    main([
        "run", "--task", "synthetic", "--steps", "6", "--out", str(tmp_path), "--baselines", "manual,random-icl",
        "--set", "task.test_size=12", "--set", "task.val_size=12",
        "--set", "simulation.eval_every=2", "--set", "simulation.checkpoint_every=2",
        "--set", 'algorithm={"batch_size": 3, "samples_per_step": 2, "fragment_length": 2}',
        "--set", "vocab.size=12",
    ])
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out  # the user is told the data is synthetic
    assert "answered by the cache" in out  # and what the run cost in LLM requests and time
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    for name in ("config.json", "events.jsonl", "ledger.jsonl", "checkpoint.json", "results.json", "report.md",
                 "accuracy_vs_time.png", "accuracy_vs_calls.png", "prompts/worker0.json",
                 "prompts/global_fragment.json"):
        assert (run_dir / name).is_file(), name
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    kinds = {e["event"] for e in events}
    assert {"run_start", "server_update", "eval", "run_end"} <= kinds
    for e in events:
        if e["event"] == "server_update":
            assert len(e["reporters"]) >= 2  # S = 2 by default
    results = json.loads((run_dir / "results.json").read_text())
    assert results["synthetic"] is True
    assert len(results["result"]["test_accuracy_per_worker"]) == 3
    assert "manual" in results["baselines"]
    assert results["ledger"]["requests"] > 0
    # the random-ICL row is each worker's own untuned random set: selection already scored it on the
    # worker's validation inputs, so its calibration prior comes entirely from the score cache
    ledger = [json.loads(x) for x in (run_dir / "ledger.jsonl").read_text().splitlines()]
    prior = [r for r in ledger if r["purpose"] == "eval/random-icl/prior"]
    assert len(prior) == 12 and all(r["cache_hit"] for r in prior)
    # the pre-run estimate is an upper bound on every request the run makes, baselines included
    estimate = int(re.search(r"cache lowers it\): (\d+)", out).group(1))
    assert results["ledger"]["requests"] <= estimate
    # where the requests went: per phase, adding up to the totals, and in the report
    phases = results["ledger_by_phase"]
    assert {"training", "selecting on validation", "testing the prompts", "scoring the baselines"} <= set(phases)
    assert sum(p["requests"] for p in phases.values()) == results["ledger"]["requests"]
    report = (run_dir / "report.md").read_text()
    assert "| selecting on validation |" in report
    # and why each worker exports the prompt it does, in the selection record's own words
    why = report.split("## Why these prompts")[1].split("##")[0]
    assert why.count("- worker ") == 3 and "exports " in why
    # the constant "most frequent label" floor is reported beside the prompts, per worker
    assert len(results["majority_class"]) == 3 and all(0.5 <= m <= 1.0 for m in results["majority_class"])
    assert "majority class (no LLM)" in (run_dir / "report.md").read_text()

    main(["predict", str(run_dir / "prompts" / "worker0.json"), "--text", "An absolutely wonderful, delightful meal."])
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["label"] in ("Great", "Terrible")
    assert sum(row["probs"].values()) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(("orders", "shots"), [(1, 4), (3, 1)])  # shots=1 keeps the order ensemble's run short
def test_short_real_run_exports_exactly_the_prompt_it_selected(tmp_path, data_dir, orders, shots):
    """cenDBT on SST-2 (real GLUE rows, the real embedded model).

    The exported prompt, calibration and demonstration orders included, scores on validation exactly
    what the selection recorded, and a tuned prompt is exported only with a winning paired test.
    Deterministic under the seed.
    """
    cfg = build_config(overrides=[
        "task.name=sst2", f"task.data_dir={json.dumps(str(data_dir))}", "task.test_size=10", "task.val_size=16",
        "partition.workers=1", "method=cendbt", "simulation.max_worker_steps=8", "simulation.eval_every=8",
        f'algorithm={{"batch_size": 6, "samples_per_step": 4, "fragment_length": 1, "shots": {shots}}}', "vocab.size=10",
        f"output_dir={json.dumps(str(tmp_path))}", "llm.cache=false", f"selection.demo_orders={orders}",
    ])
    prepared = job.prepare(cfg)
    client = job.make_client(cfg, None)
    sim_envs = [prepared.pooled_env()]
    res = job.run_method(cfg, prepared, client, method="cendbt")
    (choice,) = res.selection["workers"]
    assert choice["winner"] in choice["candidates"]
    if choice["tuned_won"]:  # the pooled test (check part and held-out pool) accepted it; its own check part did not veto
        assert res.selection["tuned_test"]["z"] > cfg.selection.accept_z and choice["z"] >= -cfg.selection.accept_z
    else:
        assert choice["winner"] == choice["untuned"]
    prompt = res.prompts[0]
    assert (prompt.calibration is not None) == (res.selection["mode"] == "cal")
    assert prompt.orders == demonstration_orders(len(prompt.demonstrations), orders)
    again = evaluate_prompt(client, prompt, sim_envs[0].validation)
    assert again.accuracy == pytest.approx(choice["candidates"][choice["winner"]][res.selection["mode"]])
    assert res.history[-1]["final"] and res.history[-1]["llm_calls"] > res.train_requests


class _Recorder:
    """Stands in for the CLI's live display: remembers what run_compare tells it."""

    def __init__(self) -> None:
        self.total, self.ledger, self.closed = None, None, False

    def set_requests(self, total: int) -> None:
        self.total = total

    def watch(self, ledger) -> None:
        self.ledger = ledger

    def close(self) -> None:
        self.closed = True


def test_compare_writes_one_table_and_its_estimate_bounds_its_requests(tmp_path):
    from rich.console import Console

    from asyndbt.commands import run_compare

    cfg = build_config(overrides=[
        "task.name=synthetic", "task.test_size=12", "task.val_size=12", "simulation.max_worker_steps=4",
        'algorithm={"batch_size": 3, "samples_per_step": 2, "fragment_length": 2}', "vocab.size=12",
        f"output_dir={json.dumps(str(tmp_path))}", "llm.threads=1"])
    rec = _Recorder()
    out = run_compare(cfg, ["manual", "asyndbt"], 1, tmp_path / "cmp", Console(file=None, quiet=True), progress=rec)
    assert [r["method"] for r in out["rows"]] == ["manual", "asyndbt"]
    assert all(len(r["accuracies"]) == 3 for r in out["rows"])  # one accuracy per worker
    assert (tmp_path / "cmp" / "compare.md").is_file() and (tmp_path / "cmp" / "compare.json").is_file()
    assert rec.closed and 0 < rec.ledger.totals()["requests"] <= rec.total
