"""Partition a task's splits over R workers (federated setting, paper §5 / DESIGN "tasks / data").

The paper does not say how it split data over its three workers, so we offer the usual schemes:

* ``iid``: each class is shuffled and dealt round-robin (the dealing position carries over from one
  class to the next), so every worker gets nearly the same size and label mix;
* ``dirichlet`` (label skew): for each class c, worker shares ~ Dir(alpha·1_R); small alpha gives
  each worker a few dominant classes;
* ``quantity`` (size skew): worker shares ~ Dir(alpha·1_R) once, applied to every class, so sizes
  differ but label mixes match.

One share matrix is drawn per call and used for train, validation and pool alike (and test in
``test_mode="own"``), so a worker's skew is coherent across its local splits.

Afterwards a repair step makes every worker usable: at least one pool candidate per class (one
demonstration per class is drawn from it) and at least one training example, moving examples from
the worker that has the most. When even that is impossible, a DataError says which class/split is
short and how to fix it. Validation is also repaired to one example per worker where there are
enough validation rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from asyndbt.errors import DataError
from asyndbt.tasks._splits import TaskSplits, group_by_class, label_counts
from asyndbt.tasks._types import Example, TaskSpec

SCHEMES = ("iid", "dirichlet", "quantity")
TEST_MODES = ("shared", "own")


@dataclass(frozen=True)
class WorkerData:
    """One worker's local data.

    Attributes:
        worker_id: 0-based worker index.
        train: local training queries.
        validation: local validation queries.
        test: test queries (the shared test split in ``test_mode="shared"``).
        pool: local candidate demonstrations.
    """

    worker_id: int
    train: tuple[Example, ...]
    validation: tuple[Example, ...]
    test: tuple[Example, ...]
    pool: tuple[Example, ...]

    def pool_by_class(self, num_classes: int) -> tuple[tuple[Example, ...], ...]:
        """Group the local pool by label: element ``c`` holds this worker's candidates of class ``c``."""
        return group_by_class(self.pool, num_classes)


def _apportion(total: int, shares: np.ndarray) -> list[int]:
    """Split ``total`` items into integer counts proportional to ``shares`` (largest remainder)."""
    raw = total * shares
    counts = np.floor(raw).astype(int)
    remainder = total - int(counts.sum())
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[:remainder]] += 1
    return counts.tolist()


def _dirichlet(rng: np.random.Generator, alpha: float, size: int) -> np.ndarray:
    shares = rng.dirichlet(np.full(size, alpha))
    if not np.all(np.isfinite(shares)) or shares.sum() <= 0:  # tiny alpha can underflow
        shares = np.zeros(size)
        shares[int(rng.integers(size))] = 1.0
    return shares / shares.sum()


def _assign(
    examples: Sequence[Example],
    num_classes: int,
    num_workers: int,
    shares: np.ndarray | None,
    rng: np.random.Generator,
) -> list[list[Example]]:
    """Assign a split's examples to workers; ``shares`` is (num_classes, num_workers) or None for IID."""
    parts: list[list[Example]] = [[] for _ in range(num_workers)]
    dealt = 0
    for label, group in enumerate(group_by_class(examples, num_classes)):
        order = rng.permutation(len(group)).tolist()
        shuffled = [group[i] for i in order]
        if shares is None:
            for example in shuffled:
                parts[dealt % num_workers].append(example)
                dealt += 1
            continue
        start = 0
        for worker, count in enumerate(_apportion(len(shuffled), shares[label])):
            parts[worker].extend(shuffled[start : start + count])
            start += count
    return parts


def _move(parts: list[list[Example]], donor: int, receiver: int, label: int | None) -> None:
    """Move the last example of ``label`` (any label if None) from ``donor`` to ``receiver``."""
    items = parts[donor]
    for index in range(len(items) - 1, -1, -1):
        if label is None or items[index].label == label:
            parts[receiver].append(items.pop(index))
            return


def _repair_per_class(parts: list[list[Example]], num_classes: int) -> None:
    for label in range(num_classes):
        for worker in range(len(parts)):
            counts = [sum(1 for e in p if e.label == label) for p in parts]
            if counts[worker] == 0:
                donor = int(np.argmax(counts))
                _move(parts, donor, worker, label)


def _repair_nonempty(parts: list[list[Example]], num_classes: int) -> None:
    for worker in range(len(parts)):
        if not parts[worker]:
            sizes = [len(p) for p in parts]
            donor = int(np.argmax(sizes))
            # Take from the donor's most frequent class, so the donor's skew changes least.
            majority = int(np.argmax(label_counts(parts[donor], num_classes)))
            _move(parts, donor, worker, majority)


def _check_feasible(splits: TaskSplits, num_workers: int, test_mode: str) -> None:
    task = splits.task
    pool_counts = label_counts(splits.pool, task.num_classes)
    for label, count in enumerate(pool_counts):
        if count < num_workers:
            raise DataError(
                f"cannot give each of {num_workers} workers a pool candidate of class "
                f"{task.label_words[label]!r} (label {label}): the pool has only {count}; "
                "lower num_workers or raise pool_per_class"
            )
    if len(splits.train) < num_workers:
        raise DataError(
            f"cannot give each of {num_workers} workers a training example: the train split has only "
            f"{len(splits.train)}; lower num_workers or raise train_per_class"
        )
    if test_mode == "own" and len(splits.test) < num_workers:
        raise DataError(
            f"test_mode='own' needs at least one test example per worker: {len(splits.test)} test "
            f"example(s) for {num_workers} workers; lower num_workers, raise test_size or use test_mode='shared'"
        )


