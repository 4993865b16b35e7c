"""The run protocol shared by every runtime: a worker's local environment and prompt selection.

A runtime (the simulator, Flower) only moves messages and keeps time; what a worker holds and which
prompt a run exports are decided here, once.
"""

from asyndbt.session._selection import Candidate, Selection, WorkerChoice, paired_z, select_prompts
from asyndbt.session._worker_env import WorkerEnv, work_tokens

__all__ = ["Candidate", "Selection", "WorkerChoice", "WorkerEnv", "paired_z", "select_prompts", "work_tokens"]
