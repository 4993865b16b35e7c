import numpy as np

from asyndbt.optim import apply_exponentiated, logit_policy_gradient, on_simplex, sample_categorical


def test_one_bad_sample_cannot_eliminate_a_candidate():
    p = np.full((1, 20), 1 / 20)
    samples = np.array([[3], [5], [7], [9]])
    g = logit_policy_gradient(p, samples, np.array([5.0, 0.0, 0.0, 0.0]))  # candidate 3 scored terribly once
    new = apply_exponentiated(p, -1.0 * g, floor=0.01)
    assert on_simplex(new)
    assert new[0, 3] > 0.01 / 20 and new[0, 3] > 0.2 * p[0, 3]


def test_exponentiated_steps_find_the_best_candidate():
    rng = np.random.default_rng(0)
    quality = np.linspace(1.0, 0.0, 17)  # candidate 16 has the lowest loss
    p = np.full((1, 17), 1 / 17)
    for _ in range(150):
        s = sample_categorical(p, 4, rng)
        loss = quality[s[:, 0]] + 0.3 * rng.standard_normal(4)
        p = apply_exponentiated(p, -1.0 * logit_policy_gradient(p, s, loss), floor=0.01)
    assert int(p.argmax()) >= 14 and p.min() > 0


def test_equal_losses_give_no_gradient():
    p = np.full((2, 3), 1 / 3)
    assert not np.any(logit_policy_gradient(p, np.array([[0, 1], [2, 2]]), np.array([1.0, 1.0])))
