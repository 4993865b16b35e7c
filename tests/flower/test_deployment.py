"""Real SuperLink + 3 SuperNodes on 127.0.0.1 (--insecure) running a short job with the embedded model."""

from __future__ import annotations

import base64
import json
import re
import threading

import pytest

from asyndbt import job
from asyndbt.runtime.flower import (
    FlowerSettings,
    LocalDeployment,
    flwr_run,
    prepare_run_config,
    read_run_result,
    write_app_dir,
    write_partitions,
)

RUN_TIMEOUT = 240


def _deploy(fh, tmp, cfg, settings, *, kill_worker=None):
    """Run one job; optionally kill a SuperNode once the server has updated once."""
    run_dir = tmp / "run"
    app = write_app_dir(tmp / "app", prepare_run_config(cfg, run_dir, settings))
    paths, _ = write_partitions(cfg, tmp / "parts")
    # worker 0 gets only its own partition file; the others re-derive their share from the shared seed
    nodes = [{"partition-file": str(paths[0]), "out-dir": str(tmp / "node0")}]
    nodes += [{"worker-id": w, "out-dir": str(tmp / f"node{w}")} for w in (1, 2)]
    home = tmp / "flwr_home"
    with LocalDeployment(nodes, log_dir=tmp / "logs", flwr_home=home) as dep:
        killer = None
        if kill_worker is not None:
            def kill():
                fh.wait_for(lambda: any(e["event"] == "server_update" for e in fh.events(run_dir)), RUN_TIMEOUT,
                         "the first server update")
                dep.kill_node(kill_worker)
            killer = threading.Thread(target=kill, daemon=True)
            killer.start()
        rc = flwr_run(app, home, timeout=RUN_TIMEOUT, log_path=tmp / "logs" / "flwr_run.log")
        if killer is not None:
            killer.join(timeout=5)
    assert rc == 0, (tmp / "logs" / "flwr_run.log").read_text()[-3000:]
    return run_dir


@pytest.fixture(scope="module")
def normal_run(tmp_path_factory, fh):
    tmp = tmp_path_factory.mktemp("flower_deploy")
    cfg = fh.tiny_cfg(tmp)
    settings = FlowerSettings(connect_timeout_s=90, worker_timeout_s=120, final_timeout_s=120, audit_payloads=True)
    return cfg, tmp, _deploy(fh, tmp, cfg, settings)


def test_deployment_runs_to_completion(normal_run, fh):
    cfg, tmp, run_dir = normal_run
    res = read_run_result(run_dir)["result"]
    assert res["stopped_by"] == "max_worker_steps"
    assert res["worker_steps"] == cfg.simulation.max_worker_steps
    assert len(res["test_accuracy_per_worker"]) == 3
    assert all(0.0 <= a <= 1.0 for a in res["test_accuracy_per_worker"])
    assert len(res["global_fragment"]) <= 2  # empty and repeated words are dropped
    # the nodes ran the selection protocol: the server decided the shared parts from their counts
    assert res["selection"]["mode"] in ("raw", "cal") and len(res["selection"]["tuned_won"]) == 3
    ev = fh.events(run_dir)
    kinds = [e["event"] for e in ev]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end"
    assert [e["seq"] for e in ev] == list(range(len(ev)))
    updates = [e for e in ev if e["event"] == "server_update"]
    assert updates and all(len(e["reporters"]) >= 2 for e in updates)  # S = 2: no full barrier needed
    assert "worker_failed" not in kinds
    assert (run_dir / "checkpoint.json").exists() and (run_dir / "prompts" / "global_fragment.json").exists()
    assert (run_dir / "report.md").exists() and (run_dir / "accuracy_vs_time.png").exists()
    for w in range(3):  # the tuned prompt (with its demonstrations) stays on the worker's own node
        assert (tmp / f"node{w}" / "prompts" / f"worker{w}.json").exists()
        assert not (run_dir / "prompts" / f"worker{w}.json").exists()
    # each node's LLM ledger (over every message's process) is summed into the server's results
    ledgers = read_run_result(run_dir)["llm_ledger"]
    lines = [len((tmp / f"node{w}" / "ledger.jsonl").read_text().splitlines()) for w in range(3)]
    assert [ledgers["per_worker"][str(w)]["requests"] for w in range(3)] == lines and min(lines) > 0
    assert ledgers["total"]["requests"] == sum(lines)


