"""The paper's split protocol (§5): few-shot train/validation, a random test set, a demonstration pool.

Per task, from the original files:

* train: ``train_per_class`` (10) examples per class from the original train file;
* validation: ``val_per_class`` (10) per class from the original labelled dev file;
* test: ``test_size`` (200) random examples from the remaining dev rows (not stratified, as in the
  paper's Table 2, whose test label counts are uneven);
* pool: ``pool_per_class`` (50) per class from the remaining train rows: the candidate
  demonstrations (V = 50 in the paper).

When only one file exists (our QNLI copy has only ``dev.tsv``; a user's single table), all four splits
are carved from it without overlap and :attr:`TaskSplits.notes` says so.

Natural-distribution validation (not the paper's protocol; off by default): with ``val_size`` set,
validation is ``val_size`` examples drawn uniformly at random, not per class, so it keeps the source's
natural label mix. With two sources it is drawn from the train rows left after the train draw (before
the pool draw), and test still comes from the dev rows.

The built-in text-classification tasks (agnews, trec, subj, sst5) have ``train.csv`` and ``test.csv``;
``test.csv`` plays the role of the labelled dev file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from asyndbt.errors import DataError
from asyndbt.tasks._glue import GLUE_LAYOUTS, glue_file, glue_layout, load_glue
from asyndbt.tasks._registry import get_task
from asyndbt.tasks._synthetic import synthetic_train_dev
from asyndbt.tasks._textcls import TEXTCLS_LAYOUTS, load_textcls, missing_file_error, textcls_file
from asyndbt.tasks._types import Example, TaskSpec


@dataclass(frozen=True)
class TaskSplits:
    """The four splits of one task, drawn by the paper's protocol.

    Attributes:
        task: the task the examples belong to.
        train: few-shot training queries (``train_per_class`` per class).
        validation: validation queries (``val_per_class`` per class, or ``val_size`` drawn at
            random with the source's natural label mix).
        test: test queries.
        pool: candidate demonstrations (``pool_per_class`` per class).
        notes: human-readable remarks on how the splits were made (for reports).
    """

    task: TaskSpec
    train: tuple[Example, ...]
    validation: tuple[Example, ...]
    test: tuple[Example, ...]
    pool: tuple[Example, ...]
    notes: tuple[str, ...] = ()

    def pool_by_class(self) -> tuple[tuple[Example, ...], ...]:
        """Group the pool by label: element ``c`` holds the candidates of class ``c``."""
        return group_by_class(self.pool, self.task.num_classes)

    def label_counts(self, split: str) -> tuple[int, ...]:
        """Count the examples of each class in one split (``train``, ``validation``, ``test``, ``pool``)."""
        if split not in ("train", "validation", "test", "pool"):
            raise DataError(f"unknown split {split!r}; use train, validation, test or pool")
        return label_counts(getattr(self, split), self.task.num_classes)


@dataclass(frozen=True)
class TaskSources:
    """A task's labelled rows as read from its files, before any split is drawn.

    Attributes:
        train: the train-source rows (with ``dev`` None: the only source, every split is carved from it).
        dev: the labelled dev-source rows (validation and test come from here), or None.
        source: the data's name in messages and notes.
        notes: remarks on where the rows came from (for reports).
    """

    train: tuple[Example, ...]
    dev: tuple[Example, ...] | None
    source: str
    notes: tuple[str, ...] = ()

    def split(self, task: TaskSpec, **sizes: Any) -> TaskSplits:
        """Draw the paper's splits from these rows (``sizes``: :func:`split_examples`' size arguments and seed)."""
        return split_examples(task, self.train, self.dev, source=self.source, notes=self.notes, **sizes)


def group_by_class(examples: Sequence[Example], num_classes: int) -> tuple[tuple[Example, ...], ...]:
    """Group examples by label, keeping their order within each class."""
    groups: list[list[Example]] = [[] for _ in range(num_classes)]
    for example in examples:
        groups[example.label].append(example)
    return tuple(tuple(g) for g in groups)


def label_counts(examples: Sequence[Example], num_classes: int) -> tuple[int, ...]:
    """Count examples per class."""
    counts = [0] * num_classes
    for example in examples:
        counts[example.label] += 1
    return tuple(counts)


def _class_name(task: TaskSpec, label: int) -> str:
    return f"class {task.label_words[label]!r} (label {label})"


def _check_examples(task: TaskSpec, examples: Sequence[Example], source: str) -> None:
    if not examples:
        raise DataError(f"{source} has no examples; point to a file with data")
    for example in examples:
        if not 0 <= example.label < task.num_classes:
            raise DataError(
                f"{source}: example {example.uid!r} has label {example.label}, outside the label set "
                f"0..{task.num_classes - 1} {list(task.label_words)}; fix the label mapping"
            )
        if len(example.texts) != len(task.text_fields):
            raise DataError(
                f"{source}: example {example.uid!r} has {len(example.texts)} text field(s) but task "
                f"{task.name!r} expects {len(task.text_fields)} {list(task.text_fields)}; fix text_columns"
            )
    counts = label_counts(examples, task.num_classes)
    for label, count in enumerate(counts):
        if count == 0:
            raise DataError(
                f"{source}: {_class_name(task, label)} has no examples (empty class); every class needs "
                "examples: check the label column / label_map, or drop the class from the task"
            )


# every split-size error starts with this, so a message built on another can drop it (see split_examples)
_SHORT = "not enough rows for the split protocol: "


def _take_per_class(
    task: TaskSpec,
    examples: Sequence[Example],
    per_class: int,
    rng: np.random.Generator,
    *,
    what: str,
    parameter: str,
    source: str,
) -> tuple[list[Example], list[Example]]:
    """Draw ``per_class`` examples of each class; return ``(drawn, rest in original order)``."""
    by_class: list[list[int]] = [[] for _ in range(task.num_classes)]
    for index, example in enumerate(examples):
        by_class[example.label].append(index)
    chosen: list[int] = []
    for label, indices in enumerate(by_class):
        if len(indices) < per_class:
            raise DataError(
                f"{_SHORT}{_class_name(task, label)} has {len(indices)} "
                f"row(s) left in {source} for {what}, {per_class} needed; lower {parameter} or add data"
            )
        picked = rng.permutation(len(indices))[:per_class]
        chosen.extend(indices[i] for i in picked.tolist())
    chosen_set = set(chosen)
    order = rng.permutation(len(chosen)).tolist()
    drawn = [examples[chosen[i]] for i in order]
    rest = [e for i, e in enumerate(examples) if i not in chosen_set]
    return drawn, rest


def _take_random(
    examples: Sequence[Example],
    count: int,
    rng: np.random.Generator,
    *,
    source: str,
    parameter: str = "test_size",
    after: str = "after the validation draw",
    lower: str = "test_size",
) -> tuple[list[Example], list[Example]]:
    """Draw ``count`` examples uniformly at random (not per class); return ``(drawn, rest in order)``."""
    if len(examples) < count:
        raise DataError(
            f"{_SHORT}{parameter}={count} but only {len(examples)} row(s) "
            f"remain in {source} {after}; lower {lower} or add data"
        )
    picked = rng.permutation(len(examples))[:count].tolist()
    picked_set = set(picked)
    drawn = [examples[i] for i in picked]
    rest = [e for i, e in enumerate(examples) if i not in picked_set]
    return drawn, rest


def _validation_size(val_size: int | None, val_per_class: int) -> tuple[str, int, str]:
    """The validation size's setting name, value and wording (drawn at random, or per class)."""
    if val_size is not None:
        return "task.val_size", val_size, f"{val_size}"
    return "task.val_per_class", val_per_class, f"{val_per_class}/class"


