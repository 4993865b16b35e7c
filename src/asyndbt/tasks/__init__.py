"""Task definitions, data loaders, the paper's split protocol and worker partitioning."""

from asyndbt.tasks._types import Example, TaskSpec

__all__ = ["Example", "TaskSpec"]
