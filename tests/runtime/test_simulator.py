"""Simulator plumbing on the synthetic task with the deterministic FAKE backend (no real LLM)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from asyndbt import job
from asyndbt.config import build_config
from asyndbt.llm import LLMClient, ScoreCache
from asyndbt.runtime import RunDir
from fake_llm import FakeBackend


def _cfg(tmp_path, *extra: str):
    base = [
        "task.name=synthetic",
        "partition.workers=3",
        "simulation.max_worker_steps=18",
        "simulation.eval_every=2",
        "simulation.checkpoint_every=2",
        "task.test_size=20", "task.val_size=12",
        "vocab.size=20",
        f"output_dir={json.dumps(str(tmp_path))}",
        'algorithm={"batch_size": 4, "samples_per_step": 3, "fragment_length": 3, "min_reports": 2, "tau": 3}',
    ]
    return build_config(overrides=base + list(extra))


class Crash(RuntimeError):
    pass


class CrashingClient(LLMClient):
    """Raises after a fixed number of score calls, like a process killed mid-run."""

    def __init__(self, *a, crash_after: int, **kw):
        super().__init__(*a, **kw)
        self.left = crash_after

    def score(self, requests, **kw):
        self.left -= kw.get("purpose") == "train"  # count training calls: validation rounds vary in number
        if self.left < 0:
            raise Crash("simulated crash")
        return super().score(requests, **kw)


def _run(cfg, rundir=None, client=None, resume=False):
    prepared = job.prepare(cfg)
    client = client or LLMClient(FakeBackend())
    return job.run_method(cfg, prepared, client, rundir=rundir, resume=resume)


def _events(rundir):
    return [{k: v for k, v in e.items()} for e in rundir.events()]


def test_same_seed_same_run(tmp_path):
    cfg = _cfg(tmp_path)
    a = RunDir(tmp_path / "a")
    b = RunDir(tmp_path / "b")
    ra = _run(cfg, a)
    rb = _run(cfg, b)
    assert ra.summary() == rb.summary()
    assert _events(a) == _events(b)
    assert [p.to_dict() for p in ra.prompts] == [p.to_dict() for p in rb.prompts]


def test_different_seed_differs(tmp_path):
    ra = _run(_cfg(tmp_path))
    rb = _run(_cfg(tmp_path, "seed=1"))
    assert ra.summary() != rb.summary()


def test_budget_and_min_reports_respected(tmp_path):
    cfg = _cfg(tmp_path)
    rd = RunDir(tmp_path / "r")
    res = _run(cfg, rd)
    assert res.worker_steps == cfg.simulation.max_worker_steps
    assert res.stopped_by == "max_worker_steps"
    updates = [e for e in rd.events() if e["event"] == "server_update"]
    assert updates, "the server never updated"
    for e in updates:
        assert len(e["reporters"]) >= 2
    seqs = [e["seq"] for e in rd.events()]
    assert seqs == list(range(len(seqs)))


def test_resume_after_crash_equals_uninterrupted(tmp_path):
    cfg = _cfg(tmp_path)
    full = RunDir(tmp_path / "full")
    ref = _run(cfg, full, client=LLMClient(FakeBackend(), cache=ScoreCache(tmp_path / "c1.sqlite")))

    crashed = RunDir(tmp_path / "crashed")
    crashed.write_config(cfg.to_dict())
    cache = tmp_path / "c2.sqlite"
    with pytest.raises(Crash):
        _run(cfg, crashed, client=CrashingClient(FakeBackend(), cache=ScoreCache(cache), crash_after=16))
    assert crashed.load_checkpoint() is not None, "no checkpoint was written before the crash"
    backend = FakeBackend()
    resumed = _run(cfg, crashed, client=LLMClient(backend, cache=ScoreCache(cache)), resume=True)
    assert resumed.summary() == ref.summary()
    assert [p.to_dict() for p in resumed.prompts] == [p.to_dict() for p in ref.prompts]
    assert _events(crashed) == _events(full)  # nothing lost, nothing duplicated


def test_dropout_and_return_do_not_stall(tmp_path):
    cfg = _cfg(tmp_path, 'simulation.dropouts=[{"worker": 2, "at": 0.5, "until": 5.0}]', "simulation.max_worker_steps=24")
    rd = RunDir(tmp_path / "d")
    res = _run(cfg, rd)
    kinds = [e["event"] for e in rd.events()]
    assert "worker_failed" in kinds and "worker_returned" in kinds
    assert res.worker_steps == 24


def test_straggler_slows_sync_more_than_async(tmp_path):
    slow = ["simulation.straggler_factor=10", "simulation.network_sigma=0"]
    r_async = _run(_cfg(tmp_path, *slow))
    r_sync = _run(_cfg(tmp_path, *slow, "method=sync-dbt"))
    assert r_async.worker_steps == r_sync.worker_steps
    assert r_async.virtual_time < r_sync.virtual_time / 2


@pytest.mark.parametrize("method", ["cendbt", "bdpl", "demos-only", "fragment-only", "sync-dbt", "random-search",
                                    "fedavg"])
def test_every_method_runs(tmp_path, method):
    res = _run(_cfg(tmp_path, f"method={method}"))
    assert res.worker_steps == 18
    assert all(0.0 <= t.accuracy <= 1.0 for t in res.test)
    if method == "demos-only":
        assert all(p.fragment_words == () for p in res.prompts)
    # every method goes through the same selection: one record per exported prompt
    assert len(res.selection["workers"]) == len(res.prompts)
    assert res.history[-1]["final"] and res.history[-1]["llm_calls"] >= res.train_requests


def test_current_prompts_follow_the_run_without_changing_it(tmp_path):
    """A watcher (the trajectory benchmarks) reads each worker's tuned prompt mid-run; the run is unchanged."""
    cfg = _cfg(tmp_path)
    prepared = job.prepare(cfg)
    seen = []

    def on_progress(info):
        if info.get("kind") == "update":
            prompts = sim.current_prompts()
            shared = alg.best_shared_fragment(sim.server)
            words = tuple(w for w in (sim.envs[0].vocab[int(j)] for j in shared) if w)
            assert all(p.fragment_words == prompts[0].fragment_words for p in prompts)  # one shared fragment
            assert set(prompts[0].fragment_words) <= set(words)
            seen.append((sim.worker_steps, sim.llm_calls, [p.demonstrations for p in prompts]))

    from asyndbt import algorithm as alg

    sim = job.make_simulation(cfg, prepared, LLMClient(FakeBackend()), on_progress=on_progress)
    sim.start()
    watched = sim.run()
    plain = _run(cfg)
    assert [t.accuracy for t in watched.test] == [t.accuracy for t in plain.test]
    assert watched.history == plain.history
    assert len(seen) >= 6 and [s[0] for s in seen] == sorted(s[0] for s in seen)
    assert all(b[1] >= a[1] for a, b in zip(seen[:-1], seen[1:], strict=True))  # calls only grow (training and validation)
    assert seen[0][2] != seen[-1][2]  # the argmax demonstrations moved during the run
    assert sim.llm_calls == watched.history[-1]["llm_calls"]


