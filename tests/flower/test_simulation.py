"""Flower's simulation runtime (Ray backend): three virtual SuperNodes in one process tree."""

from __future__ import annotations

import pytest

pytest.importorskip("ray", reason="Flower's simulation runtime needs flwr[simulation] (ray)")


def test_simulation_runtime_completes(tmp_path, fh):
    from asyndbt.runtime.flower import FlowerSettings, run_simulation

    cfg = fh.tiny_cfg(tmp_path)
    result = run_simulation(cfg, tmp_path / "run", FlowerSettings(connect_timeout_s=120, worker_timeout_s=120))
    assert result.stopped_by == "max_worker_steps" and result.worker_steps == 6
    assert len(result.test) == 3
    kinds = [e["event"] for e in fh.events(tmp_path / "run")]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end" and "server_update" in kinds
    assert all((tmp_path / "run" / "nodes" / f"worker{w}" / "prompts" / f"worker{w}.json").exists() for w in range(3))
