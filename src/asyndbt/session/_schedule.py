"""When a run stops and when it evaluates: the one schedule every runtime follows.

A runtime only counts (worker steps, server steps, elapsed time: virtual in the simulator, wall
clock under Flower) and asks here, so the same config stops and evaluates at the same points
whichever runtime runs it.
"""

from __future__ import annotations

from asyndbt.config import SimulationConfig


def stop_reason(sim: SimulationConfig, *, worker_steps: int, server_steps: int, elapsed: float,
                max_worker_steps: int | None = None) -> str | None:
    """The budget a run has reached (``max_worker_steps`` first), or None to go on.

    ``max_worker_steps`` replaces ``sim.max_worker_steps`` where a runtime was given its own.
    """
    if worker_steps >= (sim.max_worker_steps if max_worker_steps is None else max_worker_steps):
        return "max_worker_steps"
    if sim.max_server_steps and server_steps >= sim.max_server_steps:
        return "max_server_steps"
    if sim.max_virtual_time is not None and elapsed >= sim.max_virtual_time:
        return "max_virtual_time"
    return None


def evaluation_due(sim: SimulationConfig, server_steps: int) -> bool:
    """Whether the server step just taken starts an evaluation round on validation."""
    return server_steps > 0 and server_steps % sim.eval_every == 0
