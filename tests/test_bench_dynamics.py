"""The trajectory benchmarks' measuring rules (bench/_dynamics.py): held-out rows and accuracy targets."""

from __future__ import annotations

import json

import pytest
from bench._dynamics import accuracy_target, first_reaching, held_out, make_config

from asyndbt import job


def _cell(initial: float, final: float, n: int = 1000) -> dict:
    return {"initial_accuracy": initial, "final_accuracy": final, "held_out_n": n}


def test_target_lies_between_start_and_best_final():
    t = accuracy_target([_cell(0.60, 0.70), _cell(0.60, 0.75), _cell(0.60, 0.58)])
    assert t["target"] == pytest.approx(0.60 + 0.8 * 0.15)
    assert t["initial"] < t["target"] < t["best_final"]


def test_no_target_inside_the_noise():
    """A gain of two standard errors or less would make a target that the start may already meet."""
    t = accuracy_target([_cell(0.70, 0.72), _cell(0.70, 0.71)])  # SE at 70 % on 1,000 is 1.45 points
    assert t["target"] is None and "standard errors" in t["why"]
    assert accuracy_target([_cell(0.70, 0.72, n=100_000)])["target"] is not None  # resolvable on a big set


def test_first_reaching_returns_the_first_point_at_or_above():
    curve = [{"t": 0.0, "accuracy": 0.6}, {"t": 2.0, "accuracy": 0.71}, {"t": 3.0, "accuracy": 0.69},
             {"t": 5.0, "accuracy": 0.74}]
    assert first_reaching(curve, "accuracy", 0.7)["t"] == 2.0
    assert first_reaching(curve, "accuracy", 0.8) is None


def test_held_out_rows_are_never_in_the_run(tmp_path):
    cfg = make_config(["task.name=synthetic", "partition.workers=3", "task.test_size=40", "task.val_size=30",
                       f"output_dir={json.dumps(str(tmp_path))}"])
    prepared = job.prepare(cfg, seed=1)
    rows = held_out(cfg, prepared, seed=1, n=200)
    s = prepared.splits
    used = {(e.texts, e.label) for part in (s.train, s.validation, s.test, s.pool) for e in part}
    assert len(rows) == 200 and len({(e.texts, e.label) for e in rows}) == 200
    assert not used & {(e.texts, e.label) for e in rows}
    assert held_out(cfg, prepared, seed=1, n=200) == rows  # the same rows for every method of a seed
    with pytest.raises(ValueError, match="unused rows"):
        held_out(cfg, prepared, seed=1, n=10**6)


def _run(curve: list[tuple[float, float]], exported: float = 0.7) -> dict:
    points = [{"t": t, "accuracy": a} for t, a in curve]
    return {"curve": points, "initial_accuracy": points[0]["accuracy"], "final_accuracy": points[-1]["accuracy"],
            "held_out_n": 1000, "exported_accuracy": exported, "test_accuracy": exported, "virtual_time": curve[-1][0]}


def test_stragglers_summary_counts_misses_and_reports_the_pace_without_a_target(tmp_path):
    from bench._common import CellStore
    from bench.stragglers import summarise

    store = CellStore(tmp_path / "s.json", {})
    # seed 0: sync-dbt reaches the target (0.6 + 0.8 * 0.2 = 0.76) at t=40, asyndbt at t=10, fedbuff never
    store.put("sigma1/sync-dbt/0", _run([(0, 0.6), (40, 0.8), (80, 0.8)]))
    store.put("sigma1/asyndbt/0", _run([(0, 0.6), (10, 0.77), (20, 0.78)]))
    store.put("sigma1/fedbuff/0", _run([(0, 0.6), (10, 0.62), (16, 0.63)]))
    # seed 1: nobody moves, so no target; the pace is still measured
    store.put("sigma1/sync-dbt/1", _run([(0, 0.7), (60, 0.7)]))
    store.put("sigma1/asyndbt/1", _run([(0, 0.7), (30, 0.7)]))
    rows = summarise(store, seeds=2)["sigma1"]
    assert [t["target"] is None for t in rows["targets"]] == [False, True]
    assert rows["asyndbt"]["speedup_val_acc"] == [pytest.approx(4.0), None]
    assert rows["fedbuff"]["reached"] == [False] and not rows["fedbuff"]["all_reached"]
    assert rows["asyndbt"]["speedup_budget"] == [pytest.approx(4.0), pytest.approx(2.0)]
    assert rows["asyndbt"]["speedup_budget_median"] == pytest.approx(3.0)
