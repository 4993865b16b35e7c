"""The main job end to end on the REAL embedded model (llama.cpp), on small slices."""

from __future__ import annotations

import json

import pytest

from asyndbt import job
from asyndbt.cli import main
from asyndbt.config import build_config

pytestmark = pytest.mark.llm


def test_run_writes_a_complete_run_dir_and_predict_uses_it(tmp_path, capsys):
    main([
        "run", "--task", "synthetic", "--steps", "6", "--out", str(tmp_path), "--baselines", "manual",
        "--set", "task.test_size=12", "--set", "simulation.eval_every=2", "--set", "simulation.checkpoint_every=2",
        "--set", 'algorithm={"batch_size": 3, "samples_per_step": 2, "fragment_length": 2}',
        "--set", "vocab.size=12",
    ])
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out  # the user is told the data is synthetic
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

    main(["predict", str(run_dir / "prompts" / "worker0.json"), "--text", "An absolutely wonderful, delightful meal."])
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["label"] in ("Great", "Terrible")
    assert sum(row["probs"].values()) == pytest.approx(1.0, abs=1e-3)


def test_short_real_tuning_run_lowers_validation_loss(tmp_path, data_dir):
    """cenDBT on SST-2 (real GLUE rows): validation loss after tuning is below the loss at step 0.

    Deterministic under the seed (llama.cpp scoring is a function of the token sequence), so this is
    not flaky; it fails if the optimisation stops learning (e.g. a sign error in the update).
    """
    cfg = build_config(overrides=[
        "task.name=sst2", f"task.data_dir={json.dumps(str(data_dir))}", "task.test_size=10",
        "partition.workers=1", "method=cendbt", "simulation.max_worker_steps=12", "simulation.eval_every=12",
        'algorithm={"batch_size": 8, "samples_per_step": 4, "fragment_length": 1}', "vocab.size=10",
        f"output_dir={json.dumps(str(tmp_path))}", "llm.cache=false",
    ])
    prepared = job.prepare(cfg)
    client = job.make_client(cfg, None)
    res = job.run_method(cfg, prepared, client, method="cendbt")
    first, last = res.history[0], res.history[-1]
    assert first["server_step"] == 0 and last["server_step"] == 12
    assert last["val_loss_mean"] < first["val_loss_mean"]
