"""SIGKILL the real ``asyndbt run`` (embedded model) at random points; ``--resume`` must end where an uninterrupted run ends.

Compared: the result summary, every exported prompt and the whole event log (nothing lost, nothing
duplicated), with wall-clock fields left out. The score cache is shared, so the replay after a kill
costs little. bench/reliability.py runs the same check at more kill points.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from crash_harness import diff, final_state, run_killed_and_resumed, run_uninterrupted

CONFIG = """\
method = "asyndbt"
seed = 3
[task]
name = "synthetic"
test_size = 16
val_size = 12
train_per_class = 6
pool_per_class = 6
[partition]
workers = 3
[vocab]
size = 12
[simulation]
max_worker_steps = 12
eval_every = 2
checkpoint_every = 1
[algorithm]
batch_size = 3
samples_per_step = 2
fragment_length = 2
min_reports = 2
tau = 3
[llm]
threads = 2
"""
KILLS = int(os.environ.get("ASYNDBT_KILL_POINTS", "2"))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kill")
    config = tmp / "run.toml"
    config.write_text(CONFIG, encoding="utf-8")
    reference = final_state(run_uninterrupted(config, tmp / "ref"))
    return tmp, config, reference


@pytest.mark.parametrize("attempt", range(KILLS))
def test_kill_9_then_resume_equals_uninterrupted(setup, attempt):
    tmp, config, reference = setup
    n_updates = sum(e["event"] == "server_update" for e in reference["events"])
    kill_after = int(np.random.default_rng(attempt).integers(1, n_updates))
    run_dir, killed = run_killed_and_resumed(config, tmp / f"kill{attempt}", kill_after)
    assert killed, f"the run finished before {kill_after} updates were logged"
    got = final_state(run_dir)
    assert got == reference, diff(got, reference)
    seqs = [e["seq"] for e in got["events"]]
    assert seqs == list(range(len(seqs)))
