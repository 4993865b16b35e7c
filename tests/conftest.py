"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The GLUE data directory ($ASYNDBT_DATA_DIR, else ../shared/data beside the checkout).

    Outside CI a missing copy skips the data tests with a message; in CI (CI=true) it fails, so a
    misconfigured CI cannot go green by skipping them.
    """
    path = Path(os.environ.get("ASYNDBT_DATA_DIR") or DEFAULT_DATA_DIR).resolve()
    if not (path / "glue").is_dir() and not (path / "SST-2").is_dir():
        message = f"GLUE data not found at {path}; set ASYNDBT_DATA_DIR"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path
