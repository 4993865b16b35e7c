"""Optimisation primitives: simplex projection, categorical policies, gradient transforms.

Modelled on optax: each transform is a pure ``init(params) -> state`` /
``update(grads, state, params, **extra) -> (updates, state)`` pair, composed with :func:`chain`,
whose state is *named* (``state["scale_by_adam"]``), never a positional tuple.

Sign convention: gradients and every intermediate update are *ascent* directions of the objective
being minimised. :func:`scale_by_learning_rate` multiplies by ``-lr`` and is the only transform that
flips the sign; :func:`apply_and_project` then *adds* the updates to the parameters and projects each
row back onto the probability simplex. Per-step values (``z``, ``rho``, ``cuts_a``,
``cuts_lambda``) are keyword arguments of ``update``.

Every state has ``to_dict()`` (JSON-able, lossless) and :func:`state_from_dict` rebuilds it.
"""

from asyndbt.optim._base import (
    ChainState,
    EmptyState,
    Params,
    Transform,
    chain,
    decode_array,
    decode_tree,
    encode_array,
    encode_tree,
    state_from_dict,
    tree_leaves,
    tree_map,
)
from asyndbt.optim._policy import (
    SCORE_EPS,
    logit_policy_gradient,
    policy_gradient,
    sample_categorical,
    sample_subsets,
    score_function,
)
from asyndbt.optim._projection import on_simplex, project_simplex
from asyndbt.optim._transforms import (
    AdamState,
    add_consensus,
    add_cut_duals,
    add_dual,
    add_sign_penalty,
    apply_and_project,
    apply_exponentiated,
    clip_by_global_norm,
    scale_by_adam,
    scale_by_learning_rate,
)

__all__ = [
    "SCORE_EPS",
    "AdamState",
    "ChainState",
    "EmptyState",
    "Params",
    "Transform",
    "add_consensus",
    "add_cut_duals",
    "add_dual",
    "add_sign_penalty",
    "apply_and_project",
    "apply_exponentiated",
    "chain",
    "clip_by_global_norm",
    "decode_array",
    "decode_tree",
    "encode_array",
    "encode_tree",
    "logit_policy_gradient",
    "on_simplex",
    "policy_gradient",
    "project_simplex",
    "sample_categorical",
    "sample_subsets",
    "scale_by_adam",
    "scale_by_learning_rate",
    "score_function",
    "state_from_dict",
    "tree_leaves",
    "tree_map",
]
