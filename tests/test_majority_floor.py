"""The majority-class floor a run reports beside its prompts, and the warning when tuning stays below it."""

from __future__ import annotations

import math

from asyndbt.commands import below_majority_warning
from asyndbt.evaluation import majority_rate
from asyndbt.tasks import Example


def _examples(labels):
    return [Example(f"e{i}", (f"text {i}",), y) for i, y in enumerate(labels)]


def test_majority_rate_is_the_share_of_the_most_frequent_label():
    assert majority_rate(_examples([0, 1, 1, 2, 1])) == 0.6
    assert majority_rate(_examples([2, 2])) == 1.0
    assert math.isnan(majority_rate([]))


def test_a_run_below_the_majority_floor_is_told_so():
    warning = below_majority_warning([0.50, 0.55], [0.69, 0.70])
    assert warning is not None and "52.5%" in warning and "69.5%" in warning
    assert below_majority_warning([0.69, 0.70], [0.69, 0.70]) is None  # level: nothing to say
    assert below_majority_warning([0.695], [0.70]) is None  # within the 1-point margin
    assert below_majority_warning([], []) is None  # no test evaluation (budget stop): nothing to compare
