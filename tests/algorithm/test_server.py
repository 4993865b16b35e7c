import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyndbt.algorithm import (
    AlgorithmConfig,
    WorkerFailed,
    WorkerReport,
    init_server,
    ready,
    server_on_failure,
    server_on_report,
    server_start,
)
from asyndbt.errors import ConfigError
from asyndbt.optim import project_simplex

M, N = 2, 4


def cfg_for(**kw):
    return AlgorithmConfig(fragment_length=M, vocab_size=N, **kw)


def report(v, *, step=0, based_on=0, p=None, grad=None):
    p = np.full((M, N), 1 / N) if p is None else p
    grad = np.zeros((M, N)) if grad is None else grad
    return WorkerReport(v, step, based_on, p, p.copy(), grad, 1.0, 0.1, 8)


def test_never_updates_with_fewer_than_s_reports():
    cfg = cfg_for(min_reports=3, tau=10)
    ss, _ = server_start(init_server(cfg, num_workers=4, seed=0), cfg)
    ss, ups = server_on_report(ss, report(0), cfg)
    ss, ups2 = server_on_report(ss, report(1), cfg)
    assert not ups and not ups2 and ss.iteration == 0
    ss, ups = server_on_report(ss, report(2), cfg)
    assert ss.iteration == 1 and sorted(u.worker for u in ups) == [0, 1, 2]
    assert ss.last_update_info["reporters"] == [0, 1, 2]


def test_tau_one_is_synchronous():
    cfg = cfg_for(min_reports=1, tau=1)
    ss, _ = server_start(init_server(cfg, num_workers=3, seed=0), cfg)
    for v in (2, 0):
        ss, ups = server_on_report(ss, report(v), cfg)
        assert not ups
    ss, ups = server_on_report(ss, report(1), cfg)
    assert len(ups) == 3


def test_sync_dbt_forces_all_workers():
    cfg = cfg_for(method="sync-dbt", min_reports=1, tau=9)
    ss = init_server(cfg, num_workers=3, seed=0)
    assert ss.min_reports == 3 and ss.tau == 1


def test_default_staleness_bound_scales_with_workers_per_report():
    cfg = cfg_for()  # tau unset
    assert init_server(cfg, num_workers=3, seed=0).tau == 4  # the default 3 workers, S = 2
    assert init_server(cfg, num_workers=8, seed=0).tau == 10  # 8 workers, S = 2: 4 iterations per own step
    assert init_server(cfg_for(min_reports=4), num_workers=8, seed=0).tau == 5
    assert init_server(cfg_for(tau=6), num_workers=8, seed=0).tau == 6  # a tau that is set wins
    assert init_server(cfg_for(method="sync-dbt"), num_workers=8, seed=0).tau == 1
    with pytest.raises(ConfigError, match="tau"):
        cfg_for(tau=0).validate()


def test_centralised_methods_need_one_worker():
    with pytest.raises(ConfigError, match="num_workers=2"):
        init_server(cfg_for(method="cendbt"), num_workers=2, seed=0)


@settings(max_examples=40, deadline=None)
@given(order=st.lists(st.integers(0, 4), min_size=1, max_size=80),
       s=st.integers(1, 5), tau=st.integers(1, 4))
def test_staleness_never_reaches_tau_and_s_respected(order, s, tau):
    cfg = cfg_for(min_reports=s, tau=tau, cut_every=3)
    ss, _ = server_start(init_server(cfg, num_workers=5, seed=0), cfg)
    waiting = set()  # workers with a report sent and no reply yet cannot report again
    for v in order:
        if v in waiting:
            continue
        before = ss.iteration
        ss, ups = server_on_report(ss, report(v, based_on=ss.iteration), cfg)
        waiting.add(v)
        if ups:
            assert ss.iteration == before + 1
            assert len(ups) >= min(s, 5)
            waiting -= {u.worker for u in ups}
        assert np.all(ss.staleness < tau)


def test_rejections_are_counted_not_raised():
    cfg = cfg_for()
    ss, _ = server_start(init_server(cfg, num_workers=2, seed=0), cfg)
    bad_p = np.full((M, N), 1 / N)
    bad_p[0, 0] = np.nan
    off = np.full((M, N), 0.5)
    cases = [
        (report(7), "unknown_worker"),
        (report(0, p=np.full((M, N + 1), 1 / (N + 1))), "bad_shape"),
        (report(0, p=bad_p), "non_finite"),
        (report(0, p=off), "off_simplex"),
        (report(0, based_on=5), "future_step"),
    ]
    for rep, reason in cases:
        ss, ups = server_on_report(ss, rep, cfg)
        assert ups == [] and ss.rejected[reason] == 1
        assert ss.last_rejection.startswith(reason)
    assert all(r is None for r in ss.pending)


