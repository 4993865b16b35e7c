import json

import numpy as np
import pytest

from asyndbt.errors import AlgorithmError
from asyndbt.optim import (
    AdamState,
    add_consensus,
    add_cut_duals,
    add_dual,
    add_sign_penalty,
    apply_and_project,
    chain,
    clip_by_global_norm,
    on_simplex,
    scale_by_adam,
    scale_by_learning_rate,
    state_from_dict,
)


def textbook_adam(grads, lr, b1=0.9, b2=0.999, eps=1e-8):
    m = v = 0.0
    x = 0.0
    out = []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = x - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        out.append(x)
    return np.array(out)


def test_adam_chain_matches_textbook():
    grads = np.random.default_rng(0).normal(size=(12, 3))
    opt = chain(scale_by_adam(), scale_by_learning_rate(0.01))
    params = np.zeros(3)
    state = opt.init(params)
    traj = []
    for g in grads:
        upd, state = opt.update(g, state, params)
        params = params + upd
        traj.append(params.copy())
    np.testing.assert_allclose(np.array(traj), textbook_adam(grads, 0.01), rtol=1e-12, atol=1e-15)
    assert state["scale_by_adam"].count == 12


def test_chain_state_is_named_and_serialisable():
    opt = chain(clip_by_global_norm(1.0), scale_by_adam(), scale_by_adam(), scale_by_learning_rate(0.1))
    params = (np.full(3, 1 / 3), np.full(2, 0.5))  # ragged tree, like q
    state = opt.init(params)
    assert list(state.inner) == ["clip_by_global_norm", "scale_by_adam", "scale_by_adam#2",
                                 "scale_by_learning_rate"]
    _, state = opt.update((np.ones(3), np.ones(2)), state, params)
    back = state_from_dict(json.loads(json.dumps(state.to_dict())))
    assert isinstance(back["scale_by_adam"], AdamState)
    assert back.to_dict() == state.to_dict()


def test_lagrangian_terms():
    p = np.array([[0.7, 0.3]])
    z = np.array([[0.5, 0.5]])
    rho = np.array([[0.1, -0.1]])
    a = np.array([[[1.0, -1.0]], [[2.0, 0.0]]])
    lam = np.array([0.5, 0.25])
    opt = chain(add_dual(), add_consensus(2.0), add_cut_duals(), add_sign_penalty(0.1))
    upd, _ = opt.update(np.zeros((1, 2)), opt.init(p), p, z=z, rho=rho, cuts_a=a, cuts_lambda=lam)
    expected = rho + 2.0 * (p - z) + (0.5 * a[0] + 0.25 * a[1]) + 0.1 * np.sign(p - z)
    np.testing.assert_allclose(upd, expected)


def test_missing_keyword_names_it():
    opt = add_consensus(1.0)
    with pytest.raises(AlgorithmError, match="'z'"):
        opt.update(np.zeros(2), opt.init(np.zeros(2)), np.zeros(2))


def test_sign_convention_and_projection():
    opt = scale_by_learning_rate(0.1)
    p = np.full((2, 3), 1 / 3)
    upd, _ = opt.update(np.array([[1.0, 0, 0], [0, 0, 1.0]]), opt.init(p), p)
    new = apply_and_project(p, upd)
    assert on_simplex(new) and new[0, 0] < 1 / 3 and new[1, 2] < 1 / 3  # descent lowers gradient entries


def test_clip_by_global_norm_over_tree():
    clip = clip_by_global_norm(1.0)
    out, _ = clip.update((np.array([3.0]), np.array([4.0])), clip.init(None), None)
    assert np.hypot(out[0][0], out[1][0]) == pytest.approx(1.0)
