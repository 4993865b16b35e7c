"""Property-based fuzzing of every parser a user's input reaches: no input may end in a traceback.

Each property feeds generated input to a parser and accepts exactly two outcomes: a result, or an
:class:`~asyndbt.errors.AsyndbtError` (whose one-line message the CLI prints). Any other exception
is a crash the user would see as a traceback.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyndbt.config import build_config
from asyndbt.errors import AsyndbtError
from asyndbt.tasks import TaskSpec, load_table, split_examples

FIELDS = [
    "method", "seed", "output_dir", "algorithm", "task.name", "task.data_dir", "task.train_per_class",
    "task.val_per_class", "task.test_size", "task.pool_per_class", "task.train_file", "task.text_columns",
    "task.label_words", "task.labels", "task.instruction", "partition.workers", "partition.scheme",
    "partition.alpha", "partition.test_mode", "llm.backend", "llm.model", "llm.n_ctx", "llm.threads", "llm.mode",
    "llm.timeout_s", "llm.max_concurrency", "llm.max_retries", "llm.retry_jitter", "llm.requests_per_s",
    "llm.max_requests", "llm.max_cost", "vocab.size", "vocab.max_ngram", "simulation.max_worker_steps",
    "simulation.eval_every", "simulation.network_sigma", "simulation.compute", "simulation.speed_factors",
    "simulation.straggler_factor", "simulation.dropouts", "simulation.byzantine", "nosuch", "task.nosuch",
    "llm.nosuch.deeper",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
override = st.tuples(st.sampled_from(FIELDS) | st.text(max_size=15), json_values | st.text(max_size=15)).map(
    lambda kv: f"{kv[0]}={kv[1] if isinstance(kv[1], str) else json.dumps(kv[1])}")
# CI runs 150 examples per property; bench/reliability.py runs many more (ASYNDBT_FUZZ_EXAMPLES).
FUZZ = settings(max_examples=int(os.environ.get("ASYNDBT_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def _accepts_or_rejects_cleanly(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except AsyndbtError as exc:
        assert str(exc).strip(), "an error needs a message"


@FUZZ
@given(st.lists(override, max_size=4) | st.lists(st.text(max_size=30), max_size=3))
def test_cli_overrides_never_crash(overrides):
    _accepts_or_rejects_cleanly(build_config, overrides=overrides)


@FUZZ
@given(st.sampled_from([".yaml", ".toml", ".json", ".yml", ".cfg"]),
       st.text(max_size=200) | json_values.map(json.dumps) | st.dictionaries(st.sampled_from(
           ["task", "llm", "simulation", "method", "seed", "partition"]), json_values, max_size=3).map(json.dumps))
def test_config_files_never_crash(suffix, text):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"run{suffix}"
        path.write_text(text, encoding="utf-8")
        _accepts_or_rejects_cleanly(build_config, path)


TASK = TaskSpec("fuzz", 'Is "{text_a}" good?', ("No", "Yes"))
cell = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@FUZZ
@given(st.sampled_from([".csv", ".tsv", ".jsonl"]),
       st.binary(max_size=300)
       | st.lists(st.lists(cell, max_size=4), max_size=8).map(
           lambda rows: "\n".join(",".join(r) for r in [["text", "label"], *rows]).encode("utf-8"))
       | st.lists(st.dictionaries(st.sampled_from(["text", "label", "x"]), json_values, max_size=3), max_size=8).map(
           lambda rows: "\n".join(json.dumps(r) for r in rows).encode("utf-8")))
def test_data_files_never_crash(suffix, content):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"data{suffix}"
        path.write_bytes(content)
        try:
            rows = load_table(path, text_columns=["text"], label_column="label", label_words=TASK.label_words)
        except AsyndbtError:
            return
        _accepts_or_rejects_cleanly(split_examples, TASK, rows, seed=0, train_per_class=1, val_per_class=1,
                                    test_size=1, pool_per_class=1)


@FUZZ
@given(st.text(max_size=60), st.lists(st.text(max_size=6), max_size=4))
def test_task_templates_and_label_words_never_crash(instruction, words):
    _accepts_or_rejects_cleanly(TaskSpec, "fuzz", instruction, tuple(words))
