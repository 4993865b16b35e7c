"""A resumed run keeps counting from the ledger file: money spent before a crash is not forgotten."""

from __future__ import annotations

from asyndbt.llm import Ledger, LedgerRecord


def _rec(worker, hit=False, tokens=10):
    return LedgerRecord(worker=worker, step=1, purpose="train", backend="fake", model="m", cache_hit=hit,
                        prompt_tokens=tokens, evaluated_tokens=0 if hit else tokens, latency_s=0.1)


def test_reopened_ledger_folds_earlier_records(tmp_path):
    path = tmp_path / "ledger.jsonl"
    first = Ledger(path)
    first.record([_rec(0), _rec(1), _rec(1, hit=True)])
    again = Ledger(path)
    assert again.totals() == first.totals()
    assert again.by_worker()[1]["requests"] == 2
    again.record([_rec(2)])
    assert Ledger(path).totals()["backend_requests"] == 3
    assert len(Ledger.read(path)) == 4  # nothing re-appended by reopening


def test_record_cut_off_by_a_crash_is_dropped(tmp_path):
    path = tmp_path / "ledger.jsonl"
    Ledger(path).record([_rec(0), _rec(1)])
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"worker": 2, "step": 1, "purp')  # SIGKILL mid-write
    resumed = Ledger(path)
    assert resumed.totals()["requests"] == 2
    resumed.record([_rec(3)])
    assert [r.worker for r in Ledger.read(path)] == [0, 1, 3]


def test_totals_per_phase_add_up_and_survive_a_resume(tmp_path):
    path = tmp_path / "ledger.jsonl"
    led = Ledger(path)
    recs = [_rec(0), _rec(0, hit=True)]
    recs += [LedgerRecord(worker=0, step=None, purpose=p, backend="fake", model="m", cache_hit=False,
                          prompt_tokens=5, evaluated_tokens=5, latency_s=0.2)
             for p in ("validation", "test/curve", "test", "eval/kate/prior", None)]
    led.record(recs)
    phases = led.by_phase()
    assert list(phases) == ["training", "selecting on validation", "testing the prompts", "scoring the baselines",
                            "other"]
    assert phases["testing the prompts"]["requests"] == 2 and phases["training"]["cache_hits"] == 1
    for key in ("requests", "backend_requests", "evaluated_tokens"):
        assert sum(p[key] for p in phases.values()) == led.totals()[key]
    assert Ledger(path).by_phase() == phases


def test_listeners_see_each_recorded_batch_until_removed():
    led, seen = Ledger(), []
    remove = led.add_listener(seen.append)
    led.record([_rec(0), _rec(1)])
    led.record([])  # nothing recorded, nothing to tell
    remove()
    led.record([_rec(2)])
    assert [[r.worker for r in batch] for batch in seen] == [[0, 1]]
