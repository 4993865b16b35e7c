"""bench/_common.CellStore: shards sharing one result file never lose each other's cells or changes."""

from __future__ import annotations

import json

from bench._common import CellStore


def test_a_shard_does_not_write_back_stale_copies(tmp_path):
    path = tmp_path / "cells.json"
    first = CellStore(path, {})
    first.put("a", {"accuracy": 0.5})
    stale = CellStore(path, {})  # loads "a" as it is now
    CellStore(path, {}).put("a", {"accuracy": 0.5, "correct": "10"})  # another process adds answers to "a"
    stale.put("b", {"accuracy": 0.7})  # the stale process saves its own new cell
    cells = json.loads(path.read_text())["cells"]
    assert cells == {"a": {"accuracy": 0.5, "correct": "10"}, "b": {"accuracy": 0.7}}
    assert stale.get("a") == {"accuracy": 0.5, "correct": "10"}  # and it now sees the newer version


def test_a_store_keeps_what_it_put_itself(tmp_path):
    path = tmp_path / "cells.json"
    store = CellStore(path, {"run": 1})
    store.put("x", {"v": 1})
    store.put("x", {"v": 2})
    assert CellStore(path, {}).get("x") == {"v": 2}
    assert store.has("x") and not store.has("y")
