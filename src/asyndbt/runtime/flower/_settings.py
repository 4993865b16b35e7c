"""Flower run settings and the flat key/value run config that carries a RunConfig to every node.

Flower's run config (``[tool.flwr.app.config]``, ``context.run_config``) is a flat map of scalars,
so the whole :class:`~asyndbt.config.RunConfig` travels as one JSON string under ``asyndbt-config``
and the shared fragment vocabulary as a JSON list under ``vocab``. Both reach the SuperNodes through
the SuperLink once per run, not in the per-update messages. Neither holds training data: the
vocabulary is the public list of fragment candidates every party agreed on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from asyndbt.config import RunConfig
from asyndbt.errors import ConfigError

# run-config keys
KEY_CONFIG = "asyndbt-config"
KEY_VOCAB = "vocab"
KEY_RUN_DIR = "run-dir"
KEY_SETTINGS = "flower-settings"

# node-config keys (per SuperNode, ``--node-config``)
NODE_WORKER_ID = "worker-id"
NODE_PARTITION_ID = "partition-id"  # set by Flower's simulation runtime
NODE_PARTITION_FILE = "partition-file"
NODE_DATA_DIR = "data-dir"
NODE_OUT_DIR = "out-dir"
NODE_MODEL = "model"
NODE_BACKEND = "llm-backend"
NODE_THREADS = "threads"
NODE_N_CTX = "n-ctx"
NODE_CACHE = "cache"
NODE_MODEL_SERVER = "model-server"  # socket of a long-lived model process (`asyndbt flower model-server`)
NODE_STEP_DELAY = "step-delay-s"  # trials and benchmarks: a slow party, this many seconds added to every step
NODE_KEYS = (NODE_WORKER_ID, NODE_PARTITION_ID, NODE_PARTITION_FILE, NODE_DATA_DIR, NODE_OUT_DIR, NODE_MODEL,
             NODE_BACKEND, NODE_THREADS, NODE_N_CTX, NODE_CACHE, NODE_MODEL_SERVER, NODE_STEP_DELAY, "num-partitions")


@dataclass(frozen=True)
class FlowerSettings:
    """How the Flower ServerApp waits: every wait is bounded.

    Attributes:
        connect_timeout_s: how long to wait for the R SuperNodes to connect and say hello.
        worker_timeout_s: a worker whose train message has had no reply for this long becomes a
            ``WorkerFailed("timeout")`` input; a later reply makes it rejoin.
        final_timeout_s: how long to wait for in-flight steps and final evaluations at the end.
        poll_interval_s: sleep between ``pull_messages`` polls when nothing arrived.
        audit_payloads: write every message payload (decoded) to ``<run_dir>/payloads.jsonl``.
        resume: continue the run in ``run-dir`` from its last checkpoint (server) and from each
            worker's last saved step (nodes), instead of starting over.
    """

    connect_timeout_s: float = 120.0
    worker_timeout_s: float = 300.0
    final_timeout_s: float = 600.0
    poll_interval_s: float = 0.05
    audit_payloads: bool = False
    resume: bool = False

    def validate(self) -> FlowerSettings:
        """Check that every timeout is positive."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name not in ("audit_payloads", "resume") and (not isinstance(value, int | float) or value <= 0):
                raise ConfigError(f"flower setting {f.name}={value!r} must be a positive number of seconds")
        return self

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FlowerSettings:
        """Build from a dict, naming unknown keys."""
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - valid)
        if unknown:
            raise ConfigError(f"unknown flower setting(s) {unknown}; valid: {', '.join(sorted(valid))}")
        return cls(**dict(d)).validate()


def vocab_digest(vocab: Sequence[str]) -> str:
    """A short hash of the vocabulary, so nodes can check they map ids to the same words."""
    return hashlib.sha256("\n".join(vocab).encode("utf-8")).hexdigest()[:16]


def make_run_config(cfg: RunConfig, vocab: Sequence[str], run_dir: str, settings: FlowerSettings) -> dict[str, Any]:
    """The flat Flower run config of one asyndbt job."""
    return {KEY_CONFIG: json.dumps(cfg.to_dict()), KEY_VOCAB: json.dumps(list(vocab)), KEY_RUN_DIR: str(run_dir),
            KEY_SETTINGS: json.dumps(dataclasses.asdict(settings))}


def read_run_config(run_config: Mapping[str, Any]) -> tuple[RunConfig, tuple[str, ...], str, FlowerSettings]:
    """Inverse of :func:`make_run_config`, validated."""
    missing = [k for k in (KEY_CONFIG, KEY_VOCAB) if k not in run_config]
    if missing:
        raise ConfigError(f"Flower run config lacks {missing}; generate the app with `asyndbt flower app`")
    try:
        cfg = RunConfig.from_dict(json.loads(str(run_config[KEY_CONFIG]))).validate()
        vocab = tuple(json.loads(str(run_config[KEY_VOCAB])))
        settings = FlowerSettings.from_dict(json.loads(str(run_config.get(KEY_SETTINGS, "{}"))))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"Flower run config holds invalid JSON ({exc}); regenerate the app") from exc
    return cfg, vocab, str(run_config.get(KEY_RUN_DIR, "")), settings


def algorithm_config_for(cfg: RunConfig, vocab: tuple[str, ...]) -> Any:
    """The run's AlgorithmConfig from settings and the shared vocabulary alone (no data needed)."""
    from asyndbt import session

    task = session.task_spec(cfg)
    acfg = session.algorithm_config(cfg, task, vocab)
    if acfg.centralised:
        raise ConfigError(f"method={cfg.method!r} pools every worker's data on one machine; the Flower runtime "
                          "runs federated methods only (asyndbt, sync-dbt, demos-only, fragment-only)")
    return acfg
