"""The run's one-line account of what selection exported and why (printed and written to the report)."""

from __future__ import annotations

from asyndbt.commands import selection_reasons


def test_the_reasons_say_whether_training_beat_the_starting_sets():
    record = {"workers": [{"winner": "start", "mode": "cal", "why": "tuned prompts beat untuned ones"}],
              "fragment_kept": False, "fragment": [], "start_kept": True, "start_test": {"z": 1.2, "b": 7, "c": 3}}
    lines = selection_reasons(record)
    assert lines[0].startswith("worker 0: exports start (cal)")
    assert "did not beat the starting sets" in lines[-1] and "z=1.20" in lines[-1]
    beaten = selection_reasons({**record, "start_kept": False, "start_test": {"z": 2.5}})
    assert "beat the starting sets (z=2.50)" in beaten[-1]
    # a record without the test (beat_start off, or an older run) says nothing about it
    assert not any("starting sets" in x for x in selection_reasons({**record, "start_test": {}}))
