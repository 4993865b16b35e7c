"""The run's live progress counts every LLM request the ledger records, not only the training steps."""

from __future__ import annotations

import io

from rich.console import Console

from asyndbt.cli._progress import RunProgress, phase_of, time_left
from asyndbt.llm import Ledger, LedgerRecord


def _rec(purpose: str, *, hit: bool = False, error: str | None = None) -> LedgerRecord:
    return LedgerRecord(worker="0", step=None, purpose=purpose, backend="llama.cpp", model="m", cache_hit=hit,
                        prompt_tokens=10, evaluated_tokens=0 if hit else 10, latency_s=0.0, error=error)


def _progress(requests: int) -> RunProgress:
    return RunProgress(Console(file=io.StringIO()), total=4, label="asyndbt", requests=requests)


def test_requests_bar_counts_answers_and_hits_but_not_failed_attempts():
    ledger = Ledger()
    with _progress(requests=10) as progress:
        progress.watch(ledger)
        ledger.record([_rec("train"), _rec("train", hit=True)])
        ledger.record([_rec("validation", error="timeout")])
        assert progress.requests_done == 2
        assert progress.phase == "selecting on validation"
        ledger.record([_rec("eval/manual/prior")])
        assert (progress.requests_done, progress.phase) == (3, "scoring the baselines")
    task = progress.progress.tasks[progress.requests_task]
    assert task.completed == 3 and task.finished  # closing marks the upper-bound estimate as done
    ledger.record([_rec("test")])
    assert progress.requests_done == 3  # the display stopped listening when it closed


def test_requests_bar_grows_when_the_estimate_was_too_low():
    ledger = Ledger()
    with _progress(requests=2) as progress:
        progress.watch(ledger)
        ledger.record([_rec("test")] * 5)
        task = progress.progress.tasks[progress.requests_task]
        assert task.total == 5 and task.completed == 5


def test_close_after_a_failure_leaves_the_bar_where_it_stopped():
    ledger = Ledger()
    progress = _progress(requests=10)
    try:
        with progress:
            progress.watch(ledger)
            ledger.record([_rec("train")])
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    task = progress.progress.tasks[progress.requests_task]
    assert task.completed == 1 and not task.finished


def test_phases_and_time_left_read_plainly():
    assert phase_of("test/curve") == "testing the prompts"
    assert phase_of("eval/kate") == "scoring the baselines"
    assert phase_of(None) == "other"
    assert time_left(None) == ""
    assert time_left(42) == "~42s left"
    assert time_left(600) == "~10 min left"


def test_a_resumed_run_starts_the_bar_at_what_its_ledger_already_answered(tmp_path):
    path = tmp_path / "ledger.jsonl"
    Ledger(path).record([_rec("train")] * 3 + [_rec("train", error="timeout")])
    with _progress(requests=10) as progress:
        progress.watch(Ledger(path))  # reopened: folds the 3 answers, does not replay them to listeners
        task = progress.progress.tasks[progress.requests_task]
        assert (task.completed, task.total) == (3, 10)
        assert task.speed is None  # the earlier answers are no evidence of this process's rate


def test_a_busy_machine_gets_a_threads_warning_and_an_idle_one_none():
    from asyndbt.cli._main import busy_cores_warning

    assert busy_cores_warning(None, cores=2, load=0.1) is None  # idle: all cores are free
    warning = busy_cores_warning(None, cores=2, load=2.0)  # two busy processes on 2 cores
    assert warning is not None and "llm.threads=1" in warning and "load 2.0 on 2 cores" in warning
    assert busy_cores_warning(1, cores=2, load=2.0) is None  # one thread cannot oversubscribe itself
    assert "llm.threads=3" in busy_cores_warning(None, cores=8, load=5.0)
