"""Byzantine workers in the simulator (deterministic FAKE backend, no real LLM)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from asyndbt import algorithm as alg
from asyndbt import job
from asyndbt.config import build_config
from asyndbt.errors import ConfigError
from asyndbt.llm import LLMClient
from asyndbt.optim import on_simplex, project_simplex
from asyndbt.runtime import RunDir
from asyndbt.runtime._byzantine import corrupt_report, poison_env, target_fragment_ids
from fake_llm import FakeBackend


def _cfg(tmp_path, *extra: str):
    return build_config(overrides=[
        "task.name=synthetic", "partition.workers=4", "simulation.max_worker_steps=40", "simulation.eval_every=4",
        "task.test_size=20", "task.val_size=12", "vocab.size=12", f"output_dir={json.dumps(str(tmp_path))}",
        'algorithm={"batch_size": 4, "samples_per_step": 3, "fragment_length": 3, "min_reports": 2, "tau": 3}',
        *extra])


def _report(rng, m=3, n=5):
    p_prev = project_simplex(rng.random((m, n)))
    p = project_simplex(p_prev + 0.1 * rng.standard_normal((m, n)))
    return alg.WorkerReport(1, 4, 2, p, p_prev, rng.standard_normal((m, n)), 0.7, 0.1, 12)


@pytest.mark.parametrize("attack", ["sign_flip", "random", "target_fragment"])
def test_corrupted_reports_are_valid_messages(attack):
    """Attacks must pass the server's input checks (on the simplex, finite): only robustness can stop them."""
    rep = _report(np.random.default_rng(0))
    bad = corrupt_report(rep, attack, seed=3)
    assert on_simplex(bad.p) and np.all(np.isfinite(bad.grad_p))
    assert not np.allclose(bad.p, rep.p)
    assert (bad.worker, bad.step, bad.based_on_server_step) == (rep.worker, rep.step, rep.based_on_server_step)
    if attack == "sign_flip":  # moves the other way
        assert np.sum((bad.p - rep.p_prev) * (rep.p - rep.p_prev)) < 0
    if attack == "target_fragment":
        np.testing.assert_array_equal(bad.p.argmax(axis=1), target_fragment_ids(3, 3, 5))


def test_label_poison_shifts_labels_and_pools(tmp_path):
    prepared = job.prepare(_cfg(tmp_path))
    env = prepared.federated_envs()[0]
    bad = poison_env(env)
    assert [e.label for e in bad.train] == [(e.label + 1) % env.task.num_classes for e in env.train]
    assert bad.pools[1] == env.pools[0] and bad.validation == env.validation and bad.test == env.test


def test_target_attacker_pulls_consensus_and_is_logged(tmp_path):
    # no empty word: the honest workers' 0.5 prior on it would outvote a single attacker's target
    clean_cfg = _cfg(tmp_path / "a", "vocab.empty=false")
    clean = job.run_method(clean_cfg, job.prepare(clean_cfg), LLMClient(FakeBackend()))
    cfg = _cfg(tmp_path / "b", "vocab.empty=false", 'simulation.byzantine=[{"worker": 3, "attack": "target_fragment"}]',
               'algorithm={"batch_size": 4, "samples_per_step": 3, "fragment_length": 3, "min_reports": 2, '
               '"tau": 3, "psi": 0.0}')
    rundir = RunDir(tmp_path / "b" / "run")
    res = job.run_method(cfg, job.prepare(cfg), LLMClient(FakeBackend()), rundir=rundir)
    target = target_fragment_ids(cfg.seed, 3, 12)
    vocab = job.prepare(cfg).vocab
    # the exported fragment drops empty and repeated words, so count target words it contains
    hits = sum(vocab[t] in res.global_fragment for t in set(target) if vocab[t])
    clean_hits = sum(vocab[t] in clean.global_fragment for t in set(target) if vocab[t])
    assert hits > clean_hits  # the attack reaches the consensus when nothing resists it
    start = next(e for e in rundir.events() if e["event"] == "run_start")
    assert start["byzantine"] == {"3": "target_fragment"}


@pytest.mark.parametrize("entry, fix", [
    ('[{"worker": 9, "attack": "random"}]', "not in [0, 4)"),
    ('[{"worker": 1, "attack": "gaslight"}]', "unknown"),
    ('[{"worker": 1}]', "worker and attack"),
    ('[{"worker": 1, "attack": "random"}, {"worker": 1, "attack": "sign_flip"}]', "twice"),
])
def test_bad_byzantine_config_is_rejected(tmp_path, entry, fix):
    with pytest.raises(ConfigError, match="simulation.byzantine") as err:
        _cfg(tmp_path, f"simulation.byzantine={entry}")
    assert fix in str(err.value)
