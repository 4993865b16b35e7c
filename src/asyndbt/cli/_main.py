"""The top-level commands: run, compare, eval, predict, tasks, models (parse, call, print)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from asyndbt.cli._progress import RunProgress
from asyndbt.config import METHODS
from asyndbt.errors import AsyndbtError, RunError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    help="Federated, asynchronous bilevel prompt tuning (demonstrations + prompt fragment) for LLM classifiers.",
)
console = Console(stderr=False)
err_console = Console(stderr=True)

ConfigArg = Annotated[Path | None, typer.Argument(help="TOML/YAML config file (optional).")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", "-s", help="Override: section.key=value (repeatable).")]
BackendOpt = Annotated[str | None, typer.Option(
    help="LLM backend: llama.cpp (embedded) or http (any OpenAI-compatible server; same as --set llm.backend=openai).")]
BaseUrlOpt = Annotated[str | None, typer.Option(help="Server URL of the http backend, e.g. http://127.0.0.1:8000/v1.")]


def _backend_overrides(backend: str | None, base_url: str | None) -> dict[str, Any]:
    """``--backend`` / ``--base-url`` as llm.* overrides (``http`` is the openai backend)."""
    if backend is not None and backend not in ("llama.cpp", "http", "openai"):
        from asyndbt.errors import ConfigError

        raise ConfigError(f"--backend {backend!r} is unknown; use llama.cpp or http (an OpenAI-compatible server)")
    return {"llm.backend": {"http": "openai"}.get(backend, backend) if backend else None, "llm.base_url": base_url}


def _overrides(sets: list[str] | None, **named: Any) -> list[str]:
    out = list(sets or [])
    for key, value in named.items():
        if value is not None:
            out.append(f"{key}={json.dumps(value)}")
    return out


def busy_cores_warning(threads: int | None, *, cores: int | None = None, load: float | None = None) -> str | None:
    """A warning when llama.cpp's threads plus the machine's current load exceed its cores.

    llama.cpp's threads spin while they wait for each other, so oversubscribed cores make a run
    several times slower, not a little slower (docs/llm.md, "Threads of the embedded backend").
    """
    cores = cores or os.cpu_count() or 1
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # not available on this platform: nothing to say
            return None
    wanted = threads or cores
    free = max(cores - load, 0.0)
    if wanted <= 1 or wanted <= free + 0.5:
        return None
    fit = max(1, int(free + 0.5))
    return (f"the machine is busy (load {load:.1f} on {cores} cores) and llama.cpp would run {wanted} threads; "
            f"spinning threads on busy cores make a run several times slower: consider --set llm.threads={fit}")


def _run_dir(output_dir: str, label: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(output_dir) / f"{stamp}-{label}"
    path, i = base, 1
    while path.exists():
        path, i = Path(f"{base}-{i}"), i + 1
    return path


@app.command()
def run(
    config: ConfigArg = None,
    set_: SetOpt = None,
    method: Annotated[
        str | None, typer.Option(help=" | ".join(METHODS))
    ] = None,
    task: Annotated[str | None, typer.Option(help="Task name (`asyndbt tasks` lists them).")] = None,
    data_dir: Annotated[str | None, typer.Option(help="Data directory (default $ASYNDBT_DATA_DIR).")] = None,
    workers: Annotated[int | None, typer.Option(help="Number of workers R.")] = None,
    steps: Annotated[int | None, typer.Option(help="LLM budget: total local worker steps (default: 12 per worker).")] = None,
    model: Annotated[str | None, typer.Option(help="Embedded model name or path to a .gguf file.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (splits, partitions, sampling, delays).")] = None,
    out: Annotated[str | None, typer.Option(help="Parent directory for run directories.")] = None,
    baselines: Annotated[
        str, typer.Option(help="Comma-separated baselines to report alongside ('' for none).")
    ] = "manual,random-icl",
    resume: Annotated[Path | None, typer.Option(help="Resume the run in this run directory.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Print the partition and the request estimate, then stop.")] = False,
) -> None:
    """Run one federated tuning job and write a run directory with prompts, events and a report."""
    from asyndbt import job
    from asyndbt.config import RunConfig, apply_overrides, build_config
    from asyndbt.runtime import RunDir

    if resume is not None:
        if not (Path(resume) / "config.json").is_file():
            raise RunError(f"--resume {resume}: not an asyndbt run directory (no config.json); give runs/<name>")
        rundir = RunDir(resume)
        # --set may change settings that do not alter the trajectory (e.g. raise an LLM budget).
        cfg = RunConfig.from_dict(apply_overrides(rundir.read_config(), list(set_ or []))).validate()
        rundir.write_config(cfg.to_dict())
    else:
        cfg = build_config(config, _overrides(set_, method=method, **{
            "task.name": task, "task.data_dir": data_dir, "partition.workers": workers,
            "simulation.max_worker_steps": steps, "llm.model": model, "seed": seed, "output_dir": out}))
        rundir = RunDir(_run_dir(cfg.output_dir, cfg.method))
        rundir.write_config(cfg.to_dict())
    prepared = job.prepare(cfg)
    console.print(f"[bold]asyndbt run[/] · method [cyan]{cfg.method}[/] · task [cyan]{prepared.task.name}[/] · "
                  f"{len(prepared.workers)} workers · run dir {rundir.path}")
    for note in prepared.notes:
        console.print(f"  note: {note}")
    console.print(job.partition_summary(prepared))
    console.print(f"  fragment vocabulary: {len(prepared.vocab)} candidates, e.g. {', '.join(prepared.vocab[:6])}")
    estimate = job.estimate_requests(cfg, prepared, [b for b in baselines.split(",") if b])
    console.print(f"  estimated LLM score requests (upper bound; the cache lowers it): {estimate['score_requests']} "
                  f"(training {estimate['train_requests']}, evaluation {estimate['eval_requests']})")
    if "cost" in estimate:
        console.print(f"  billed tokens at most ~{estimate['billed_tokens']:,} "
                      f"(~{estimate['billed_tokens_per_request']:,} per request, ~3 characters per token); "
                      f"cost at most {estimate['cost']:.2f} at the llm.price_* rates (llm.max_cost caps it)")
    if dry_run:
        if resume is None:
            import shutil

            shutil.rmtree(rundir.path)  # nothing ran: leave no empty run directory behind
        return
    if cfg.llm.backend == "llama.cpp" and (warning := busy_cores_warning(cfg.llm.threads)):
        console.print(f"  [yellow]warning:[/] {warning}")
    client = job.make_client(cfg, rundir)
    from asyndbt.commands import finish_run

    with RunProgress(console, cfg.simulation.max_worker_steps, cfg.method, requests=estimate["score_requests"]) \
            as progress:
        progress.watch(client.ledger)
        result = job.run_method(cfg, prepared, client, rundir=rundir, resume=resume is not None, on_progress=progress)
        finish_run(cfg, prepared, client, rundir, result, [b for b in baselines.split(",") if b], console,
                   on_evaluated=progress.close)


@app.command()
def compare(
    config: ConfigArg = None,
    set_: SetOpt = None,
    methods: Annotated[
        str, typer.Option(help="Comma-separated methods and baselines.")
    ] = "manual,random-icl,bdpl,cendbt,sync-dbt,asyndbt",
    seeds: Annotated[int, typer.Option(help="Number of seeds (0..n-1).")] = 1,
    task: Annotated[str | None, typer.Option()] = None,
    data_dir: Annotated[str | None, typer.Option()] = None,
    steps: Annotated[int | None, typer.Option()] = None,
    out: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Run several methods on the same task, partitions and seeds; write one table and plots."""
    from asyndbt.commands import run_compare
    from asyndbt.config import build_config

    cfg = build_config(config, _overrides(set_, **{"task.name": task, "task.data_dir": data_dir,
                                                    "simulation.max_worker_steps": steps, "output_dir": out}))
    # no steps bar: a comparison is several runs; the requests bar covers all of them
    with RunProgress(console, 0, "compare") as progress:
        progress.progress.update(progress.task, visible=False)
        run_compare(cfg, [m for m in methods.split(",") if m], seeds, _run_dir(cfg.output_dir, "compare"), console,
                    progress=progress)


