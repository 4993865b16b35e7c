from collections import Counter

import pytest

from asyndbt.tasks import TaskSplits, get_task, load_task_splits, split_examples


def _uids(examples):
    return {e.uid for e in examples}


def _assert_disjoint(splits: TaskSplits):
    parts = [splits.train, splits.validation, splits.test, splits.pool]
    seen = set()
    for part in parts:
        uids = _uids(part)
        assert len(uids) == len(part)
        assert not uids & seen
        seen |= uids


@pytest.fixture(scope="module")
def sst2_splits(sst2_train, sst2_dev):
    return split_examples(get_task("sst2"), sst2_train, sst2_dev, seed=0, source="sst2")


def test_protocol_sizes_and_class_counts(sst2_splits):
    s = sst2_splits
    assert s.label_counts("train") == (10, 10)
    assert s.label_counts("validation") == (10, 10)
    assert s.label_counts("pool") == (50, 50)
    assert len(s.test) == 200
    assert [len(g) for g in s.pool_by_class()] == [50, 50]
    assert all(e.label == c for c, group in enumerate(s.pool_by_class()) for e in group)
    _assert_disjoint(s)


def test_splits_come_from_the_right_files(sst2_splits):
    s = sst2_splits
    assert all(e.uid.startswith("sst2/train/") for e in (*s.train, *s.pool))
    assert all(e.uid.startswith("sst2/dev/") for e in (*s.validation, *s.test))
    assert any("seed 0" in n for n in s.notes)


def test_same_seed_same_splits_other_seed_differs(sst2_splits, sst2_train, sst2_dev):
    again = split_examples(get_task("sst2"), sst2_train, sst2_dev, seed=0, source="sst2")
    assert again == sst2_splits
    other = split_examples(get_task("sst2"), sst2_train, sst2_dev, seed=1, source="sst2")
    assert _uids(other.train) != _uids(sst2_splits.train)
    assert _uids(other.test) != _uids(sst2_splits.test)


@pytest.mark.parametrize("task", ["cola", "mrpc"])
def test_load_task_splits_glue(data_dir, task):
    s = load_task_splits(task, data_dir=data_dir, seed=3)
    assert s.label_counts("train") == (10, 10)
    assert s.label_counts("pool") == (50, 50)
    assert len(s.test) == 200
    _assert_disjoint(s)


def test_qnli_is_carved_from_dev_only_with_a_note(data_dir):
    s = load_task_splits("QNLI", data_dir=data_dir, seed=0)
    assert s.label_counts("train") == (10, 10)
    assert s.label_counts("validation") == (10, 10)
    assert s.label_counts("pool") == (50, 50)
    assert len(s.test) == 200
    _assert_disjoint(s)
    assert all(e.uid.startswith("qnli/dev/") for e in (*s.train, *s.validation, *s.test, *s.pool))
    assert any("only dev.tsv" in n and "without overlap" in n for n in s.notes)


def test_custom_sizes_and_three_classes():
    from asyndbt.tasks import Example, TaskSpec

    spec = TaskSpec("topic", 'Topic of "{text_a}"?', ("A", "B", "C"))
    rows = [Example(f"t/{i}", (f"text {i}",), i % 3) for i in range(300)]
    s = split_examples(spec, rows, seed=5, train_per_class=2, val_per_class=3, test_size=30, pool_per_class=4)
    assert s.label_counts("train") == (2, 2, 2)
    assert s.label_counts("validation") == (3, 3, 3)
    assert s.label_counts("pool") == (4, 4, 4)
    assert len(s.test) == 30
    _assert_disjoint(s)
    assert any("one source only" in n for n in s.notes)


def test_test_split_is_random_not_stratified(sst2_splits):
    counts = Counter(e.label for e in sst2_splits.test)
    assert sum(counts.values()) == 200 and set(counts) == {0, 1}