def partition(
    splits: TaskSplits,
    num_workers: int,
    *,
    scheme: str = "iid",
    alpha: float = 0.5,
    seed: int = 0,
    test_mode: str = "shared",
) -> tuple[WorkerData, ...]:
    """Split a task's train, validation and pool (and optionally test) over workers.

    Args:
        splits: the task's splits.
        num_workers: R, the number of workers (>= 1).
        scheme: ``"iid"``, ``"dirichlet"`` (label skew) or ``"quantity"`` (size skew).
        alpha: Dirichlet concentration for the skewed schemes; smaller is more skewed.
        seed: seed of the numpy generator (same seed → same partition).
        test_mode: ``"shared"`` (every worker is evaluated on the whole test split, as in the paper)
            or ``"own"`` (the test split is partitioned like the others).

    Returns:
        One :class:`WorkerData` per worker. Train, validation and pool (and test in ``"own"`` mode)
        are disjoint across workers and together cover the input splits exactly.

    Raises:
        DataError: bad arguments, or too few pool/train/test examples to give every worker what it
            needs (the message names the class or split and the fix).

    Example:
        >>> from asyndbt.tasks import load_task_splits
        >>> workers = partition(load_task_splits("synthetic"), 3, scheme="dirichlet", alpha=0.3)
        >>> [len(w.test) for w in workers]
        [200, 200, 200]
    """
    if isinstance(num_workers, bool) or not isinstance(num_workers, int | np.integer) or num_workers < 1:
        raise DataError(f"num_workers={num_workers!r} must be an integer >= 1")
    if scheme not in SCHEMES:
        raise DataError(f"unknown partition scheme {scheme!r}; use one of {list(SCHEMES)}")
    if test_mode not in TEST_MODES:
        raise DataError(f"unknown test_mode {test_mode!r}; use one of {list(TEST_MODES)}")
    if scheme != "iid" and not (np.isfinite(alpha) and alpha > 0):
        raise DataError(f"alpha={alpha!r} must be a positive number (e.g. 0.5; smaller means more skew)")
    num_workers = int(num_workers)
    _check_feasible(splits, num_workers, test_mode)

    num_classes = splits.task.num_classes
    rng = np.random.default_rng(seed)
    shares: np.ndarray | None = None  # shape (num_classes, num_workers); rows sum to 1
    if scheme == "dirichlet":
        shares = np.stack([_dirichlet(rng, alpha, num_workers) for _ in range(num_classes)])
    elif scheme == "quantity":
        shares = np.tile(_dirichlet(rng, alpha, num_workers), (num_classes, 1))

    train = _assign(splits.train, num_classes, num_workers, shares, rng)
    validation = _assign(splits.validation, num_classes, num_workers, shares, rng)
    pool = _assign(splits.pool, num_classes, num_workers, shares, rng)
    _repair_per_class(pool, num_classes)
    _repair_nonempty(train, num_classes)
    if len(splits.validation) >= num_workers:
        _repair_nonempty(validation, num_classes)
    if test_mode == "own":
        test = _assign(splits.test, num_classes, num_workers, shares, rng)
        _repair_nonempty(test, num_classes)
    else:
        test = [list(splits.test) for _ in range(num_workers)]

    def shuffled(items: list[Example]) -> tuple[Example, ...]:
        return tuple(items[i] for i in rng.permutation(len(items)).tolist())

    return tuple(
        WorkerData(
            worker_id=w,
            train=shuffled(train[w]),
            validation=shuffled(validation[w]),
            test=tuple(test[w]) if test_mode == "shared" else shuffled(test[w]),
            pool=shuffled(pool[w]),
        )
        for w in range(num_workers)
    )


def describe_partition(workers: Sequence[WorkerData], task: TaskSpec) -> str:
    """Render a small text table of the workers' split sizes and label counts (for the CLI).

    Example:
        >>> from asyndbt.tasks import get_task, load_task_splits
        >>> print(describe_partition(partition(load_task_splits("synthetic"), 2), get_task("synthetic")))
        worker  train  val  pool  test  train Terrible/Great  pool Terrible/Great
        0          10   10    50   200  5/5                   25/25
        1          10   10    50   200  5/5                   25/25
        test split shared by all workers
    """
    words = "/".join(task.label_words)
    header = ["worker", "train", "val", "pool", "test", f"train {words}", f"pool {words}"]
    rows = [
        [
            str(w.worker_id),
            str(len(w.train)),
            str(len(w.validation)),
            str(len(w.pool)),
            str(len(w.test)),
            "/".join(map(str, label_counts(w.train, task.num_classes))),
            "/".join(map(str, label_counts(w.pool, task.num_classes))),
        ]
        for w in workers
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    numeric = {1, 2, 3, 4}

    def line(cells: list[str]) -> str:
        out = [cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i]) for i, cell in enumerate(cells)]
        return "  ".join(out).rstrip()

    lines = [line(header), *(line(r) for r in rows)]
    if len(workers) > 1 and all(w.test == workers[0].test for w in workers):
        lines.append("test split shared by all workers")
    return "\n".join(lines)
