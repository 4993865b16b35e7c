"""Worker and server state machines of AsynDBT and its variants: pure, deterministic, no I/O.

The runtime calls, in this order of life: ``AlgorithmConfig(...).validate()``, :func:`init_server`,
:func:`server_start`, :func:`init_worker`, then repeatedly :func:`worker_on_update`,
:func:`worker_plan` (score the returned :class:`ScoreBatch` with the LLM), :func:`worker_on_scores`,
:func:`server_on_report` / :func:`server_on_failure`; :func:`best_prompt` at the end. State and
messages serialise to JSON-able dicts for checkpoints and transport. See docs/algorithm.md.
"""

from asyndbt.algorithm._config import METHODS, PAPER_PRESET, AlgorithmConfig
from asyndbt.algorithm._messages import SCHEMA_VERSION, ScoreBatch, ServerUpdate, WorkerFailed, WorkerReport
from asyndbt.algorithm._server import (
    REJECTION_REASONS,
    ServerState,
    best_shared_fragment,
    init_server,
    ready,
    server_on_failure,
    server_on_report,
    server_start,
    server_state_from_dict,
    server_state_to_dict,
)
from asyndbt.algorithm._worker import (
    WorkerState,
    best_prompt,
    init_worker,
    lower_level_transform,
    starting_prompt,
    step_rng,
    upper_level_transform,
    worker_on_scores,
    worker_on_update,
    worker_plan,
    worker_state_from_dict,
    worker_state_to_dict,
)

__all__ = [
    "METHODS",
    "PAPER_PRESET",
    "REJECTION_REASONS",
    "SCHEMA_VERSION",
    "AlgorithmConfig",
    "ScoreBatch",
    "ServerState",
    "ServerUpdate",
    "WorkerFailed",
    "WorkerReport",
    "WorkerState",
    "best_prompt",
    "best_shared_fragment",
    "init_server",
    "init_worker",
    "lower_level_transform",
    "ready",
    "server_on_failure",
    "server_on_report",
    "server_start",
    "server_state_from_dict",
    "server_state_to_dict",
    "starting_prompt",
    "step_rng",
    "upper_level_transform",
    "worker_on_scores",
    "worker_on_update",
    "worker_plan",
    "worker_state_from_dict",
    "worker_state_to_dict",
]
