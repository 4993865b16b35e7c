"""Fixtures for the tasks/data tests: the shared GLUE data directory and the parsed SST-2 files."""

from __future__ import annotations

from pathlib import Path

import pytest

from asyndbt.tasks import Example, load_glue


@pytest.fixture(scope="session")
def sst2_train(data_dir: Path) -> tuple[Example, ...]:
    """The 67k-row SST-2 train file, parsed once per session."""
    return load_glue("sst2", "train", data_dir=data_dir)


@pytest.fixture(scope="session")
def sst2_dev(data_dir: Path) -> tuple[Example, ...]:
    return load_glue("sst2", "dev", data_dir=data_dir)