Scales = tuple[float, float, float]  # factors on (validation, test, pool); 1 or more: that size fits
Drawn = tuple[list[Example], list[Example], list[Example], list[Example], str]  # train, validation, test, pool, note


def _scaled_sizes_error(head: str, scales: Scales, *, val_size: int | None, val_per_class: int,
                        test_size: int, pool_per_class: int, train_per_class: int, what: str) -> DataError:
    """The error for sizes that do not fit: ``head``, then the sizes that must shrink, scaled by ``scales``.

    ``train_per_class`` (the paper's few-shot protocol) is never scaled: when even the scaled pool
    would hold fewer than 2 demonstrations per class, the message asks to lower it instead.
    """
    val_name, val_asked, _ = _validation_size(val_size, val_per_class)
    names = (val_name, "task.test_size", "task.pool_per_class")
    asked = (val_asked, test_size, pool_per_class)
    fitted = [int(np.floor(min(1.0, s) * a)) for s, a in zip(scales, asked, strict=True)]
    if min(scales) <= 0 or any(f < 1 <= a for f, a in zip(fitted, asked, strict=True)) or fitted[2] < 2:
        return DataError(f"{head}; even at a smaller scale the pool would hold fewer than 2 demonstrations per class: "
                         f"lower task.train_per_class (now {train_per_class}) as well, or add data "
                         "(every class needs a few dozen rows)")
    suggestion = " ".join(f"--set {name}={value}" for name, value, a in zip(names, fitted, asked, strict=True)
                          if value != a)
    return DataError(f"{head}; sizes that fit {what}: {suggestion} (or add data)")