def test_no_raw_text_crosses_the_wire(normal_run):
    cfg, tmp, run_dir = normal_run
    lines = [json.loads(x) for x in (run_dir / "payloads.jsonl").read_text().splitlines()]
    assert {x["message_type"] for x in lines} == {"query", "train", "evaluate"}
    assert sum(x["direction"] == "node->server" and x["message_type"] == "train" for x in lines) == 6
    texts = {t for w in job.prepare(cfg).workers for e in (*w.train, *w.validation, *w.test, *w.pool) for t in e.texts}
    assert texts
    blob = json.dumps([x["payload"] for x in lines])
    raw = b"".join(base64.b64decode(a["bytes_b64"]) for x in lines if x["payload"]
                   for r in x["payload"].values() if r["kind"] == "ArrayRecord" for a in r["values"].values())
    for t in texts:
        assert t not in blob, f"example text {t!r} appeared in a payload"
        assert t.encode() not in raw
    # Only numbers, counters and fixed labels: every string value is a message type name or a control word.
    strings = {v for x in lines if x["payload"] for r in x["payload"].values() if r["kind"] == "ConfigRecord"
               for v in r["values"].values() if isinstance(v, str)}
    def control(v: str) -> bool:
        if v in {"ServerUpdate", "WorkerReport", "hello", "select", "final"}:
            return True
        if len(v) == 16 and all(c in "0123456789abcdef" for c in v):  # vocabulary digest
            return True
        # selection messages: JSON of counts (per class too), hit bits, the zero-shot prompt's summed answers, fragment ids
        # and the mode names, nothing else
        keys = ("(raw|cal)(/[01])?|mode_hits|fragment_hits|plain_hits|tuned_hits|untuned_hits|mode|use_fragment|"
                "use_tuned|record|mode_counts|fragment_kept|fragment_test|tuned_kept|tuned_test|z|b|c|"
                "tuned_mode_hits|tuned_mode_counts|tuned_mode|untuned_mode|mode_bits|tuned_mode_bits|mode_test|tuned_mode_test|"
                "zero_shot_sum|zero_shot_n|zero_shot_prior|label_counts|mode_split|untuned|tuned|reweighted|label_mix|"
                "start_hits|use_start|start_kept|start_test|start_vs_untuned_test|"
                "untuned_choice|random_hits|untuned_random|zero_shot_hits|examples|workers|random_kept")
        bare = re.sub(rf'"({keys})"|\b(true|false|null)\b|\d[eE][-+]?\d+', "", v)
        return re.fullmatch(r"[\d\s.,:\[\]{}-]*", bare) is not None

    assert all(control(v) for v in strings), sorted(v for v in strings if not control(v))[:5]


def test_killed_supernode_does_not_stop_the_run(tmp_path, fh):
    cfg = fh.tiny_cfg(tmp_path, steps=8)
    settings = FlowerSettings(connect_timeout_s=90, worker_timeout_s=30, final_timeout_s=90)
    run_dir = _deploy(fh, tmp_path, cfg, settings, kill_worker=2)
    res = read_run_result(run_dir)["result"]
    ev = fh.events(run_dir)
    failed = [e for e in ev if e["event"] == "worker_failed" and e["worker"] == 2]
    assert failed, [e["event"] for e in ev]
    assert res["stopped_by"] == "max_worker_steps" and res["worker_steps"] == 8
    after = [e for e in ev if e["event"] == "server_update" and e["seq"] > failed[0]["seq"]]
    assert after and all(2 not in e["reporters"] for e in after)  # S = 2 workers carried on
    assert len(res["test_accuracy_per_worker"]) == 2


def test_secure_deployment_refuses_an_unknown_node(tmp_path, fh):
    """TLS + node authentication: registered SuperNodes run the job, a node with an unknown key is refused."""
    from asyndbt.runtime.flower._tls import node_key_pair

    cfg = fh.tiny_cfg(tmp_path)
    settings = FlowerSettings(connect_timeout_s=90, worker_timeout_s=120, final_timeout_s=120)
    run_dir, home = tmp_path / "run", tmp_path / "home"
    app = write_app_dir(tmp_path / "app", prepare_run_config(cfg, run_dir, settings))
    nodes = [{"worker-id": w, "out-dir": str(tmp_path / f"node{w}")} for w in range(3)]
    with LocalDeployment(nodes, log_dir=tmp_path / "logs", flwr_home=home, secure=True) as dep:
        assert "root-certificates" in (home / "config.toml").read_text()
        rogue = dep.start_node(0, private_key=node_key_pair(tmp_path / "rogue"), log_name="rogue.log")
        rc = flwr_run(app, home, timeout=RUN_TIMEOUT, log_path=tmp_path / "logs" / "flwr_run.log")
        rogue_rc = rogue.wait(timeout=120)
    assert rc == 0, (tmp_path / "logs" / "flwr_run.log").read_text()[-3000:]
    rogue_log = (tmp_path / "logs" / "rogue.log").read_text(errors="replace")
    assert rogue_rc != 0 and "SuperNode ID" not in rogue_log, rogue_log[-2000:]
    res = read_run_result(run_dir)["result"]
    assert res["stopped_by"] == "max_worker_steps" and len(res["test_accuracy_per_worker"]) == 3
    kinds = [e["event"] for e in fh.events(run_dir)]
    assert "worker_node_replaced" not in kinds  # the unknown node never took worker 0's place
