"""Gradient transformations for the worker's lower- and upper-level steps.

Sign convention (see the package docstring): every transform except
:func:`scale_by_learning_rate` works on *ascent* directions (gradients of the objective being
minimised); ``scale_by_learning_rate`` multiplies by ``-lr`` and is the only place the sign flips;
:func:`apply_and_project` *adds* the updates and projects back onto the simplex.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from asyndbt.errors import AlgorithmError, ConfigError
from asyndbt.optim._base import (
    EmptyState,
    Params,
    Transform,
    decode_tree,
    encode_tree,
    tree_leaves,
    tree_map,
)
from asyndbt.optim._projection import project_simplex


def _require(extra: Mapping[str, Any], key: str, who: str) -> Any:
    if key not in extra or extra[key] is None:
        raise AlgorithmError(f"{who} needs the keyword argument {key!r} in update(); pass it, e.g. "
                             f"opt.update(grads, state, params, {key}=...)")
    return extra[key]


def _empty_init(params: Params) -> EmptyState:
    return EmptyState()


@dataclass(frozen=True, eq=False)
class AdamState:
    """State of :func:`scale_by_adam`."""

    count: int  # number of updates applied so far, shape ()
    mu: Params  # first-moment EMA, same shapes as params
    nu: Params  # second-moment EMA, same shapes as params

    kind = "adam"

    def to_dict(self) -> dict[str, Any]:
        """Serialise to a JSON-able dict (lossless)."""
        return {"kind": self.kind, "count": self.count, "mu": encode_tree(self.mu), "nu": encode_tree(self.nu)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AdamState:
        """Rebuild from :meth:`to_dict` output."""
        return cls(int(d["count"]), decode_tree(d["mu"]), decode_tree(d["nu"]))


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Transform:
    """Rescale gradients by Adam's bias-corrected moment estimates (Kingma & Ba, Algorithm 1).

    Example:
        >>> opt = scale_by_adam()
        >>> st = opt.init(np.zeros(2))
        >>> u, st = opt.update(np.array([2.0, -0.5]), st, np.zeros(2))
        >>> u.round(6).tolist(), st.count
        ([1.0, -1.0], 1)
    """
    if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0 and eps > 0.0):
        raise ConfigError(f"scale_by_adam needs 0 <= b1, b2 < 1 and eps > 0, got b1={b1} b2={b2} eps={eps}")

    def init(params: Params) -> AdamState:
        zeros = tree_map(lambda x: np.zeros_like(x, dtype=np.float64), params)
        return AdamState(0, zeros, tree_map(np.copy, zeros))

    def update(grads: Params, state: AdamState, params: Params, **extra: Any) -> tuple[Params, AdamState]:
        count = state.count + 1
        mu = tree_map(lambda m, g: b1 * m + (1.0 - b1) * g, state.mu, grads)
        nu = tree_map(lambda v, g: b2 * v + (1.0 - b2) * g * g, state.nu, grads)
        c1, c2 = 1.0 - b1**count, 1.0 - b2**count
        out = tree_map(lambda m, v: (m / c1) / (np.sqrt(v / c2) + eps), mu, nu)
        return out, AdamState(count, mu, nu)

    return Transform(init, update, "scale_by_adam")


def scale_by_learning_rate(lr: float) -> Transform:
    """Multiply by ``-lr``: the one place where an ascent direction becomes a descent step.

    Example:
        >>> scale_by_learning_rate(0.1).update(np.array([1.0]), EmptyState(), None)[0].tolist()
        [-0.1]
    """
    if not (lr >= 0.0 and np.isfinite(lr)):
        raise ConfigError(f"learning rate must be a finite number >= 0, got {lr}")

    def update(grads: Params, state: EmptyState, params: Params, **extra: Any) -> tuple[Params, EmptyState]:
        return tree_map(lambda g: -lr * g, grads), state

    return Transform(_empty_init, update, "scale_by_learning_rate")


def clip_by_global_norm(max_norm: float) -> Transform:
    """Rescale the whole tree so its global L2 norm is at most ``max_norm`` (BDPL clips at 3).

    Example:
        >>> clip_by_global_norm(1.0).update(np.array([3.0, 4.0]), EmptyState(), None)[0].tolist()
        [0.6000000000000001, 0.8]
    """
    if not max_norm > 0.0:
        raise ConfigError(f"clip_by_global_norm needs max_norm > 0, got {max_norm}")

    def update(grads: Params, state: EmptyState, params: Params, **extra: Any) -> tuple[Params, EmptyState]:
        norm = float(np.sqrt(sum(float(np.sum(np.square(g))) for g in tree_leaves(grads))))
        if norm <= max_norm:
            return grads, state
        factor = max_norm / norm
        return tree_map(lambda g: g * factor, grads), state

    return Transform(_empty_init, update, "clip_by_global_norm")


def add_dual() -> Transform:
    """Add the consensus dual ``rho`` (keyword ``rho``, shape of params): the ``+rho`` of Eq. (11)."""

    def update(grads: Params, state: EmptyState, params: Params, **extra: Any) -> tuple[Params, EmptyState]:
        rho = _require(extra, "rho", "add_dual")
        return tree_map(lambda g, r: g + r, grads, rho), state

    return Transform(_empty_init, update, "add_dual")


def add_consensus(mu: float) -> Transform:
    """Add the augmented-Lagrangian pull ``mu * (params - z)`` (keyword ``z``): Eq. (11)."""
    if not mu >= 0.0:
        raise ConfigError(f"add_consensus needs mu >= 0, got {mu}")

    def update(grads: Params, state: EmptyState, params: Params, **extra: Any) -> tuple[Params, EmptyState]:
        z = _require(extra, "z", "add_consensus")
        return tree_map(lambda g, p, zz: g + mu * (p - zz), grads, params, z), state

    return Transform(_empty_init, update, "add_consensus")


def add_cut_duals() -> Transform:
    """Add ``sum_l lambda_l a_l`` from keywords ``cuts_a`` (``(L, *shape)``) and ``cuts_lambda`` (``(L,)``).

    This is the gradient of the cutting-plane terms of the Lagrangian of Eq. (16) with respect to
    this worker's ``p``.
    """

    def update(grads: Params, state: EmptyState, params: Params, **extra: Any) -> tuple[Params, EmptyState]:
        a = np.asarray(_require(extra, "cuts_a", "add_cut_duals"), dtype=np.float64)
        lam = np.asarray(_require(extra, "cuts_lambda", "add_cut_duals"), dtype=np.float64)
        if a.shape[:1] != lam.shape or lam.ndim != 1:
            raise AlgorithmError(f"cuts_a {a.shape} and cuts_lambda {lam.shape} disagree on the number of cuts")
        if lam.size == 0:
            return grads, state
        return grads + np.tensordot(lam, a, axes=(0, 0)), state

    return Transform(_empty_init, update, "add_cut_duals")


def add_sign_penalty(psi: float) -> Transform:
    """Add the robust l1-consensus subgradient ``psi * sign(params - z)`` (keyword ``z``): Eq. (8)."""
    if not psi >= 0.0:
        raise ConfigError(f"add_sign_penalty needs psi >= 0, got {psi}")

    def update(grads: Params, state: EmptyState, params: Params, **extra: Any) -> tuple[Params, EmptyState]:
        z = _require(extra, "z", "add_sign_penalty")
        return tree_map(lambda g, p, zz: g + psi * np.sign(p - zz), grads, params, z), state

    return Transform(_empty_init, update, "add_sign_penalty")


def apply_and_project(params: Params, updates: Params) -> Params:
    """Return ``Proj_simplex(params + updates)`` row-wise (each leaf's last axis is a simplex).

    Example:
        >>> apply_and_project(np.array([0.5, 0.5]), np.array([0.2, -0.2])).round(6).tolist()
        [0.7, 0.3]
    """
    return tree_map(lambda p, u: project_simplex(np.asarray(p, dtype=np.float64) + u), params, updates)


def apply_exponentiated(params: Params, updates: Params, *, floor: float = 0.01) -> Params:
    """Entropic mirror step: ``p <- normalise(p * exp(updates))``, then mix in ``floor`` of uniform.

    The updates are read as changes of log-probability (``scale_by_learning_rate`` has already made
    them descent steps). Every row stays strictly inside the simplex: after the mix, each choice keeps
    at least ``floor / N`` probability, so no candidate is eliminated by a few noisy samples and the
    policy can still move back. This replaces :func:`apply_and_project` for the default optimiser.

    Example:
        >>> apply_exponentiated(np.array([0.5, 0.5]), np.array([0.0, -np.log(3.0)]), floor=0.0).round(6).tolist()
        [0.75, 0.25]
    """
    if not 0.0 <= floor < 1.0:
        raise ConfigError(f"floor={floor} must lie in [0, 1)")

    def step(p: np.ndarray, u: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=np.float64)
        logits = np.log(np.maximum(p, 1e-300)) + np.asarray(u, dtype=np.float64)
        logits -= logits.max(axis=-1, keepdims=True)
        out = np.exp(logits)
        out /= out.sum(axis=-1, keepdims=True)
        n = out.shape[-1]
        return (1.0 - floor) * out + floor / n if n else out

    return tree_map(step, params, updates)
