import itertools

import numpy as np
import pytest

from asyndbt.errors import AlgorithmError
from asyndbt.optim import policy_gradient, sample_categorical, score_function


def test_sampling_frequencies_and_zero_probability():
    p = np.array([[0.2, 0.0, 0.8], [0.5, 0.5, 0.0]])
    s = sample_categorical(p, 20_000, np.random.default_rng(1))
    assert s.shape == (20_000, 2)
    assert not np.any(s[:, 0] == 1) and not np.any(s[:, 1] == 2)
    assert abs(np.mean(s[:, 0] == 2) - 0.8) < 0.02
    assert sample_categorical(np.zeros((0, 3)), 4, np.random.default_rng(0)).shape == (4, 0)


def test_sampling_is_deterministic_under_seed():
    p = np.full((3, 5), 0.2)
    a = sample_categorical(p, 6, np.random.default_rng([1, 2, 3]))
    b = sample_categorical(p, 6, np.random.default_rng([1, 2, 3]))
    np.testing.assert_array_equal(a, b)


def test_score_function_is_exact_and_floored():
    p = np.array([[0.0, 1.0]])
    sf = score_function(p, np.array([[0], [1]]))
    assert sf[0, 0, 0] == pytest.approx(1e6) and sf[1, 0, 1] == 1.0
    assert sf[0, 0, 1] == 0.0  # exact derivative: nothing on the non-sampled entries


def test_estimator_is_unbiased_on_enumerable_bandit():
    # Two positions over three words; loss table over all 9 joint choices.
    rng = np.random.default_rng(0)
    p = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])
    table = rng.uniform(0, 1, (3, 3))
    # exact gradient of E_p[L] = sum_{j1,j2} p1[j1] p2[j2] L[j1,j2] w.r.t. the raw probabilities
    exact = np.stack([table @ p[1], table.T @ p[0]])
    est_rng = np.random.default_rng(5)
    n_rep, i = 20_000, 4
    samples = np.stack([sample_categorical(p, i, est_rng) for _ in range(n_rep)])  # (n_rep, I, 2)
    losses = table[samples[..., 0], samples[..., 1]]
    mean_est = np.mean([policy_gradient(p, s, loss) for s, loss in zip(samples, losses, strict=True)], axis=0)
    # The baselined estimator equals the exact gradient minus E[L] * 1 per row (the simplex normal):
    # compare in the tangent space (remove each row's mean).
    tangent = lambda g: g - g.mean(axis=1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(tangent(mean_est), tangent(exact), atol=0.03)
    # And the exact offset: E[est] = exact - E_p[L] * 1.
    expected_loss = sum(p[0, a] * p[1, b] * table[a, b] for a, b in itertools.product(range(3), range(3)))
    np.testing.assert_allclose(mean_est, exact - expected_loss, atol=0.04)


def test_estimator_rejects_bad_input():
    p = np.full((1, 2), 0.5)
    with pytest.raises(AlgorithmError, match="I >= 2"):
        policy_gradient(p, np.array([[0]]), np.array([1.0]))
    with pytest.raises(AlgorithmError, match="non-finite"):
        policy_gradient(p, np.array([[0], [1]]), np.array([1.0, np.nan]))
