"""Categorical policies and the variance-reduced policy-gradient estimator (BDPL).

A policy is an ``(M, N)`` array: ``M`` independent categorical distributions over ``N`` choices
(fragment positions over the vocabulary; a demonstration policy is a ``(1, V)`` row). A sample is an
``(M,)`` integer vector; its log-probability is ``sum_i log p[i, j_i]``.

Score function. We use the *exact* derivative of ``log P(sample)`` with respect to the raw
probability parameters: ``d log P / d p[i, j] = 1[j == j_i] / p[i, j_i]``. BDPL's code instead puts
``-1/p`` on the entries that were not sampled; that variant is not the derivative of anything we
optimise, so we do not use it. Because the parameters live on the simplex, a gradient with respect to
raw probabilities is only meaningful up to the simplex normal (adding ``c * 1`` to a row changes
nothing after projection); the variance-reduced estimator below is unbiased for the exact gradient of
``E_p[L]`` minus exactly such a normal component.

Zero probabilities. The simplex projection produces exact zeros, and a zero-probability choice is
never sampled, but a caller may score samples drawn from an older policy. The score function floors
``p`` at ``eps`` (default ``1e-6``) so the estimate stays finite; the floor only matters for choices
whose probability is already below ``eps``.
"""

from __future__ import annotations

import numpy as np

from asyndbt.errors import AlgorithmError

SCORE_EPS = 1e-6  # floor on p inside the score function (see module docstring)


def _as_policy(probs: np.ndarray) -> np.ndarray:
    arr = np.asarray(probs, dtype=np.float64)
    if arr.ndim != 2:
        raise AlgorithmError(f"a policy must be a 2-D (M, N) array, got shape {arr.shape}; wrap a single "
                             "distribution as probs[None, :]")
    if arr.shape[1] == 0:
        raise AlgorithmError(f"a policy needs at least one choice per row, got shape {arr.shape}")
    return arr


