"""bench/selection_study.spread: real between-set differences versus test-sampling noise."""

from __future__ import annotations

import numpy as np
from bench.selection_study import spread


def test_identical_sets_have_no_spread():
    answers = np.tile(np.array([1, 0, 1, 1, 0, 1], dtype=float), (3, 1))
    s = spread(answers)
    assert s["sd_sets"] == 0 and s["sd_real"] == 0 and s["max_paired_z"] == 0


def test_a_real_difference_stands_out_of_the_noise():
    rng = np.random.default_rng(0)
    base = (rng.random(300) < 0.7).astype(float)
    better = base.copy()
    better[np.flatnonzero(base == 0)[:45]] = 1  # 15 points better on the same examples
    noisy = [np.where(rng.random(300) < 0.05, 1 - base, base) for _ in range(3)]  # ~5 % of answers flipped
    s = spread(np.array([better, *noisy]))
    assert s["max_paired_z"] > 4  # McNemar: 45+ examples one way, few the other
    assert s["sd_real"] > s["sd_noise"]
