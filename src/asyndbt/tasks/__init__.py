"""Task definitions, data loaders, the paper's split protocol and worker partitioning.

Typical use::

    from asyndbt.tasks import describe_partition, load_task_splits, partition

    splits = load_task_splits("sst2", data_dir="data", seed=0)   # or "synthetic": no files needed
    workers = partition(splits, 3, scheme="dirichlet", alpha=0.5, seed=0)
    print(describe_partition(workers, splits.task))

The text-classification tasks agnews, trec, subj and sst5 read ``<data_dir>/<task>/{train,test}.csv``
(:func:`load_textcls`).

For your own data: build a :class:`TaskSpec`, read rows with :func:`load_table` (CSV, TSV, JSONL) or
:func:`load_hf_dataset`, and draw the splits with :func:`split_examples`.
"""

from asyndbt.tasks._datadir import DATA_DIR_ENV, resolve_data_dir
from asyndbt.tasks._glue import GLUE_LAYOUTS, GlueLayout, glue_file, load_glue
from asyndbt.tasks._huggingface import load_hf_dataset
from asyndbt.tasks._partition import SCHEMES, TEST_MODES, WorkerData, describe_partition, partition
from asyndbt.tasks._registry import get_task, list_tasks, normalize_task_name
from asyndbt.tasks._splits import TaskSplits, group_by_class, label_counts, load_task_splits, split_examples
from asyndbt.tasks._synthetic import synthetic_examples
from asyndbt.tasks._table import load_table
from asyndbt.tasks._textcls import TEXTCLS_LAYOUTS, TextClsLayout, load_textcls, textcls_file
from asyndbt.tasks._types import Example, TaskSpec

__all__ = [
    "DATA_DIR_ENV",
    "GLUE_LAYOUTS",
    "SCHEMES",
    "TEST_MODES",
    "TEXTCLS_LAYOUTS",
    "Example",
    "GlueLayout",
    "TaskSpec",
    "TaskSplits",
    "TextClsLayout",
    "WorkerData",
    "describe_partition",
    "get_task",
    "glue_file",
    "group_by_class",
    "label_counts",
    "list_tasks",
    "load_glue",
    "load_hf_dataset",
    "load_table",
    "load_task_splits",
    "load_textcls",
    "normalize_task_name",
    "partition",
    "resolve_data_dir",
    "split_examples",
    "synthetic_examples",
    "textcls_file",
]