def _sizes_text(val_size: int | None, val_per_class: int, test_size: int, train_per_class: int,
                pool_per_class: int) -> str:
    return (f"validation {_validation_size(val_size, val_per_class)[2]}, test {test_size}, train {train_per_class}/class "
            f"and pool {pool_per_class}/class")


def _one_source_scales(task: TaskSpec, rows: Sequence[Example], *, val_size: int | None, val_per_class: int,
                       test_size: int, train_per_class: int, pool_per_class: int) -> Scales:
    """The largest factor on validation, test and pool (one for all three) at which one file holds every split.

    Why: the defaults (240 validation, 300 test, 10 train and 50 pool per class) need several hundred
    rows, and a user's own file is often smaller. Drawing split by split names one size at a time
    (lower val_size, then test_size, then pool_per_class ...); the error built from these factors
    names them all at once, scaled to the file (train_per_class, the paper's few-shot protocol, only
    when nothing else fits). Random draws (val_size, test) take each class in proportion to its share
    of the rows, so a class is judged by its expected share, with a 10 % margin for the luck of the draw.
    """
    n, k = len(rows), task.num_classes
    counts = label_counts(rows, k)
    per_class_val, random_val = (0, val_size) if val_size is not None else (val_per_class, 0)
    scaled_total = random_val + k * per_class_val + test_size + k * pool_per_class
    # s scales validation, test and pool: every constraint is linear in s
    limits = [(n - k * train_per_class) / scaled_total if scaled_total else 1.0]
    for m in counts:
        per_class = pool_per_class + per_class_val + (m / n) * (random_val + test_size)
        if per_class:
            limits.append((0.9 * m - train_per_class) / per_class)
    s = min(limits)
    return s, s, s


def _one_source_head(task: TaskSpec, rows: Sequence[Example], source: str) -> str:
    """What one file holds, for the split-size error: its rows and its smallest class."""
    counts = label_counts(rows, task.num_classes)
    smallest = min(range(task.num_classes), key=lambda c: counts[c])
    return f"{_SHORT}{source} has {len(rows)} row(s) ({_class_name(task, smallest)}: {counts[smallest]}),"


def _draw_or_explain(draw: Callable[[], Drawn], scales: Callable[[], Scales], head: Callable[[], str],
                     sizes: dict[str, Any], what: str) -> Drawn:
    """``draw()``, or, when it runs short, one error naming every size that must shrink and values that fit.

    The draw names the first split it could not fill; ``scales()`` says which sizes the files cannot
    hold on average and ``head()`` what the files hold (both only computed on that path). When they
    all fit (``min >= 1``) the draw itself was unlucky and its own message, which says where, is
    raised unchanged. One rule for one file and for two, so the draws (and the
    splits of every file that fits) never depend on the check.
    """
    try:
        return draw()
    except DataError as exc:
        factors = scales()
        if min(factors) >= 1.0:
            raise
        text = (f"{head()} too few for {_sizes_text(**sizes)} without overlap "
                f"(first short: {str(exc).removeprefix(_SHORT)})")
        raise _scaled_sizes_error(text, factors, what=what, **sizes) from exc


