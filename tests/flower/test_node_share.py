"""A deployed node prepares its share of the job once per run: later messages (fresh processes) read it."""

from __future__ import annotations

from asyndbt import session
from asyndbt.runtime.flower import FlowerSettings
from asyndbt.runtime.flower._node import build_node_env
from asyndbt.runtime.flower._settings import make_run_config


def test_second_message_reads_the_share_instead_of_preparing(tmp_path, fh, monkeypatch):
    cfg = fh.tiny_cfg(tmp_path, extra=("partition.scheme=dirichlet",))
    prepared = session.prepare(cfg)
    run_config = make_run_config(cfg, prepared.vocab, str(tmp_path / "run"), FlowerSettings())
    node_config = {"worker-id": 1, "out-dir": str(tmp_path / "node1")}
    first = build_node_env(run_config, node_config, run_id=7)
    assert list((tmp_path / "node1").glob(".share-*.json"))

    def no_prepare(*_a, **_k):
        raise AssertionError("the node prepared the job again")

    monkeypatch.setattr(session, "prepare", no_prepare)
    second = build_node_env(run_config, node_config, run_id=7)
    expected = prepared.federated_envs()[1]
    for env in (first.env, second.env):
        for name in expected.__dataclass_fields__:
            assert getattr(env, name) == getattr(expected, name), name


def test_share_is_keyed_by_the_run(tmp_path, fh):
    """Another config (here another seed) never reads a share written for this one."""
    out = {"worker-id": 0, "out-dir": str(tmp_path / "node0")}
    for seed in (0, 1):
        cfg = fh.tiny_cfg(tmp_path, extra=(f"seed={seed}",))
        prepared = session.prepare(cfg)
        env = build_node_env(make_run_config(cfg, prepared.vocab, str(tmp_path / "run"), FlowerSettings()), out,
                             run_id=seed).env
        assert env.train == prepared.federated_envs()[0].train
    assert len(list((tmp_path / "node0").glob(".share-*.json"))) == 2
