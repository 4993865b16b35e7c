"""The live progress display of a run: the training steps, every LLM request, one line per evaluation.

Training is only part of a run's LLM work: choosing among the candidates on validation, testing the
exported prompts and scoring the reference baselines often make most of the requests. A bar over the
worker steps alone would sit at 100 % while most of the time is still to come, so a second bar
counts every answered request (cache hits included, as the estimate does) against the pre-run
estimate, names the phase the requests belong to, and shows the time left at the current rate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console

from asyndbt.llm import phase_of


def time_left(seconds: float | None) -> str:
    """A rough "time left" for the requests bar (rate so far x requests still estimated)."""
    if seconds is None:
        return ""
    minutes = seconds / 60
    return f"~{seconds:.0f}s left" if minutes < 1 else f"~{minutes:.0f} min left"


class RunProgress:
    """Live progress over the worker steps and over every LLM request of the run.

    Args:
        console: where to draw (nothing is drawn when it is not a terminal).
        total: the run's worker-step budget.
        label: the method name shown on the steps bar.
        requests: the pre-run estimate of score requests (``job.estimate_requests``); 0 hides that bar.
    """

    def __init__(self, console: Console, total: int, label: str, requests: int = 0) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
        from rich.text import Text

        class TimeLeft(ProgressColumn):
            def render(self, task: Any) -> Text:
                show = task.fields.get("eta") and not task.finished and task.completed > 0
                return Text(time_left(task.time_remaining) if show else "", style="progress.remaining")

        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TimeLeft(), TextColumn("{task.fields[status]}"), console=console, transient=False,
            disable=not console.is_terminal,
        )
        self.task = self.progress.add_task(label, total=total, status="", eta=False)
        self.requests_task = self.progress.add_task("LLM requests", total=max(requests, 1), status="", eta=True,
                                                    visible=requests > 0)
        self.console = console
        self.requests_done = 0  # the watched ledger's answered requests (cache hits in, failed attempts out)
        self.phase = ""
        self._ledger: Any = None
        self._unsubscribe: list[Callable[[], None]] = []

    def __enter__(self) -> RunProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(done=exc[0] is None)

    def close(self, *, done: bool = True) -> None:
        """Stop counting and drawing (idempotent); with ``done``, first mark the requests bar complete.

        Called once the run's LLM work is over, so what it prints next (the results table) comes
        after the final state of the bars instead of above bars that are still live.
        """
        for remove in self._unsubscribe:
            remove()
        self._unsubscribe.clear()
        if done and self.phase != "done":
            self.finish()
        self.progress.stop()

    def set_requests(self, total: int) -> None:
        """Show the requests bar with ``total`` estimated requests (when it was not known at construction)."""
        self.progress.update(self.requests_task, total=max(total, self.requests_done, 1), visible=total > 0)

    def watch(self, ledger: Any) -> None:
        """Count every request ``ledger`` records from now on (until the display closes).

        A resumed run's ledger already holds what was answered before the stop: the bar starts there
        (the estimate covers the whole run), without counting it into the rate behind "time left".
        """
        self._ledger = ledger
        self.requests_done = int(ledger.totals().get("requests", 0))
        if self.requests_done:
            total = self.progress.tasks[self.requests_task].total or 0
            self.progress.reset(self.requests_task, total=max(total, self.requests_done), completed=self.requests_done)
        self._unsubscribe.append(ledger.add_listener(self.on_records))

    def on_records(self, records: Sequence[Any]) -> None:
        """Advance the requests bar; its total grows when the estimate (an upper bound) was too low."""
        if not records:
            return
        self.requests_done = int(self._ledger.totals().get("requests", 0))
        self.phase = phase_of(records[-1].purpose)
        total = self.progress.tasks[self.requests_task].total or 0
        self.progress.update(self.requests_task, completed=self.requests_done,
                             total=max(total, self.requests_done), status=self.phase)

    def finish(self) -> None:
        """Mark the requests bar complete: the estimate is an upper bound, so a run usually ends below it."""
        self.phase = "done"
        self.progress.update(self.requests_task, total=max(self.requests_done, 1), completed=self.requests_done,
                             status="done")

    def __call__(self, info: dict[str, Any]) -> None:
        status = (f"server step {info['server_step']} · virtual {info['clock']:.1f}s · "
                  f"LLM requests {info['train_requests']}")
        self.progress.update(self.task, completed=info["worker_steps"], status=status)
        if info.get("kind") == "worker_error":
            then = "retried later" if info["retry"] else "left out from now on"
            self.console.print(f"  [yellow]worker {info['worker']} failed a step ({info['error']}); {then}[/]")
        if info.get("kind") == "eval":
            accs = " ".join(f"w{i}={100 * a:.0f}%" for i, a in enumerate(info["val_accuracy"]))
            self.console.print(f"  [{info['method']}] step {info['server_step']:>3} · t={info['clock']:8.1f}s · "
                          f"requests {info['train_requests']:>5} · val acc {accs} · "
                          f"val loss {info['val_loss_mean']:.3f} · {info.get('mode', 'raw')} · "
                          f"selected {', '.join(info.get('selected', []))}")
