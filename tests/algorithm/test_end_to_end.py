import json

import numpy as np
import pytest

from algorithm.fake_algorithm import FakeLoss, run_fake
from asyndbt.algorithm import (
    AlgorithmConfig,
    init_server,
    init_worker,
    server_on_report,
    server_start,
    server_state_from_dict,
    server_state_to_dict,
    worker_on_scores,
    worker_on_update,
    worker_plan,
    worker_state_from_dict,
    worker_state_to_dict,
)
from asyndbt.optim import on_simplex


def small(method, **kw):
    # the fake task's vocabulary has no empty word, so the policies start uniform; one shot per class
    # unless a test says otherwise (the fake's expected loss is exact there)
    kw.setdefault("shots", 1)
    return AlgorithmConfig(method=method, fragment_length=4, vocab_size=20, batch_size=4, empty_word_prior=0.0, **kw)


@pytest.mark.parametrize(("method", "workers"), [("asyndbt", 3), ("cendbt", 1), ("bdpl", 1),
                                                  ("sync-dbt", 2), ("fragment-only", 2), ("fedavg", 3)])
def test_methods_lower_the_fake_loss(method, workers):
    cfg = small(method)
    ss, ws, infos, fake = run_fake(cfg, num_workers=workers, events=100 * workers, seed=3)
    assert len(infos) > 20
    first, last = np.mean([i["mean_loss"] for i in infos[:3]]), np.mean([i["mean_loss"] for i in infos[-5:]])
    assert last < first - 0.3, (first, last)
    for w in ws:
        assert on_simplex(w.p) and all(on_simplex(q) for q in w.q)
        frag_loss = 1.0 - float((w.p @ fake.target.astype(float)).mean())
        assert frag_loss < 0.4  # started at 0.8
    assert on_simplex(ss.z)


def test_two_shots_per_class_also_learn():
    cfg = small("asyndbt", shots=2)
    _, ws, infos, fake = run_fake(cfg, num_workers=3, events=300, seed=3)
    first, last = np.mean([i["mean_loss"] for i in infos[:3]]), np.mean([i["mean_loss"] for i in infos[-5:]])
    assert last < first - 0.3, (first, last)
    for w in ws:  # the good candidate of every class gained mass
        for q, qual in zip(w.q, fake.demo_quality, strict=True):
            assert q[int(np.argmin(qual))] > 1.5 / q.size


def test_identical_seeds_identical_trajectories():
    cfg = small("asyndbt")
    a = run_fake(cfg, num_workers=3, events=60, seed=1, order_seed=4)
    b = run_fake(cfg, num_workers=3, events=60, seed=1, order_seed=4)
    assert server_state_to_dict(a[0]) == server_state_to_dict(b[0])
    assert [worker_state_to_dict(w) for w in a[1]] == [worker_state_to_dict(w) for w in b[1]]
    c = run_fake(cfg, num_workers=3, events=60, seed=2, order_seed=4)
    assert server_state_to_dict(a[0]) != server_state_to_dict(c[0])


def test_resume_from_checkpoint_equals_uninterrupted_run():
    cfg = small("sync-dbt", cut_every=2)
    fake = FakeLoss(cfg.vocab_size, (5, 5), seed=0)

    def step_all(ss, ws):
        for v in range(len(ws)):
            batch = worker_plan(ws[v], cfg)
            ws[v], rep = worker_on_scores(ws[v], batch, fake(batch), cfg)
            ss, ups = server_on_report(ss, rep, cfg)
            for u in ups:
                ws[u.worker] = worker_on_update(ws[u.worker], u, cfg)
        return ss, ws

    ss, ups = server_start(init_server(cfg, num_workers=2, seed=0), cfg)
    ws = [init_worker(cfg, v, pool_sizes=(5, 5), train_size=30, seed=0) for v in range(2)]
    ws = [worker_on_update(w, u, cfg) for w, u in zip(ws, ups, strict=True)]
    for _ in range(5):
        ss, ws = step_all(ss, ws)
    ckpt = json.dumps({"server": server_state_to_dict(ss), "workers": [worker_state_to_dict(w) for w in ws]})
    for _ in range(5):
        ss, ws = step_all(ss, ws)
    loaded = json.loads(ckpt)
    ss2 = server_state_from_dict(loaded["server"])
    ws2 = [worker_state_from_dict(w) for w in loaded["workers"]]
    for _ in range(5):
        ss2, ws2 = step_all(ss2, ws2)
    assert server_state_to_dict(ss2) == server_state_to_dict(ss)
    assert [worker_state_to_dict(w) for w in ws2] == [worker_state_to_dict(w) for w in ws]
    assert ss.cuts_added > 0


def test_fedavg_workers_restart_from_the_average_policy():
    """FedAvg-style baseline: z is the mean of the workers' p, and each reply resets the worker's p to it."""
    cfg = small("fedavg")
    fake = FakeLoss(cfg.vocab_size, (5, 5), seed=0)
    ss, ups = server_start(init_server(cfg, num_workers=3, seed=0), cfg)
    assert ss.min_reports == 3 and ss.tau == 1
    ws = [init_worker(cfg, v, pool_sizes=(5, 5), train_size=30, seed=v) for v in range(3)]
    for u in ups:
        ws[u.worker] = worker_on_update(ws[u.worker], u, cfg)
    reported = []
    for v in range(3):
        batch = worker_plan(ws[v], cfg)
        ws[v], rep = worker_on_scores(ws[v], batch, fake(batch), cfg)
        reported.append(np.asarray(rep.p))
        ss, ups = server_on_report(ss, rep, cfg)
        assert bool(ups) == (v == 2)  # nobody moves on before every worker has reported
    assert not np.allclose(reported[0], reported[1])  # the local steps differ
    np.testing.assert_allclose(ss.z, np.mean(reported, axis=0), atol=1e-12)
    assert ss.cuts_lambda.size == 0 and all(not r.any() for r in ss.rho)  # no duals, no cuts
    for u in ups:
        ws[u.worker] = worker_on_update(ws[u.worker], u, cfg)
    for w in ws:
        np.testing.assert_allclose(w.p, ss.z)
