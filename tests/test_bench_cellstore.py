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


def test_a_long_shard_does_not_put_back_a_cell_it_saved_hours_ago(tmp_path):
    """Session 18: a shard's final summary save restored its own old copies of cells replayed meanwhile."""
    path = tmp_path / "cells.json"
    shard = CellStore(path, {})
    shard.put("a", {"accuracy": 0.5})  # computed and saved early in the shard
    CellStore(path, {}).put("a", {"accuracy": 0.6, "note": "replayed"})  # another process replays it
    shard.put("b", {"accuracy": 0.7})  # the shard goes on
    shard.save(summary={"n": 2})  # and writes its summary at the end
    cells = json.loads(path.read_text())["cells"]
    assert cells["a"] == {"accuracy": 0.6, "note": "replayed"} and cells["b"] == {"accuracy": 0.7}


def test_two_processes_archiving_under_one_name_keep_both_entries(tmp_path):
    path = tmp_path / "cells.json"
    one, two = CellStore(path, {}), CellStore(path, {})
    one.put("a", {"accuracy": 0.1})
    one.archive("a", "before-x")  # kept in the cells until replaced
    one.put("a", {"accuracy": 0.2})
    two.put("b", {"accuracy": 0.3})
    two.archive("b", "before-x", drop=True)
    assert not two.has("b")
    two.put("b", {"accuracy": 0.4})
    assert set(json.loads(path.read_text())["archive"]["before-x"]) == {"a", "b"}
    assert json.loads(path.read_text())["archive"]["before-x"]["a"] == {"accuracy": 0.1}
