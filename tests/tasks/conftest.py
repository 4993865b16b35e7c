"""Fixtures for the tasks/data tests: the shared GLUE data directory and the parsed SST-2 files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from asyndbt.tasks import Example, load_glue

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ.get("ASYNDBT_DATA_DIR") or DEFAULT_DATA_DIR).resolve()
    if not (path / "glue").is_dir() and not (path / "SST-2").is_dir():
        pytest.skip(f"GLUE data not found at {path}; set ASYNDBT_DATA_DIR")
    return path


@pytest.fixture(scope="session")
def sst2_train(data_dir: Path) -> tuple[Example, ...]:
    """The 67k-row SST-2 train file, parsed once per session."""
    return load_glue("sst2", "train", data_dir=data_dir)


@pytest.fixture(scope="session")
def sst2_dev(data_dir: Path) -> tuple[Example, ...]:
    return load_glue("sst2", "dev", data_dir=data_dir)