def sample_categorical(probs: np.ndarray, num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``num_samples`` joint samples from ``M`` independent categoricals.

    Args:
        probs: ``(M, N)`` policy, each row on the simplex (tiny drift is tolerated).
        num_samples: ``I``, the number of joint samples.
        rng: The generator to draw from (derive it from the seed, worker and step).

    Returns:
        ``(I, M)`` int64 array; entry ``[k, i]`` is the choice at row ``i`` in sample ``k``. A choice
        with probability zero is never drawn.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> sample_categorical(np.array([[0.0, 1.0], [1.0, 0.0]]), 3, rng).tolist()
        [[1, 0], [1, 0], [1, 0]]
    """
    arr = _as_policy(probs)
    if num_samples < 0:
        raise AlgorithmError(f"num_samples must be >= 0, got {num_samples}")
    m, _ = arr.shape
    if m == 0:
        return np.zeros((num_samples, 0), dtype=np.int64)
    cdf = np.cumsum(np.clip(arr, 0.0, None), axis=1)
    if np.any(cdf[:, -1] <= 0.0):
        raise AlgorithmError("sample_categorical got a row with no positive probability; project the "
                             "policy onto the simplex first")
    cdf = cdf / cdf[:, -1:]
    u = rng.random((num_samples, m))
    # Inverse CDF: choice j is drawn iff cdf[j-1] <= u < cdf[j], impossible when p[j] == 0.
    idx = (cdf[None, :, :] <= u[:, :, None]).sum(axis=2)
    return np.minimum(idx, arr.shape[1] - 1).astype(np.int64)


def sample_subsets(probs: np.ndarray, size: int, num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``num_samples`` subsets of ``size`` distinct choices from one categorical, without replacement.

    Gumbel top-k: item ``j`` gets key ``log p_j + G_j`` and the ``size`` largest keys win, which is
    sequential sampling without replacement. A subset is returned in ascending id order (a set has one
    canonical rendering, so the same set is the same prompt). When fewer than ``size`` choices have
    positive probability, the subset is padded by repeating its first member (callers drop repeats).

    Args:
        probs: ``(N,)`` distribution.
        size: Items per subset (>= 1).
        num_samples: Number of subsets.
        rng: The generator to draw from.

    Returns:
        ``(num_samples, size)`` int64 array.

    Example:
        >>> sample_subsets(np.array([0.0, 0.5, 0.5]), 2, 2, np.random.default_rng(0)).tolist()
        [[1, 2], [1, 2]]
    """
    arr = _as_policy(np.asarray(probs, dtype=np.float64)[None, :])[0]
    if size < 1:
        raise AlgorithmError(f"subset size must be >= 1, got {size}")
    positive = arr > 0.0
    if not positive.any():
        raise AlgorithmError("sample_subsets got a distribution with no positive probability")
    k = min(size, int(positive.sum()))
    with np.errstate(divide="ignore"):
        logp = np.where(positive, np.log(np.where(positive, arr, 1.0)), -np.inf)
    keys = logp[None, :] + rng.gumbel(size=(num_samples, arr.shape[0]))
    top = np.sort(np.argsort(-keys, axis=1, kind="stable")[:, :k], axis=1)
    if k < size:
        top = np.concatenate([top, np.repeat(top[:, :1], size - k, axis=1)], axis=1)
    return top.astype(np.int64)


def score_function(probs: np.ndarray, samples: np.ndarray, *, eps: float = SCORE_EPS) -> np.ndarray:
    """Gradient of ``log P(sample)`` with respect to the probability parameters, per sample.

    Args:
        probs: ``(M, N)`` policy.
        samples: ``(I, M)`` integer samples.
        eps: Floor on the probability of a sampled choice.

    Returns:
        ``(I, M, N)`` array: ``1 / max(p[i, j], eps)`` at each sampled ``(i, j)``, zero elsewhere.

    Example:
        >>> score_function(np.array([[0.25, 0.75]]), np.array([[0], [1]])).tolist()
        [[[4.0, 0.0]], [[0.0, 1.3333333333333333]]]
    """
    arr = _as_policy(probs)
    s = np.asarray(samples)
    m, n = arr.shape
    if s.ndim != 2 or s.shape[1] != m:
        raise AlgorithmError(f"samples must have shape (I, {m}) to match the policy, got {s.shape}")
    if s.size and (s.min() < 0 or s.max() >= n):
        raise AlgorithmError(f"samples index outside [0, {n}); got min {s.min()} max {s.max()}")
    out = np.zeros((s.shape[0], m, n))
    if s.size == 0:
        return out
    rows = np.arange(m)[None, :]
    out[np.arange(s.shape[0])[:, None], rows, s] = 1.0 / np.maximum(arr[rows, s], eps)
    return out


def policy_gradient(
    probs: np.ndarray, samples: np.ndarray, losses: np.ndarray, *, eps: float = SCORE_EPS
) -> np.ndarray:
    """Variance-reduced policy-gradient estimate of ``grad_p E_p[L]`` (BDPL).

    ``g = 1/(I-1) * sum_k (L_k - mean(L)) * grad log P(sample_k)``. Subtracting the sample mean as a
    baseline and dividing by ``I - 1`` makes the estimate unbiased for the exact gradient up to a
    multiple of the all-ones vector per row, which the simplex projection ignores.

    Args:
        probs: ``(M, N)`` policy the samples were drawn from.
        samples: ``(I, M)`` integer samples, ``I >= 2``.
        losses: ``(I,)`` finite loss of each sample.
        eps: Floor on sampled probabilities (see :func:`score_function`).

    Returns:
        ``(M, N)`` gradient estimate (ascent direction of the loss).

    Raises:
        AlgorithmError: If fewer than two samples are given, shapes disagree or a loss is not finite.

    Example:
        >>> g = policy_gradient(np.array([[0.5, 0.5]]), np.array([[0], [1]]), np.array([1.0, 0.0]))
        >>> g.tolist()
        [[1.0, -1.0]]
    """
    s = np.asarray(samples)
    loss = np.asarray(losses, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] < 2:
        raise AlgorithmError(f"policy_gradient needs samples of shape (I, M) with I >= 2 for the "
                             f"baseline, got {s.shape}; raise samples_per_step")
    if loss.shape != (s.shape[0],):
        raise AlgorithmError(f"losses must have shape ({s.shape[0]},), got {loss.shape}")
    if not np.all(np.isfinite(loss)):
        raise AlgorithmError(f"policy_gradient got non-finite losses {loss.tolist()}; the scorer must "
                             "return finite cross-entropies")
    scores = score_function(probs, s, eps=eps)
    adv = loss - loss.mean()
    return np.tensordot(adv, scores, axes=(0, 0)) / (s.shape[0] - 1)


def logit_policy_gradient(
    probs: np.ndarray, samples: np.ndarray, losses: np.ndarray, *, normalize: bool = True, clip: float = 2.0
) -> np.ndarray:
    """Policy gradient with respect to the *logits* of a softmax policy, for exponentiated steps.

    ``g = 1/(I-1) * sum_k A_k (onehot(sample_k) - p)`` with advantage ``A_k = L_k - mean(L)``,
    divided by the losses' standard deviation and clipped to ``[-clip, clip]`` when ``normalize``.
    Unlike :func:`policy_gradient` it has no ``1/p`` factor, so a rarely drawn choice that scores
    badly once loses a bounded amount of log-probability instead of being zeroed out: the step size
    is in nats of log-probability whatever the policy's size. A batch whose losses are all equal
    gives a zero gradient.

    Example:
        >>> logit_policy_gradient(np.array([[0.5, 0.5]]), np.array([[0], [1]]), np.array([1.0, 0.0])).tolist()
        [[0.7071067811865475, -0.7071067811865475]]
    """
    s = np.asarray(samples)
    loss = np.asarray(losses, dtype=np.float64)
    arr = _as_policy(probs)
    if s.ndim != 2 or s.shape[0] < 2 or s.shape[1] != arr.shape[0]:
        raise AlgorithmError(f"samples must have shape (I >= 2, {arr.shape[0]}), got {s.shape}; raise samples_per_step")
    if loss.shape != (s.shape[0],) or not np.all(np.isfinite(loss)):
        raise AlgorithmError(f"losses must be {s.shape[0]} finite values, got {loss.tolist()}")
    adv = loss - loss.mean()
    if normalize:
        sd = float(loss.std())
        if sd < 1e-12:
            return np.zeros_like(arr)
        adv = np.clip(adv / sd, -clip, clip)
    m, n = arr.shape
    onehot = np.zeros((s.shape[0], m, n))
    onehot[np.arange(s.shape[0])[:, None], np.arange(m)[None, :], s] = 1.0
    return np.tensordot(adv, onehot - arr[None, :, :], axes=(0, 0)) / (s.shape[0] - 1)