def test_random_search_never_learns(tmp_path):
    """The control samples prompts from the initial policies and keeps them: no policy step at all."""
    from asyndbt import algorithm as alg

    cfg = _cfg(tmp_path, "method=random-search")
    prepared = job.prepare(cfg)
    acfg = job.algorithm_config(cfg, prepared.task, prepared.vocab)
    ws = alg.init_worker(acfg, 0, pool_sizes=prepared.federated_envs()[0].pool_sizes, train_size=4, seed=0)
    batch = alg.worker_plan(ws, acfg)
    losses = np.arange(batch.fragments.shape[0] * batch.queries.shape[0], dtype=float).reshape(
        batch.fragments.shape[0], batch.queries.shape[0])
    new, _ = alg.worker_on_scores(ws, batch, losses, acfg)
    assert np.array_equal(new.p, ws.p) and all(np.array_equal(a, b) for a, b in zip(new.q, ws.q, strict=True))
    assert len(new.elites) == min(acfg.num_elites, batch.fragments.shape[0])


class BudgetClient(LLMClient):
    """Raises BudgetExceeded (as the client does when a budget is reached) after a number of calls."""

    def __init__(self, *a, calls: int, **kw):
        super().__init__(*a, **kw)
        self.left = calls

    def score(self, requests, **kw):
        from asyndbt.errors import BudgetExceeded

        self.left -= 1
        if self.left < 0:
            raise BudgetExceeded("request budget of the test reached")
        return super().score(requests, **kw)


def test_budget_stop_checkpoints_and_resume_finishes_identically(tmp_path):
    cfg = _cfg(tmp_path)
    counting = BudgetClient(FakeBackend(), calls=10**9)
    ref = _run(cfg, RunDir(tmp_path / "ref"), client=counting)
    rd = RunDir(tmp_path / "b")
    cache = tmp_path / "b.sqlite"
    # stop halfway through the reference run's LLM calls: past the step-0 selection round, before the test
    half = (10**9 - counting.left) // 2
    stopped = _run(cfg, rd, client=BudgetClient(FakeBackend(), cache=ScoreCache(cache), calls=half))
    assert stopped.stopped_by == "budget" and stopped.test == []
    assert any(e["event"] == "budget_stop" for e in rd.events())
    resumed = _run(cfg, rd, client=LLMClient(FakeBackend(), cache=ScoreCache(cache)), resume=True)
    assert resumed.summary() == ref.summary()
