"""The built-in synthetic task: short review sentences generated from word lists.

Purpose: ``asyndbt run`` must work on a bare machine with no data files and no network. The data is
generated here, deterministically (a fixed generator seed, independent of the split seed), so every
machine sees the same rows. It is NOT a real data set and reports must say so (``TaskSpec.synthetic``).

Design, so that a tiny (~135M–270M) model can partly solve it and demonstrations help:

* about half the rows are plain: a clearly positive or negative adjective ("The acting was truly
  superb.");
* about a fifth are negated ("The plot was not dull at all." is positive);
* the rest are mixed: two clauses with opposite polarity joined by "but"/"although", where the label
  follows the main clause ("The cast was charming, but the script was tedious." is negative).

Negation and contrast are where zero-shot small models fail and where a well-chosen demonstration
shows the convention.
"""

from __future__ import annotations

import numpy as np

from asyndbt.tasks._types import Example

SYNTHETIC_DATA_SEED = 20_250_101
SYNTHETIC_TRAIN_SIZE = 2_400
SYNTHETIC_DEV_SIZE = 800

_SUBJECTS = (
    "the movie", "this film", "the plot", "the acting", "the soundtrack", "the ending", "the cast",
    "the script", "the dialogue", "the cinematography", "the story", "the direction", "the pacing",
    "the lead performance", "the humor", "the sequel",
)  # fmt: skip
_VERBS = ("was", "is", "felt", "seemed")
_INTENSIFIERS = ("", "really ", "truly ", "quite ", "very ", "remarkably ", "utterly ")
_POSITIVE = (
    "wonderful", "delightful", "brilliant", "charming", "moving", "excellent", "superb", "gripping",
    "beautiful", "hilarious", "clever", "heartfelt", "memorable", "stunning",
)  # fmt: skip
_NEGATIVE = (
    "awful", "boring", "dull", "terrible", "clumsy", "tedious", "painful", "bland", "lifeless",
    "disappointing", "forgettable", "messy", "predictable", "annoying",
)  # fmt: skip
_POSITIVE_TAILS = (
    "", "", " I would happily watch it again.", " I recommend it to everyone.", " What a treat.",
)  # fmt: skip
_NEGATIVE_TAILS = (
    "", "", " I want my two hours back.", " I cannot recommend it.", " What a waste.",
)  # fmt: skip
_NEGATION_ENDINGS = ("", " at all", " in the least")


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _clause(rng: np.random.Generator, positive: bool) -> str:
    adjective = _pick(rng, _POSITIVE if positive else _NEGATIVE)
    return f"{_pick(rng, _SUBJECTS)} {_pick(rng, _VERBS)} {_pick(rng, _INTENSIFIERS)}{adjective}"


def _sentence(rng: np.random.Generator, label: int) -> str:
    positive = label == 1
    kind = float(rng.random())
    if kind < 0.5:  # plain
        text = _clause(rng, positive) + "." + _pick(rng, _POSITIVE_TAILS if positive else _NEGATIVE_TAILS)
    elif kind < 0.7:  # negated: "not <opposite adjective>" carries the label
        adjective = _pick(rng, _NEGATIVE if positive else _POSITIVE)
        text = f"{_pick(rng, _SUBJECTS)} {_pick(rng, _VERBS[:2])} not {adjective}{_pick(rng, _NEGATION_ENDINGS)}."
    elif kind < 0.85:  # contrast, main clause last
        text = f"{_clause(rng, not positive)}, but {_clause(rng, positive)}."
    else:  # concession, main clause last
        text = f"although {_clause(rng, not positive)}, {_clause(rng, positive)} overall."
    return text[0].upper() + text[1:]


def synthetic_examples(
    count: int, *, split: str = "train", seed: int = SYNTHETIC_DATA_SEED, exclude: frozenset[str] = frozenset()
) -> tuple[Example, ...]:
    """Generate ``count`` distinct labelled sentences (label 1 = positive), balanced by label.

    Args:
        count: number of rows.
        split: name used in the uids (``synthetic/<split>/<i>``).
        seed: generator seed; the default makes the built-in data set.
        exclude: sentences that must not appear (keeps train and dev disjoint).

    Returns:
        The examples, labels alternating in random order.

    Example:
        >>> rows = synthetic_examples(4)
        >>> sorted(e.label for e in rows)
        [0, 0, 1, 1]
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    rng.shuffle(labels)
    seen = set(exclude)
    examples = []
    for i, label in enumerate(labels.tolist()):
        for _attempt in range(1_000):
            text = _sentence(rng, label)
            if text not in seen:
                break
        else:  # pragma: no cover - the word lists allow far more sentences than we ask for
            raise RuntimeError("synthetic generator ran out of distinct sentences")
        seen.add(text)
        examples.append(Example(uid=f"synthetic/{split}/{i}", texts=(text,), label=label))
    return tuple(examples)


def synthetic_train_dev() -> tuple[tuple[Example, ...], tuple[Example, ...]]:
    """Return the built-in synthetic data set as disjoint ``(train, dev)`` files."""
    train = synthetic_examples(SYNTHETIC_TRAIN_SIZE, split="train")
    dev = synthetic_examples(
        SYNTHETIC_DEV_SIZE,
        split="dev",
        seed=SYNTHETIC_DATA_SEED + 1,
        exclude=frozenset(e.texts[0] for e in train),
    )
    return train, dev