@app.command("eval")
def eval_(
    task: Annotated[str, typer.Option(help="Task name.")] = "sst2",
    method: Annotated[str, typer.Option(help="manual | zero-shot-cot | random-icl | kate (comma-separated ok).")] = "manual",
    seeds: Annotated[int, typer.Option(help="Number of seeds.")] = 3,
    limit: Annotated[int | None, typer.Option(help="Evaluate only the first N test examples.")] = None,
    data_dir: Annotated[str | None, typer.Option()] = None,
    model: Annotated[str | None, typer.Option()] = None,
    calibrate: Annotated[bool, typer.Option(help="Divide answers by their mean label distribution on validation.")] = False,
    output: Annotated[Path | None, typer.Option(help="Write results JSON here.")] = None,
    config: ConfigArg = None,
    set_: SetOpt = None,
    backend: BackendOpt = None,
    base_url: BaseUrlOpt = None,
) -> None:
    """Evaluate untuned baselines (mean ± std over seeds) on a task's test split.

    The LLM comes from the config's [llm] section (e.g. --set llm.backend=openai --set llm.base_url=...).
    """
    from asyndbt.commands import run_eval
    from asyndbt.config import build_config

    llm = build_config(config, _overrides(set_, **{"llm.model": model, **_backend_overrides(backend, base_url)})).llm
    run_eval(task=task, methods=[m for m in method.split(",") if m], seeds=seeds, limit=limit, data_dir=data_dir,
             llm=llm, calibrate=calibrate, output=output, console=console)


