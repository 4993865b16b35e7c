import json

import numpy as np
import pytest

from asyndbt.algorithm import (
    AlgorithmConfig,
    ServerUpdate,
    best_prompt,
    init_worker,
    worker_on_scores,
    worker_on_update,
    worker_plan,
    worker_state_from_dict,
    worker_state_to_dict,
)
from asyndbt.errors import AlgorithmError, ConfigError
from asyndbt.optim import on_simplex


def make(method="asyndbt", **kw):
    kw.setdefault("shots", 2)  # pools of 4 and 3: with the default 4 a class would show its whole pool, nothing to learn
    cfg = AlgorithmConfig(method=method, fragment_length=3, vocab_size=6, batch_size=5, **kw)
    return cfg, init_worker(cfg, 1, pool_sizes=(4, 3), train_size=20, seed=11)


def test_plan_is_deterministic_and_well_formed():
    cfg, ws = make()
    a, b = worker_plan(ws, cfg), worker_plan(ws, cfg)
    np.testing.assert_array_equal(a.fragments, b.fragments)
    np.testing.assert_array_equal(a.queries, b.queries)
    assert a.fragments.shape == (cfg.samples_per_step, 3) and a.demos.shape == (cfg.samples_per_step, 2 * cfg.shots)
    assert len(set(a.queries.tolist())) == 5 and a.queries.max() < 20
    # slot s * U + u holds class u: classes alternate, and a class's picks are distinct and ascending
    assert a.demos[:, 0::2].max() < 4 and a.demos[:, 1::2].max() < 3
    assert np.all(np.diff(a.demos[:, 0::2], axis=1) > 0) and np.all(np.diff(a.demos[:, 1::2], axis=1) > 0)


def test_shots_layout_small_pools_and_argmax():
    cfg = AlgorithmConfig(fragment_length=1, vocab_size=3, batch_size=2, shots=3)
    ws = init_worker(cfg, 0, pool_sizes=(5, 2), train_size=4, seed=0)
    demos = worker_plan(ws, cfg).demos
    assert demos.shape == (cfg.samples_per_step, 6)
    # class 1 has only two candidates: both are shown, the third slot repeats the first pick
    assert all(set(row[1::2].tolist()) == {0, 1} and row[5] == row[1] for row in demos)
    assert all(len(set(row[0::2].tolist())) == 3 for row in demos)
    ws2 = init_worker(cfg, 0, pool_sizes=(5, 2), train_size=4, seed=0)
    q0 = np.array([0.1, 0.4, 0.05, 0.3, 0.15])
    ws2 = type(ws2)(**{**ws2.__dict__, "q": (q0, np.array([0.7, 0.3]))})
    _, best = best_prompt(ws2, cfg)
    assert best.tolist() == [1, 0, 3, 1, 4, 0]  # top-3 of class 0 in id order, interleaved with class 1


def test_one_shot_is_the_papers_layout():
    cfg = AlgorithmConfig(fragment_length=1, vocab_size=3, batch_size=2, shots=1)
    ws = init_worker(cfg, 0, pool_sizes=(4, 3), train_size=4, seed=0)
    assert worker_plan(ws, cfg).demos.shape == (cfg.samples_per_step, 2)
    with pytest.raises(ConfigError, match="shots"):
        AlgorithmConfig(shots=0).validate()


def test_scores_step_keeps_simplex_and_reports():
    cfg, ws = make()
    batch = worker_plan(ws, cfg)
    losses = np.linspace(0.1, 2.0, cfg.samples_per_step * 5).reshape(cfg.samples_per_step, 5)
    new, rep = worker_on_scores(ws, batch, losses, cfg)
    assert new.step == 1 and rep.step == 0 and rep.based_on_server_step == -1
    assert on_simplex(new.p) and all(on_simplex(q) for q in new.q)
    assert not np.allclose(new.p, ws.p) and not np.allclose(new.q[0], ws.q[0])
    np.testing.assert_array_equal(rep.p_prev, ws.p)
    assert rep.n_scored == losses.size and ws.step == 0  # input untouched


def test_bad_losses_and_batches_raise():
    cfg, ws = make()
    batch = worker_plan(ws, cfg)
    losses = np.ones((cfg.samples_per_step, 5))
    losses[1, 2] = np.inf
    with pytest.raises(AlgorithmError, match="NaN/inf"):
        worker_on_scores(ws, batch, losses, cfg)
    with pytest.raises(AlgorithmError, match="shape"):
        worker_on_scores(ws, batch, np.ones((2, 2)), cfg)
    new, _ = worker_on_scores(ws, batch, np.ones((cfg.samples_per_step, 5)), cfg)
    with pytest.raises(AlgorithmError, match="step"):
        worker_on_scores(new, batch, np.ones((cfg.samples_per_step, 5)), cfg)


def test_frozen_demos_and_demos_only():
    cfg, ws = make("fragment-only")
    assert all(int((q > 0).sum()) == min(cfg.shots, q.size) for q in ws.q)  # a frozen seeded set per class
    assert all(np.array_equal(worker_plan(ws, cfg).demos[0], row) for row in worker_plan(ws, cfg).demos)
    batch = worker_plan(ws, cfg)
    new, _ = worker_on_scores(ws, batch, np.arange(cfg.samples_per_step * 5.0).reshape(-1, 5), cfg)
    assert all(np.array_equal(a, b) for a, b in zip(new.q, ws.q, strict=True))
    cfg, ws = make("demos-only")
    assert ws.p.shape == (0, 6) and worker_plan(ws, cfg).fragments.shape == (cfg.samples_per_step, 0)
    frag, demos = best_prompt(ws, cfg)
    assert frag.shape == (0,) and demos.shape == (2 * cfg.shots,)


def test_update_routing_and_ordering():
    cfg, ws = make()
    z = np.full((3, 6), 1 / 6)
    up = ServerUpdate(1, 4, z, np.zeros((3, 6)), np.zeros((0, 3, 6)), np.zeros(0))
    ws2 = worker_on_update(ws, up, cfg)
    assert ws2.server_step == 4 and ws2.updates_received == 1
    old = ServerUpdate(1, 2, z, np.ones((3, 6)), np.zeros((0, 3, 6)), np.zeros(0))
    assert worker_on_update(ws2, old, cfg) is ws2
    with pytest.raises(AlgorithmError, match="worker 0"):
        worker_on_update(ws, ServerUpdate(0, 5, z, z, np.zeros((0, 3, 6)), np.zeros(0)), cfg)


def test_config_validation_names_field():
    with pytest.raises(ConfigError, match="samples_per_step"):
        AlgorithmConfig(samples_per_step=1).validate()
    with pytest.raises(ConfigError, match="method='x'"):
        AlgorithmConfig(method="x").validate()
    with pytest.raises(ConfigError, match="pool_sizes"):
        init_worker(AlgorithmConfig(), 0, pool_sizes=(3,), train_size=5, seed=0)
    AlgorithmConfig(method="demos-only", fragment_length=0).validate()
    AlgorithmConfig.paper().validate()
    with pytest.raises(ConfigError, match="unknown"):
        AlgorithmConfig.from_dict({"lr": 1})


def test_worker_state_roundtrip_is_lossless():
    cfg, ws = make()
    for _ in range(3):
        batch = worker_plan(ws, cfg)
        ws, _ = worker_on_scores(ws, batch, np.random.default_rng(ws.step).uniform(size=(4, 5)), cfg)
    d = worker_state_to_dict(ws)
    back = worker_state_from_dict(json.loads(json.dumps(d)))
    assert worker_state_to_dict(back) == d
