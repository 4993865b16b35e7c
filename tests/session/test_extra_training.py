"""task.extra_train_per_class: more training queries without touching validation, test or pool."""

from __future__ import annotations

import json

import pytest

from asyndbt import job
from asyndbt.config import build_config
from asyndbt.errors import ConfigError, DataError


def _cfg(tmp_path, *extra):
    return build_config(overrides=["task.name=synthetic", "task.test_size=40", "task.val_size=30",
                                   f"output_dir={json.dumps(str(tmp_path))}", *extra])


def _keys(examples):
    return [(e.texts, e.label) for e in examples]


def test_extra_rows_leave_the_other_splits_as_drawn(tmp_path):
    base = job.load_splits(_cfg(tmp_path), seed=3)
    more = job.load_splits(_cfg(tmp_path, "task.extra_train_per_class=6"), seed=3)
    for part in ("validation", "test", "pool"):
        assert _keys(getattr(more, part)) == _keys(getattr(base, part))
    assert _keys(more.train[:len(base.train)]) == _keys(base.train)
    added = more.train[len(base.train):]
    assert more.label_counts("train") == tuple(c + 6 for c in base.label_counts("train"))
    used = set(_keys((*base.train, *base.validation, *base.test, *base.pool)))
    assert not used & set(_keys(added)) and len(set(_keys(added))) == len(added)
    assert _keys(job.load_splits(_cfg(tmp_path, "task.extra_train_per_class=6"), seed=3).train) == _keys(more.train)
    assert any("more training queries" in n for n in more.notes)


def test_too_many_extra_rows_name_the_setting(tmp_path):
    with pytest.raises(DataError, match="extra_train_per_class"):
        job.load_splits(_cfg(tmp_path, "task.extra_train_per_class=100000"), seed=0)


@pytest.mark.parametrize("value", ["-1", "1.5", "true"])
def test_bad_values_are_refused(tmp_path, value):
    with pytest.raises(ConfigError, match="extra_train_per_class"):
        _cfg(tmp_path, f"task.extra_train_per_class={value}")
