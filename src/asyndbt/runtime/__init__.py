"""Runtimes move messages between the pure server/worker state machines and run the LLM calls."""

from asyndbt.runtime._rundir import RunDir, write_json_atomic
from asyndbt.runtime._simulator import RunResult, Simulation, lognormal_delay
from asyndbt.session._worker_env import WorkerEnv, work_tokens

__all__ = ["RunDir", "RunResult", "Simulation", "WorkerEnv", "lognormal_delay", "work_tokens", "write_json_atomic"]
