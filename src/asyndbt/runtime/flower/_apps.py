"""The ServerApp and ClientApp objects, and the server-side end of a run (run directory, results)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flwr.app import Context
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from asyndbt.errors import ConfigError, RunError
from asyndbt.prompt import TunedPrompt
from asyndbt.reports import write_report
from asyndbt.runtime._rundir import RunDir
from asyndbt.runtime._simulator import RunResult
from asyndbt.runtime.flower import _settings as S
from asyndbt.runtime.flower._node import NodeRuntime, make_client_app
from asyndbt.runtime.flower._server import FlowerServer


def run_server(grid: Grid, run_config: Mapping[str, Any]) -> RunResult:
    """Run one job on ``grid`` and write the server's run directory like the simulator's."""
    from asyndbt import session

    cfg, vocab, run_dir, settings = S.read_run_config(run_config)
    if not run_dir:
        raise ConfigError("Flower run config has no run-dir; generate the app with `asyndbt flower app`")
    rundir = RunDir(run_dir)
    checkpoint = None
    if settings.resume:
        checkpoint = resume_checkpoint(rundir)
        rundir.truncate_events(int(checkpoint["n_events"]))  # later events will be replayed
    else:
        rundir.truncate_events(0)
        rundir.write_config({**cfg.to_dict(), "flower": dataclasses.asdict(settings), "runtime": "flower"})
        (rundir.path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    server = FlowerServer(grid, cfg, vocab, rundir, settings, checkpoint=checkpoint)
    result = server.run()
    task = session.task_spec(cfg)
    TunedPrompt(task, result.global_fragment, (), method=result.method).save(
        rundir.path / "prompts" / "global_fragment.json")
    note = "per-worker tuned prompts stay on each SuperNode (its out-dir/prompts/)"
    ledgers = server.node_ledgers
    total = {k: sum(led.get(k, 0.0) for led in ledgers.values()) for k in next(iter(ledgers.values()), {})}
    rundir.write_results({"task": task.name, "runtime": "flower", "result": result.summary(), "note": note,
                          "llm_ledger": {"total": total, "per_worker": ledgers,
                                         "note": "each node's ledger.jsonl totals (counts only; the file stays on "
                                                 "the node, in its out-dir)"}})
    # The same human-readable report as a simulator run (tables, accuracy plots), minus the
    # baselines: the server holds no data to evaluate them on.
    write_report(rundir.path, title=f"asyndbt flower run: {result.method} on {task.name}",
                 notes=[note, f"stopped by {result.stopped_by}", f"{result.worker_steps} worker steps, "
                        f"{result.server_steps} server steps; times are wall-clock seconds"],
                 rows=[{"method": result.method, "accuracies": [r.accuracy for r in result.test],
                        "train_requests": result.train_requests, "virtual_time": result.virtual_time}],
                 histories={result.method: result.history},
                 prompts={"global fragment": TunedPrompt(task, result.global_fragment, ()).fragment or "(empty)"},
                 ledger=total or None)
    return result


def resume_checkpoint(rundir: RunDir) -> dict[str, Any]:
    """The checkpoint a Flower run resumes from, or a clear error when there is nothing to resume."""
    if (rundir.path / "results.json").exists():
        raise RunError(f"the run in {rundir.path} has finished (results.json exists); start a new run instead")
    checkpoint = rundir.load_checkpoint()
    if checkpoint is None:
        raise RunError(f"{rundir.path} has no checkpoint.json: the server stopped before its first update; "
                       "start the run again without --resume")
    if checkpoint["state"].get("runtime") != "flower":
        raise RunError(f"{rundir.path} holds a simulator run; resume it with `asyndbt run --resume {rundir.path}`")
    return checkpoint


def make_server_app(run_config: Mapping[str, Any] | None = None, *,
                    on_result: Callable[[RunResult], None] | None = None) -> ServerApp:
    """The asyndbt ServerApp; ``run_config`` replaces ``context.run_config`` when given (Python API)."""
    app = ServerApp()
    fixed = dict(run_config) if run_config is not None else None

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        result = run_server(grid, fixed if fixed is not None else context.run_config)
        if on_result is not None:
            on_result(result)

    return app


def make_apps(run_config: Mapping[str, Any] | None = None, *, out_root: Path | None = None,
              on_result: Callable[[RunResult], None] | None = None) -> tuple[ServerApp, ClientApp]:
    """A matching (ServerApp, ClientApp) pair."""
    return (make_server_app(run_config, on_result=on_result),
            make_client_app(NodeRuntime(run_config=run_config, out_root=out_root)))


# What a Flower App Bundle points at (see ``write_app_dir``): both read the run config from the SuperLink.
server_app = make_server_app()
client_app = make_client_app()
