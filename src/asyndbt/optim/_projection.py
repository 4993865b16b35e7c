"""Projection onto the probability simplex (BDPL's shift-and-clip, solved by bisection).

BDPL (and the AsynDBT paper after it) projects a vector ``x`` onto the simplex with
``x' = clip(x - v, 0, 1)`` where the shift ``v`` is chosen so that ``sum(x') == 1``. Whenever the
result sums to one, no entry can exceed one, so the upper clip never binds (except in the degenerate
case of a vertex) and the formula is exactly the Euclidean projection ``max(x - v, 0)``.

We find ``v`` by vectorised bisection (every row at once), then refine it in closed form from the
support the bisection found, so the result is exact to floating-point precision rather than to
BDPL's loose ``|sum - 1| < 1e-3``.
"""

from __future__ import annotations

import numpy as np

from asyndbt.errors import AlgorithmError

_BISECTION_TOL = 1e-10  # width of the bracket on the shift v when bisection stops
_MAX_ITERS = 200  # bisection halves the bracket; 200 halvings reach 1e-10 from any float range


def project_simplex(x: np.ndarray, *, axis: int = -1) -> np.ndarray:
    """Project every slice of ``x`` along ``axis`` onto the probability simplex.

    Args:
        x: Array of any shape with at least one entry along ``axis``; typically ``(M, N)`` rows of
            fragment-word probabilities or ``(V,)`` demonstration probabilities.
        axis: The axis whose slices must each sum to one.

    Returns:
        A new float64 array of the same shape, non-negative, each slice summing to one, equal to the
        Euclidean projection of the corresponding slice of ``x``.

    Raises:
        AlgorithmError: If ``x`` holds NaN or infinite values or ``axis`` has length zero.

    Example:
        >>> project_simplex(np.array([0.5, 0.5, 0.5])).round(6).tolist()
        [0.333333, 0.333333, 0.333333]
        >>> project_simplex(np.array([[2.0, 0.0], [0.3, 0.1]])).round(6).tolist()
        [[1.0, 0.0], [0.6, 0.4]]
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        raise AlgorithmError("project_simplex got a scalar; pass an array with at least one axis")
    moved = np.moveaxis(arr, axis, -1)
    n = moved.shape[-1]
    if n == 0:
        raise AlgorithmError(f"project_simplex got an empty axis {axis} (shape {arr.shape}); the simplex "
                             "needs at least one coordinate")
    if moved.size == 0:  # e.g. (0, N): no rows to project
        return np.moveaxis(moved.copy(), -1, axis)
    if not np.all(np.isfinite(moved)):
        raise AlgorithmError("project_simplex got NaN or infinite values; check the gradient and "
                             "learning rate that produced them")
    rows = moved.reshape(-1, n)
    # f(v) = sum(clip(x - v, 0, 1)) is non-increasing in v; f(min - 1) = n >= 1 and f(max) = 0.
    lo = rows.min(axis=1) - 1.0
    hi = rows.max(axis=1)
    for _ in range(_MAX_ITERS):
        mid = 0.5 * (lo + hi)
        total = np.clip(rows - mid[:, None], 0.0, 1.0).sum(axis=1)
        too_big = total > 1.0
        lo = np.where(too_big, mid, lo)
        hi = np.where(too_big, hi, mid)
        if np.all(hi - lo <= _BISECTION_TOL * np.maximum(1.0, np.abs(hi))):
            break
    v = 0.5 * (lo + hi)
    # Closed-form refinement on the support found by bisection: sum_{x_j > v} (x_j - v) = 1.
    support = rows > v[:, None]
    count = support.sum(axis=1)
    ok = count > 0
    refined = np.where(ok, (np.where(support, rows, 0.0).sum(axis=1) - 1.0) / np.maximum(count, 1), v)
    out = np.clip(rows - refined[:, None], 0.0, 1.0)
    # Guard the last ulp of drift so every row sums to one to machine precision.
    out /= out.sum(axis=1, keepdims=True)
    return np.moveaxis(out.reshape(moved.shape), -1, axis)


def on_simplex(x: np.ndarray, *, axis: int = -1, atol: float = 1e-6) -> bool:
    """Tell whether every slice of ``x`` along ``axis`` is a probability vector (within ``atol``).

    Example:
        >>> on_simplex(np.array([[0.5, 0.5], [1.0, 0.0]]))
        True
        >>> on_simplex(np.array([0.6, 0.6]))
        False
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.size == 0:
        return True
    if not np.all(np.isfinite(arr)) or np.any(arr < -atol):
        return False
    return bool(np.all(np.abs(arr.sum(axis=axis) - 1.0) <= atol))