def _two_sources_scales(task: TaskSpec, train_rows: Sequence[Example], dev_rows: Sequence[Example], *,
                        val_size: int | None, val_per_class: int, test_size: int, train_per_class: int,
                        pool_per_class: int) -> Scales:
    """The largest factors on validation, test and pool at which both files hold their splits.

    Follows :func:`split_examples`' two-source plans: train and pool per class from the train rows;
    validation per class (``val_size`` None) or ``val_size`` at random, and test at random, from the dev
    rows; with ``val_size`` and a dev file too small for both, validation comes from the train rows left
    after the train draw (each class by its share, with a 10 % margin for the luck of the draw). Only
    the sizes that share a file with the shortfall shrink.
    """
    k = task.num_classes
    t, d = label_counts(train_rows, k), label_counts(dev_rows, k)
    n_t, n_d = len(train_rows), len(dev_rows)

    def ratio(room: float, need: float) -> float:
        return room / need if need > 0 else math.inf

    pool_fits = min(ratio(m - train_per_class, pool_per_class) for m in t)
    if val_size is None:  # validation per class, then test at random, from the dev rows
        val_fits = min(ratio(m, val_per_class) for m in d)  # the smallest class caps validation alone
        if n_d >= k * min(1.0, val_fits) * val_per_class + test_size:
            return val_fits, math.inf, pool_fits
        dev_fits = ratio(n_d, k * val_per_class + test_size)
        return min(val_fits, dev_fits), dev_fits, pool_fits
    dev_fits = ratio(n_d, val_size + test_size)
    left = n_t - k * train_per_class
    train_fits = min(ratio(0.9 * (m - train_per_class), pool_per_class + val_size * (m - train_per_class) / max(1, left))
                     for m in t)
    both_in_dev = (dev_fits, dev_fits, pool_fits)
    val_in_train = (train_fits, ratio(n_d, test_size), train_fits)
    return max(both_in_dev, val_in_train, key=lambda f: (min(1.0, min(f)), sum(min(1.0, x) for x in f)))


def unused_rows(splits: TaskSplits, rows: Sequence[Example]) -> list[Example]:
    """The rows (in their order) that no split of ``splits`` holds: compared by text and label."""
    used = {(e.texts, e.label) for part in (splits.train, splits.validation, splits.test, splits.pool) for e in part}
    return [e for e in rows if (e.texts, e.label) not in used]


def add_training_rows(splits: TaskSplits, rows: Sequence[Example], per_class: int, *, seed: int) -> TaskSplits:
    """Add ``per_class`` training examples of each class, drawn from the ``rows`` no split uses.

    They are drawn after every other split, with a generator of their own, so validation, test and
    pool stay exactly as :func:`split_examples` drew them: a run with more training queries stays
    paired with one without.

    Raises:
        DataError: if some class has fewer than ``per_class`` unused rows.
    """
    if per_class == 0:
        return splits
    rng = np.random.default_rng([seed, 7919])
    extra, _ = _take_per_class(splits.task, unused_rows(splits, rows), per_class, rng, what="extra training queries",
                               parameter="task.extra_train_per_class", source="the unused train rows")
    note = f"{splits.task.name}: {per_class}/class more training queries from the train rows no split uses (seed {seed})"
    return replace(splits, train=(*splits.train, *extra), notes=(*splits.notes, note))


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise DataError(f"{name}={value!r} must be an integer >= 0")


