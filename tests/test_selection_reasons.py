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


def test_the_reasons_name_the_untuned_incumbent_the_server_chose():
    record = {"workers": [{"winner": "random-icl-0", "mode": "cal", "why": "kept untuned random-icl-0"}],
              "untuned_choice": {"mode": "cal", "zero_shot_hits": 101.0, "random_hits": 123.5, "examples": 400,
                                 "workers": 3, "random_kept": True}}
    line = selection_reasons(record)[-1]
    assert line.startswith("untuned incumbent: each worker's random set") and "124 vs 101" in line and "400" in line
    kept = selection_reasons({**record, "untuned_choice": {**record["untuned_choice"], "random_kept": False}})
    assert kept[-1].startswith("untuned incumbent: the manual prompt")
    assert not any("incumbent" in x for x in selection_reasons({**record, "untuned_choice": {}}))
