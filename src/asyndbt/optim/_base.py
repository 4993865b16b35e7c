"""The ``Transform`` pair, named chain state and small array-tree helpers.

Parameters are either one numpy array (the fragment policy ``p``, shape ``(M, N)``) or a tuple of
arrays (the demonstration policies ``q``, one ``(V_u,)`` array per class, ragged). Every transform
maps over that tiny "tree" with :func:`tree_map`.

States are frozen dataclasses of numpy arrays with ``to_dict()`` (JSON-able, lossless) and a
module-level ``state_from_dict`` that rebuilds any state from its ``kind`` tag.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from asyndbt.errors import AlgorithmError

Params = np.ndarray | tuple[np.ndarray, ...]


def tree_map(fn: Callable[..., np.ndarray], tree: Params, *rest: Params) -> Params:
    """Apply ``fn`` leaf-wise to an array or a tuple of arrays (and matching trees in ``rest``)."""
    if isinstance(tree, tuple | list):
        for other in rest:
            if not isinstance(other, tuple | list) or len(other) != len(tree):
                raise AlgorithmError(f"tree structure mismatch: {len(tree)} leaves vs {other!r:.60}")
        return tuple(fn(*leaves) for leaves in zip(tree, *rest, strict=True))
    return fn(tree, *rest)


def tree_leaves(tree: Params) -> list[np.ndarray]:
    """Return the arrays of a tree as a list."""
    return list(tree) if isinstance(tree, tuple | list) else [tree]


def encode_array(a: np.ndarray) -> dict[str, Any]:
    """Encode an array as a JSON-able dict ``{"dtype", "shape", "data"}`` (flat list; lossless).

    Python's ``json`` writes floats with ``repr``, which round-trips float64 exactly. The shape is
    kept so that empty arrays such as ``(0, N)`` survive.
    """
    arr = np.asarray(a)
    return {"dtype": str(arr.dtype), "shape": list(arr.shape), "data": arr.ravel().tolist()}


def decode_array(d: Mapping[str, Any]) -> np.ndarray:
    """Inverse of :func:`encode_array`."""
    try:
        return np.asarray(d["data"], dtype=np.dtype(d["dtype"])).reshape(tuple(d["shape"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise AlgorithmError(f"cannot decode array from {str(d)[:80]!r}: {exc}; expected "
                             "{'dtype', 'shape', 'data'} as written by encode_array") from exc


def encode_tree(tree: Params) -> Any:
    """Encode an array or tuple of arrays (a tuple becomes a JSON list)."""
    if isinstance(tree, tuple | list):
        return [encode_array(x) for x in tree]
    return encode_array(tree)


def decode_tree(d: Any) -> Params:
    """Inverse of :func:`encode_tree`."""
    if isinstance(d, list):
        return tuple(decode_array(x) for x in d)
    return decode_array(d)


class InitFn(Protocol):
    """``init(params) -> state``: build the transform's state for ``params``."""

    def __call__(self, params: Params) -> Any:
        """Return the initial state."""


class UpdateFn(Protocol):
    """``update(grads, state, params, **extra) -> (updates, state)``; pure, never mutates inputs."""

    def __call__(self, grads: Params, state: Any, params: Params, **extra: Any) -> tuple[Params, Any]:
        """Return the transformed updates and the new state."""


class Transform(NamedTuple):
    """A gradient transformation: a pure ``init``/``update`` pair and a name for the chain state.

    Values that change every step (``z``, ``rho``, the cuts) arrive as keyword arguments of
    ``update``; every transform accepts and ignores keywords it does not use.
    """

    init: InitFn
    update: UpdateFn
    name: str


@dataclass(frozen=True, eq=False)
class EmptyState:
    """State of a stateless transform."""

    kind = "empty"

    def to_dict(self) -> dict[str, Any]:
        """Serialise to a JSON-able dict."""
        return {"kind": self.kind}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EmptyState:
        """Rebuild from :meth:`to_dict` output."""
        return cls()


@dataclass(frozen=True, eq=False)
class ChainState:
    """State of :func:`chain`: inner states by transform name, in chain order."""

    inner: Mapping[str, Any]  # name -> that transform's state

    kind = "chain"

    def __getitem__(self, name: str) -> Any:
        """Return the inner state of the transform called ``name``."""
        return self.inner[name]

    def to_dict(self) -> dict[str, Any]:
        """Serialise to a JSON-able dict (inner states keep their order)."""
        return {"kind": self.kind, "inner": [[k, v.to_dict()] for k, v in self.inner.items()]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ChainState:
        """Rebuild from :meth:`to_dict` output."""
        return cls({k: state_from_dict(v) for k, v in d["inner"]})


def state_from_dict(d: Mapping[str, Any]) -> Any:
    """Rebuild any optimiser state from its ``to_dict()`` output, dispatching on ``kind``."""
    from asyndbt.optim._transforms import AdamState  # local: _transforms imports this module

    kinds = {EmptyState.kind: EmptyState, ChainState.kind: ChainState, AdamState.kind: AdamState}
    kind = d.get("kind") if isinstance(d, Mapping) else None
    if kind not in kinds:
        raise AlgorithmError(f"unknown optimiser state kind {kind!r}; expected one of {sorted(kinds)}")
    return kinds[kind].from_dict(d)


def chain(*transforms: Transform) -> Transform:
    """Compose transforms left to right; the state is a :class:`ChainState` keyed by name.

    Repeated names get a ``#2``, ``#3`` suffix so that every inner state stays addressable.

    Example:
        >>> from asyndbt.optim import scale_by_learning_rate, clip_by_global_norm
        >>> opt = chain(clip_by_global_norm(1.0), scale_by_learning_rate(0.5))
        >>> st = opt.init(np.zeros(2))
        >>> list(st.inner)
        ['clip_by_global_norm', 'scale_by_learning_rate']
        >>> opt.update(np.array([3.0, 4.0]), st, np.zeros(2))[0].tolist()
        [-0.30000000000000004, -0.4]
    """
    names: list[str] = []
    for t in transforms:
        name, k = t.name, 2
        while name in names:
            name, k = f"{t.name}#{k}", k + 1
        names.append(name)

    def init(params: Params) -> ChainState:
        return ChainState({n: t.init(params) for n, t in zip(names, transforms, strict=True)})

    def update(grads: Params, state: ChainState, params: Params, **extra: Any) -> tuple[Params, ChainState]:
        if not isinstance(state, ChainState) or list(state.inner) != names:
            got = list(state.inner) if isinstance(state, ChainState) else type(state).__name__
            raise AlgorithmError(f"chain state {got} does not match transforms {names}; build the state "
                                 "with this chain's init()")
        new_inner = {}
        for n, t in zip(names, transforms, strict=True):
            grads, new_inner[n] = t.update(grads, state.inner[n], params, **extra)
        return grads, ChainState(new_inner)

    return Transform(init, update, "chain")