def _check_val_size(value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise DataError(f"val_size must be >= 1 or null, got {value!r} (null/None draws val_per_class per class instead)")


def split_examples(
    task: TaskSpec,
    train_source: Sequence[Example],
    dev_source: Sequence[Example] | None = None,
    *,
    seed: int = 0,
    train_per_class: int = 10,
    val_per_class: int = 10,
    test_size: int = 200,
    pool_per_class: int = 50,
    source: str = "",
    notes: Sequence[str] = (),
    val_size: int | None = None,
) -> TaskSplits:
    """Apply the paper's split protocol to examples already in memory (a pure function).

    With both sources: train and pool come from ``train_source``, validation and test from
    ``dev_source``. With ``dev_source=None`` every split is carved, without overlap, from
    ``train_source`` (validation first, then test, train and pool) and a note says so.

    With ``val_size`` set, validation is instead ``val_size`` examples drawn uniformly at random (not
    stratified, so it keeps the source's natural label mix) and ``val_per_class`` is not used. With both
    sources the draws are: train (per class) from the train rows, validation (``val_size`` random)
    from the train rows left, pool (per class) from what is left of them, and test (``test_size``
    random) from the dev rows. With one source: validation, test, train, pool, without overlap.

    Args:
        task: the task (its label set bounds the labels).
        train_source: the original training rows.
        dev_source: the original labelled validation rows, or None for a single source.
        seed: seed of the numpy generator that draws every split (same seed → same splits).
        train_per_class: training examples per class.
        val_per_class: validation examples per class (when ``val_size`` is None).
        test_size: test examples, drawn at random from what is left of the dev rows.
        pool_per_class: candidate demonstrations per class.
        source: name of the data used in messages and notes (default: the task name).
        notes: extra notes to carry into the result.
        val_size: None (default) for the paper's ``val_per_class`` per class from the dev rows; an
            integer >= 1 for that many validation examples drawn at random, with their natural label
            mix, from the train rows (see above).

    Returns:
        The splits; every example appears in at most one of them.

    Raises:
        DataError: a source is empty, a label is outside the label set, a class is empty, a class/the
            rows are too small for the requested sizes, or ``val_size`` is not None or an integer >= 1.

    Example:
        >>> from asyndbt.tasks import get_task
        >>> from asyndbt.tasks._synthetic import synthetic_examples
        >>> rows = synthetic_examples(300)
        >>> s = split_examples(get_task("synthetic"), rows, seed=1, test_size=50)
        >>> len(s.train), len(s.validation), len(s.test), len(s.pool)
        (20, 20, 50, 100)
    """
    for name, value in (
        ("train_per_class", train_per_class),
        ("val_per_class", val_per_class),
        ("test_size", test_size),
        ("pool_per_class", pool_per_class),
    ):
        _check_count(name, value)
    _check_val_size(val_size)
    label = source or task.name
    rng = np.random.default_rng(seed)
    all_notes = list(notes)
    sizes = {"val_size": val_size, "val_per_class": val_per_class, "test_size": test_size,
             "train_per_class": train_per_class, "pool_per_class": pool_per_class}
    if dev_source is None:
        _check_examples(task, train_source, label)
        _check_unique(train_source, label)
        train, validation, test, pool, note = _draw_or_explain(
            lambda: _draw_one_source(task, train_source, rng, label=label, seed=seed, **sizes),
            lambda: _one_source_scales(task, train_source, **sizes),
            lambda: _one_source_head(task, train_source, label), sizes, "this file")
    else:
        train_label, dev_label = f"{label} train", f"{label} dev"
        _check_examples(task, train_source, train_label)
        _check_examples(task, dev_source, dev_label)
        _check_unique([*train_source, *dev_source], label)
        train, validation, test, pool, note = _draw_or_explain(
            lambda: _draw_two_sources(task, train_source, dev_source, rng, label=label, seed=seed, **sizes),
            lambda: _two_sources_scales(task, train_source, dev_source, **sizes),
            lambda: f"{_SHORT}{train_label} has {len(train_source)} row(s) and {dev_label} {len(dev_source)},",
            sizes, "these files")
    all_notes.append(note)
    return TaskSplits(
        task=task,
        train=tuple(train),
        validation=tuple(validation),
        test=tuple(test),
        pool=tuple(pool),
        notes=tuple(all_notes),
    )


def _draw_one_source(task: TaskSpec, rows: Sequence[Example], rng: np.random.Generator, *, label: str, seed: int,
                     val_size: int | None, val_per_class: int, test_size: int, train_per_class: int,
                     pool_per_class: int) -> Drawn:
    """:func:`split_examples` with one source: validation, test, train, pool, without overlap (and the note)."""
    if val_size is None:
        validation, rest = _take_per_class(
            task, rows, val_per_class, rng, what="validation", parameter="val_per_class", source=label
        )
        val_text = f"{val_per_class}/class"
    else:
        validation, rest = _take_random(
            rows, val_size, rng, source=label, parameter="val_size", after="(the whole source)", lower="val_size",
        )  # fmt: skip
        val_text = f"{val_size} drawn at random, natural label mix"
    test, rest = _take_random(rest, test_size, rng, source=label)
    train, rest = _take_per_class(task, rest, train_per_class, rng, what="train", parameter="train_per_class", source=label)
    pool, _ = _take_per_class(task, rest, pool_per_class, rng, what="the pool", parameter="pool_per_class", source=label)
    note = (f"{label}: one source only; validation ({val_text}), test ({test_size} random), "
            f"train ({train_per_class}/class) and pool ({pool_per_class}/class) were all carved from it "
            f"without overlap (seed {seed})")
    return train, validation, test, pool, note


def _draw_two_sources(task: TaskSpec, train_source: Sequence[Example], dev_source: Sequence[Example],
                      rng: np.random.Generator, *, label: str, seed: int, val_size: int | None, val_per_class: int,
                      test_size: int, train_per_class: int, pool_per_class: int,
                      ) -> Drawn:
    """:func:`split_examples` with a train and a dev source: ``(train, validation, test, pool, note)``."""
    train_label, dev_label = f"{label} train", f"{label} dev"
    train, rest_train = _take_per_class(
        task, train_source, train_per_class, rng, what="train", parameter="train_per_class", source=train_label,
    )  # fmt: skip
    if val_size is not None and len(dev_source) >= val_size + test_size:
        # validation from the same distribution as the test rows (SST-2's train rows are short phrases,
        # its dev rows whole sentences), with its natural label mix
        validation, rest_dev = _take_random(dev_source, val_size, rng, source=dev_label, parameter="val_size")
        test, _ = _take_random(rest_dev, test_size, rng, source=dev_label, after="after the validation draw")
        pool, _ = _take_per_class(
            task, rest_train, pool_per_class, rng, what="the pool", parameter="pool_per_class",
            source=train_label,
        )  # fmt: skip
        note = (
            f"{label}: train {train_per_class}/class and pool {pool_per_class}/class from the train rows; validation "
            f"{val_size} and test {test_size} drawn at random from the dev rows, natural label mix (seed {seed})"
        )
    elif val_size is not None:
        validation, rest_train = _take_random(
            rest_train, val_size, rng, source=train_label, parameter="val_size", after="after the train draw",
            lower="val_size (or train_per_class)",
        )  # fmt: skip
        pool, _ = _take_per_class(
            task, rest_train, pool_per_class, rng, what="the pool", parameter="pool_per_class or val_size",
            source=train_label,
        )  # fmt: skip
        test, _ = _take_random(dev_source, test_size, rng, source=dev_label, after="(the whole dev source)")
        note = (
            f"{label}: train {train_per_class}/class, then validation {val_size} drawn at random with its natural "
            f"label mix (not stratified), then pool {pool_per_class}/class, all from the train rows (the dev rows "
            f"are too few for validation and test); test {test_size} random from the dev rows (seed {seed})"
        )
    else:
        validation, rest_dev = _take_per_class(
            task, dev_source, val_per_class, rng, what="validation", parameter="val_per_class",
            source=dev_label,
        )  # fmt: skip
        test, _ = _take_random(rest_dev, test_size, rng, source=dev_label)
        pool, _ = _take_per_class(
            task, rest_train, pool_per_class, rng, what="the pool", parameter="pool_per_class",
            source=train_label,
        )  # fmt: skip
        note = (
            f"{label}: train {train_per_class}/class and pool {pool_per_class}/class from the train rows; "
            f"validation {val_per_class}/class and test {test_size} random from the dev rows (seed {seed})"
        )
    return train, validation, test, pool, note


def _check_unique(examples: Sequence[Example], source: str) -> None:
    seen: set[str] = set()
    for example in examples:
        if example.uid in seen:
            raise DataError(f"{source}: uid {example.uid!r} appears twice (the same file given twice, e.g. as both "
                            "train and dev file?); give every example a unique uid")
        seen.add(example.uid)


def load_task_splits(
    task: TaskSpec | str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    train_per_class: int = 10,
    val_per_class: int = 10,
    test_size: int = 200,
    pool_per_class: int = 50,
    val_size: int | None = None,
) -> TaskSplits:
    """Load a built-in task's data and draw the paper's splits.

    GLUE tasks read ``<data_dir>/glue/<TASK>/{train,dev}.tsv``. If only one of the two files exists
    (our QNLI copy has only ``dev.tsv``), every split is drawn from it without overlap and a note says
    so. The text-classification tasks (agnews, trec, subj, sst5) read ``<data_dir>/<task>/train.csv``
    (train and pool) and ``<data_dir>/<task>/test.csv`` (validation and test, as GLUE's dev file);
    both files must exist. The ``synthetic`` task needs no files.

    Args:
        task: a task name (``sst2``, ``SST-2``...) or spec.
        data_dir: the data directory; default ``$ASYNDBT_DATA_DIR``.
        seed: split seed.
        train_per_class: training examples per class.
        val_per_class: validation examples per class.
        test_size: test examples.
        pool_per_class: candidate demonstrations per class.
        val_size: None (default) for ``val_per_class`` per class from the dev rows; an integer >= 1
            for that many validation examples drawn at random, with their natural label mix, from the
            train rows left after the train draw (see :func:`split_examples`).

    Returns:
        The splits, with notes.

    Raises:
        DataError: unknown task, task without built-in data, data directory or files missing, or too
            few rows.
    """
    spec = get_task(task) if isinstance(task, str) else task
    sizes = {
        "seed": seed,
        "train_per_class": train_per_class,
        "val_per_class": val_per_class,
        "test_size": test_size,
        "pool_per_class": pool_per_class,
        "val_size": val_size,
    }
    return load_task_sources(spec, data_dir=data_dir).split(spec, **sizes)


def load_task_sources(task: TaskSpec | str, *, data_dir: str | os.PathLike[str] | None = None) -> TaskSources:
    """Read a built-in task's labelled rows from the files :func:`load_task_splits` draws from.

    Raises:
        DataError: unknown task, task without built-in data, or data directory or files missing.
    """
    spec = get_task(task) if isinstance(task, str) else task
    if spec.synthetic:
        if spec.num_classes != 2:
            raise DataError(
                f"task {spec.name!r} is marked synthetic but has {spec.num_classes} classes; the built-in "
                "synthetic data is binary (label 0 negative, 1 positive)"
            )
        train, dev = synthetic_train_dev()
        note = "SYNTHETIC data generated by asyndbt itself (word-list review sentences), not a real data set"
        return TaskSources(tuple(train), tuple(dev), spec.name, (note,))
    if spec.name in TEXTCLS_LAYOUTS:
        return _textcls_sources(spec, data_dir=data_dir)
    if spec.name not in GLUE_LAYOUTS:
        raise DataError(
            f"task {spec.name!r} has no built-in data files (GLUE tasks: {', '.join(sorted(GLUE_LAYOUTS))}; "
            f"CSV tasks: {', '.join(sorted(TEXTCLS_LAYOUTS))}); load your data with load_table() and split it "
            "with split_examples()"
        )
    layout = glue_layout(spec)
    train_path = glue_file(spec, "train", data_dir=data_dir)
    dev_path = glue_file(spec, "dev", data_dir=data_dir)
    have_train, have_dev = train_path.is_file(), dev_path.is_file()
    if have_train and have_dev:
        return TaskSources(tuple(load_glue(spec, "train", data_dir=data_dir)),
                           tuple(load_glue(spec, "dev", data_dir=data_dir)), spec.name)
    if not (have_train or have_dev):
        raise DataError(
            f"no data files for task {spec.name!r}: tried {str(train_path)!r} and {str(dev_path)!r}; "
            f"put the GLUE files in <data_dir>/glue/{layout.folder}/, set --data-dir or ASYNDBT_DATA_DIR, "
            "or use the synthetic task"
        )
    present, missing = ("dev", "train") if have_dev else ("train", "dev")
    note = (
        f"{spec.name}: only {present}.tsv is available ({missing}.tsv missing); train, validation, test "
        f"and pool were all drawn from {present}.tsv without overlap (the paper draws train and pool "
        "from the original train file and validation/test from dev)"
    )
    return TaskSources(tuple(load_glue(spec, present, data_dir=data_dir)), None, f"{spec.name} {present}", (note,))


def _textcls_sources(spec: TaskSpec, *, data_dir: str | os.PathLike[str] | None) -> TaskSources:
    """A CSV text-classification task's rows: train.csv as train source, test.csv as dev source."""
    train_path = textcls_file(spec, "train", data_dir=data_dir)
    dev_path = textcls_file(spec, "test", data_dir=data_dir)
    missing = [p for p in (train_path, dev_path) if not p.is_file()]
    if missing:
        raise missing_file_error(spec, missing)
    note = f"{spec.name}: {train_path.name} is the train source and {dev_path.name} the labelled dev source"
    return TaskSources(tuple(load_textcls(spec, "train", data_dir=data_dir)),
                       tuple(load_textcls(spec, "test", data_dir=data_dir)), spec.name, (note,))
