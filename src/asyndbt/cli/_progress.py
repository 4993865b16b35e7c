"""The live progress display of a run: a bar over the LLM budget, one line per evaluation."""

from __future__ import annotations

from typing import Any

from rich.console import Console


class RunProgress:
    """Live progress: a bar over the LLM budget, and one line per validation evaluation."""

    def __init__(self, console: Console, total: int, label: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"), console=console, transient=False,
            disable=not console.is_terminal,
        )
        self.task = self.progress.add_task(label, total=total, status="")
        self.console = console

    def __enter__(self) -> RunProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

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
