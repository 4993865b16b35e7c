"""Wire messages between workers, the server and the runtime.

Frozen dataclasses with a ``schema_version``. ``to_dict()`` gives a JSON-able dict: arrays become
``{"dtype", "shape", "data"}`` with a flat list of numbers (lossless for float64 because ``json``
writes floats with ``repr``; the shape keeps empty arrays like ``(0, N)``). ``from_dict`` checks the
message type and schema version.

What crosses the network (privacy): ``WorkerReport`` reveals the worker's fragment policy ``p``,
its previous ``p``, its latest fragment policy-gradient estimate ``grad_p`` (the server's ``phi``
estimate linearises each worker's loss with it) and loss statistics. Demonstration policies ``q``,
the training data and the pools never leave the worker. ``ScoreBatch`` never leaves the worker's
machine: it is the request the worker's runtime turns into LLM prompts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from asyndbt.errors import AlgorithmError
from asyndbt.optim import decode_array, encode_array

SCHEMA_VERSION = 2  # 2: server state keeps per-worker rows and running sums


def _check_header(cls: type, d: Mapping[str, Any]) -> None:
    if not isinstance(d, Mapping) or d.get("type") != cls.__name__:
        got = d.get("type") if isinstance(d, Mapping) else type(d).__name__
        raise AlgorithmError(f"expected a {cls.__name__} dict, got type {got!r}")
    if d.get("schema_version") != SCHEMA_VERSION:
        raise AlgorithmError(f"{cls.__name__} schema_version {d.get('schema_version')!r} is not supported "
                             f"(this build reads {SCHEMA_VERSION}); upgrade the older side")


@dataclass(frozen=True, eq=False)
class ScoreBatch:
    """What a worker asks its runtime to score with the LLM in one step.

    The runtime builds, for every sample ``k`` and query ``b``, the prompt with fragment words
    ``fragments[k]`` (vocabulary ids), demonstration ``demos[k, u]`` (index into the worker's pool of
    class ``u``) and training query ``queries[b]``, and returns ``losses`` of shape ``(I, B)``: the
    cross-entropy of the true label.
    """

    worker: int
    step: int
    fragments: np.ndarray  # (I, M) int vocabulary ids; M may be 0
    demos: np.ndarray  # (I, U) int index into the worker's per-class pool
    queries: np.ndarray  # (B,) int indices into the worker's train split, no repeats

    schema_version: ClassVar[int] = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Serialise to a JSON-able dict."""
        return {"type": "ScoreBatch", "schema_version": SCHEMA_VERSION, "worker": self.worker,
                "step": self.step, "fragments": encode_array(self.fragments),
                "demos": encode_array(self.demos), "queries": encode_array(self.queries)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScoreBatch:
        """Rebuild from :meth:`to_dict` output."""
        _check_header(cls, d)
        return cls(int(d["worker"]), int(d["step"]), decode_array(d["fragments"]),
                   decode_array(d["demos"]), decode_array(d["queries"]))


@dataclass(frozen=True, eq=False)
class WorkerReport:
    """A worker's report to the server after one local step (paper Eq. 8: sends p^{k+1} and p^k)."""

    worker: int
    step: int  # the worker step that produced this report (the ScoreBatch step)
    based_on_server_step: int  # server iteration of the last ServerUpdate the worker had applied
    p: np.ndarray  # (M, N) new fragment policy
    p_prev: np.ndarray  # (M, N) fragment policy before this step
    grad_p: np.ndarray  # (M, N) raw policy-gradient estimate of this step (revealed to the server)
    loss_mean: float  # mean loss over all (I, B) scores
    loss_std: float  # std of the per-sample mean losses L_k (spread between sampled prompts)
    n_scored: int  # I * B scores behind the estimate

    schema_version: ClassVar[int] = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Serialise to a JSON-able dict."""
        return {"type": "WorkerReport", "schema_version": SCHEMA_VERSION, "worker": self.worker,
                "step": self.step, "based_on_server_step": self.based_on_server_step,
                "p": encode_array(self.p), "p_prev": encode_array(self.p_prev),
                "grad_p": encode_array(self.grad_p), "loss_mean": self.loss_mean,
                "loss_std": self.loss_std, "n_scored": self.n_scored}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WorkerReport:
        """Rebuild from :meth:`to_dict` output."""
        _check_header(cls, d)
        return cls(int(d["worker"]), int(d["step"]), int(d["based_on_server_step"]), decode_array(d["p"]),
                   decode_array(d["p_prev"]), decode_array(d["grad_p"]), float(d["loss_mean"]),
                   float(d["loss_std"]), int(d["n_scored"]))


@dataclass(frozen=True, eq=False)
class ServerUpdate:
    """The server's reply to one worker: consensus variable, that worker's duals and its cuts."""

    worker: int
    server_step: int  # server iteration after the update that produced this message
    z: np.ndarray  # (M, N) consensus fragment policy
    rho: np.ndarray  # (M, N) consensus dual of this worker
    cuts_a: np.ndarray  # (L, M, N) this worker's coefficients of the L live cuts
    cuts_lambda: np.ndarray  # (L,) duals of the live cuts

    schema_version: ClassVar[int] = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Serialise to a JSON-able dict."""
        return {"type": "ServerUpdate", "schema_version": SCHEMA_VERSION, "worker": self.worker,
                "server_step": self.server_step, "z": encode_array(self.z), "rho": encode_array(self.rho),
                "cuts_a": encode_array(self.cuts_a), "cuts_lambda": encode_array(self.cuts_lambda)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ServerUpdate:
        """Rebuild from :meth:`to_dict` output."""
        _check_header(cls, d)
        return cls(int(d["worker"]), int(d["server_step"]), decode_array(d["z"]), decode_array(d["rho"]),
                   decode_array(d["cuts_a"]), decode_array(d["cuts_lambda"]))


@dataclass(frozen=True, eq=False)
class WorkerFailed:
    """The runtime's notice that a worker stopped answering (timeout, crash, LLM budget)."""

    worker: int
    reason: str

    schema_version: ClassVar[int] = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Serialise to a JSON-able dict."""
        return {"type": "WorkerFailed", "schema_version": SCHEMA_VERSION, "worker": self.worker,
                "reason": self.reason}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WorkerFailed:
        """Rebuild from :meth:`to_dict` output."""
        _check_header(cls, d)
        return cls(int(d["worker"]), str(d["reason"]))


def as_float_array(x: Any, name: str) -> np.ndarray:
    """Convert ``x`` to a float64 array, raising :class:`AlgorithmError` naming ``name`` on failure."""
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AlgorithmError(f"{name} is not a numeric array: {exc}") from exc
