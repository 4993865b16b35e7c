"""The run protocol shared by every runtime: the job, a worker's local environment, prompt selection.

The job is what a config turns into (data, partitions, vocabulary, LLM client, settings). A runtime
(the simulator, Flower) only moves messages and keeps time; which data, vocabulary and settings a run
has, what a worker holds and which prompt a run exports are decided here, once.
"""

from asyndbt.session._job import (
    Prepared,
    algorithm_config,
    build_vocabulary,
    estimate_requests,
    load_splits,
    make_client,
    partition_summary,
    prepare,
    resolve_task_name,
    task_spec,
)
from asyndbt.session._selection import Candidate, Selection, WorkerChoice, paired_z, select_prompts
from asyndbt.session._worker_env import WorkerEnv, work_tokens

__all__ = ["Candidate", "Prepared", "Selection", "WorkerChoice", "WorkerEnv", "algorithm_config", "build_vocabulary",
           "estimate_requests", "load_splits", "make_client", "paired_z", "partition_summary", "prepare",
           "resolve_task_name", "select_prompts", "task_spec", "work_tokens"]