@app.command()
def predict(
    prompt: Annotated[Path, typer.Argument(help="Tuned prompt JSON (run_dir/prompts/*.json).")],
    text: Annotated[list[str] | None, typer.Option(help="Text to classify (repeatable; use '||' between fields).")] = None,
    input_: Annotated[Path | None, typer.Option("--input", help="JSONL file with a 'texts' list or 'text' per line.")] = None,
    model: Annotated[str | None, typer.Option()] = None,
    set_: SetOpt = None,
    backend: BackendOpt = None,
    base_url: BaseUrlOpt = None,
) -> None:
    """Classify new text with a tuned prompt (its calibration applied; --backend or --set llm.* picks another LLM)."""
    from asyndbt.commands import run_predict
    from asyndbt.config import build_config

    extra = _backend_overrides(backend, base_url)
    llm = build_config(None, _overrides(set_, **extra)).llm if set_ or any(extra.values()) else None
    run_predict(prompt, text or [], input_, model, console, llm=llm)


@app.command()
def tasks() -> None:
    """List the built-in tasks."""
    from asyndbt.tasks import get_task, list_tasks

    table = Table("task", "label words", "fields", "instruction")
    for name in list_tasks():
        t = get_task(name)
        table.add_row(name, " / ".join(t.label_words), ", ".join(t.text_fields), t.instruction)
    console.print(table)


@app.command()
def models() -> None:
    """List the embedded models and whether they are installed."""
    from asyndbt.llm import DEFAULT_MODEL, EMBEDDED_MODELS

    table = Table("name", "default", "package", "licence")
    for m in EMBEDDED_MODELS.values():
        table.add_row(m.name, "yes" if m.name == DEFAULT_MODEL else "", m.pip_package, m.licence)
    console.print(table)


from asyndbt.cli._flower import flower_cli  # noqa: E402  (the `asyndbt flower ...` group)

app.add_typer(flower_cli, name="flower")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: our errors become one clear line and an exit code; others propagate."""
    try:
        app(args=argv, standalone_mode=False)
    except AsyndbtError as exc:
        err_console.print(f"[bold red]error[/] ({exc.code}): {exc.message}")
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        raise
