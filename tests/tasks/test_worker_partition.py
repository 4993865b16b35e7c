import numpy as np
import pytest

from asyndbt.errors import DataError
from asyndbt.tasks import describe_partition, label_counts, load_task_splits, partition


@pytest.fixture(scope="module")
def splits():
    return load_task_splits("synthetic", seed=0)


def _check_cover(parts, whole):
    uids = [e.uid for p in parts for e in p]
    assert len(uids) == len(set(uids)), "workers overlap"
    assert set(uids) == {e.uid for e in whole}, "workers do not cover the split"


@pytest.mark.parametrize("scheme", ["iid", "dirichlet", "quantity"])
@pytest.mark.parametrize("test_mode", ["shared", "own"])
def test_disjoint_covering_and_usable(splits, scheme, test_mode):
    workers = partition(splits, 4, scheme=scheme, alpha=0.1, seed=7, test_mode=test_mode)
    assert [w.worker_id for w in workers] == [0, 1, 2, 3]
    _check_cover([w.train for w in workers], splits.train)
    _check_cover([w.validation for w in workers], splits.validation)
    _check_cover([w.pool for w in workers], splits.pool)
    if test_mode == "own":
        _check_cover([w.test for w in workers], splits.test)
    else:
        assert all(w.test == splits.test for w in workers)
    for w in workers:
        assert len(w.train) >= 1
        assert all(len(group) >= 1 for group in w.pool_by_class(2))


@pytest.mark.parametrize("scheme", ["iid", "dirichlet", "quantity"])
def test_seeded_determinism(splits, scheme):
    a = partition(splits, 3, scheme=scheme, seed=11)
    assert a == partition(splits, 3, scheme=scheme, seed=11)
    b = partition(splits, 3, scheme=scheme, seed=12)
    assert [w.pool for w in a] != [w.pool for w in b]


def test_iid_is_balanced(splits):
    workers = partition(splits, 5, scheme="iid", seed=0)
    assert [len(w.pool) for w in workers] == [20] * 5
    assert all(label_counts(w.pool, 2) == (10, 10) for w in workers)


def _skew(workers):
    fracs = [label_counts(w.pool, 2)[0] / len(w.pool) for w in workers]
    return max(abs(f - 0.5) for f in fracs)


def test_small_alpha_dirichlet_skews_labels(splits):
    skewed = np.mean([_skew(partition(splits, 3, scheme="dirichlet", alpha=0.05, seed=s)) for s in range(5)])
    iid = np.mean([_skew(partition(splits, 3, scheme="iid", seed=s)) for s in range(5)])
    assert skewed > 0.2  # some seeds put both classes on one worker; most give one-class workers
    assert iid < 0.05


def test_quantity_skews_sizes_not_labels(splits):
    workers = partition(splits, 3, scheme="quantity", alpha=0.3, seed=2)
    sizes = sorted(len(w.pool) for w in workers)
    assert sizes[-1] >= 2 * sizes[0]
    for w in workers:
        a, b = label_counts(w.pool, 2)
        assert abs(a - b) <= 2


def test_too_many_workers_for_pool_names_class_and_fix(splits):
    with pytest.raises(DataError, match=r"pool candidate of class 'Terrible'.*lower num_workers"):
        partition(splits, 60, scheme="iid")


def test_too_many_workers_for_train(splits):
    with pytest.raises(DataError, match=r"training example.*lower num_workers or raise train_per_class"):
        partition(splits, 25, scheme="iid")


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"scheme": "zipf"}, "unknown partition scheme 'zipf'"),
        ({"test_mode": "mine"}, "unknown test_mode 'mine'"),
        ({"scheme": "dirichlet", "alpha": 0.0}, "alpha=0.0 must be a positive number"),
    ],
)
def test_bad_arguments(splits, kwargs, needle):
    with pytest.raises(DataError, match=needle):
        partition(splits, 3, **kwargs)


def test_bad_worker_count(splits):
    with pytest.raises(DataError, match="num_workers=0"):
        partition(splits, 0)


def test_describe_partition(splits):
    workers = partition(splits, 3, scheme="dirichlet", alpha=0.5, seed=0)
    text = describe_partition(workers, splits.task)
    lines = text.splitlines()
    assert lines[0].split()[:5] == ["worker", "train", "val", "pool", "test"]
    assert "Terrible/Great" in lines[0]
    assert len(lines) == 1 + 3 + 1
    assert lines[-1] == "test split shared by all workers"
    first = lines[1].split()
    assert first[0] == "0" and int(first[3]) == len(workers[0].pool)