def test_duplicate_replaces_older_report():
    cfg = cfg_for(min_reports=2, tau=10)
    ss, _ = server_start(init_server(cfg, num_workers=2, seed=0), cfg)
    first = np.tile([0.7, 0.1, 0.1, 0.1], (M, 1))
    second = np.tile([0.1, 0.7, 0.1, 0.1], (M, 1))
    ss, _ = server_on_report(ss, report(0, p=first), cfg)
    ss, _ = server_on_report(ss, report(0, p=second, step=1), cfg)
    assert ss.duplicates_replaced == 1
    ss, ups = server_on_report(ss, report(1), cfg)
    assert len(ups) == 2
    np.testing.assert_array_equal(ss.p_latest[0], second)


def test_failure_unblocks_and_worker_rejoins():
    cfg = cfg_for(min_reports=3, tau=1)
    ss, _ = server_start(init_server(cfg, num_workers=3, seed=0), cfg)
    ss, _ = server_on_report(ss, report(0), cfg)
    ss, _ = server_on_report(ss, report(1), cfg)
    assert not ready(ss, cfg)
    ss, ups = server_on_failure(ss, WorkerFailed(2, "timeout"), cfg)
    assert len(ups) == 2 and ss.failures == 1 and not ss.live[2]
    # everyone failing: no deadlock, just waiting
    ss, _ = server_on_failure(ss, WorkerFailed(0, "crash"), cfg)
    ss, _ = server_on_failure(ss, WorkerFailed(1, "crash"), cfg)
    assert not ready(ss, cfg)
    ss, ups = server_on_report(ss, report(2, based_on=0), cfg)  # rejoins; alone it is enough
    assert [u.worker for u in ups] == [2] and ss.live[2]
    ss, ups = server_on_failure(ss, WorkerFailed(9, "?"), cfg)
    assert ups == [] and ss.rejected["unknown_worker"] == 1


def test_consensus_moves_z_toward_reports_and_cuts_appear():
    cfg = cfg_for(min_reports=2, tau=3, cut_every=1, epsilon=1e-4)
    ss, _ = server_start(init_server(cfg, num_workers=2, seed=0), cfg)
    peaked = np.tile([0.85, 0.05, 0.05, 0.05], (M, 1))
    grad = np.tile([-1.0, 1.0, 0.0, 0.0], (M, 1))
    for it in range(6):
        for v in (0, 1):
            ss, _ = server_on_report(ss, report(v, based_on=it, p=peaked, grad=grad), cfg)
    assert ss.z[0, 0] > 0.5
    assert ss.cuts_added >= 1 and ss.cuts_lambda.size <= cfg.max_cuts
    assert np.all(ss.cuts_lambda >= 0)


def test_running_sums_stay_exact_and_unchanged_rows_are_shared():
    """The O(S M N) update keeps sums over workers incrementally; they must equal the exact sums."""
    cfg = cfg_for(min_reports=2, tau=4, psi=0.05, cut_every=3)
    r = 6
    ss, _ = server_start(init_server(cfg, num_workers=r, seed=0), cfg)
    rng = np.random.default_rng(3)
    for t in range(120):
        before = ss
        v = int(rng.integers(r))
        p = project_simplex(rng.random((M, N)) * 3)
        ss, ups = server_on_report(ss, report(v, step=t, based_on=ss.iteration, p=p,
                                              grad=rng.standard_normal((M, N))), cfg)
        if ups:
            reporters = {u.worker for u in ups}
            for w in set(range(r)) - reporters:  # rows of non-reporters are the same objects
                assert ss.p_latest[w] is before.p_latest[w] and ss.rho[w] is before.rho[w]
            assert not ss.z.flags.writeable and not ups[0].rho.flags.writeable
    assert ss.cuts_added > 0
    np.testing.assert_allclose(ss.p_sum, np.sum(ss.p_latest, axis=0), atol=1e-12)
    np.testing.assert_allclose(ss.rho_sum, np.sum(ss.rho, axis=0), atol=1e-12)
    np.testing.assert_allclose(ss.cuts_ap, np.einsum("lvmn,vmn->l", ss.cuts_a, np.stack(ss.p_latest)), atol=1e-12)
