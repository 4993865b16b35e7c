"""``asyndbt flower ...``: partition data for SuperNodes, generate the Flower app, simulate, deploy locally, resume."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from asyndbt.runtime.flower._supernode import DEFAULT_POLL_S

if TYPE_CHECKING:
    from asyndbt.config import RunConfig
    from asyndbt.runtime.flower._settings import FlowerSettings

flower_cli = typer.Typer(name="flower", no_args_is_help=True,
                         help="Run AsynDBT on Flower: simulation runtime, or SuperLink + SuperNodes across machines.")
console = Console()

ConfigArg = Annotated[Path | None, typer.Argument(help="TOML/YAML config file (optional).")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", "-s", help="Override: section.key=value (repeatable).")]
RunDirOpt = Annotated[Path | None, typer.Option(help="Server run directory (default: <output_dir>/<stamp>-flower).")]
WorkerTimeout = Annotated[float, typer.Option(help="Seconds without a reply before a worker counts as failed.")]
ConnectTimeout = Annotated[float, typer.Option(help="Seconds to wait for every SuperNode to connect.")]
PollOpt = Annotated[float, typer.Option(
    help="Cap, in seconds, on the SuperNode's idle waits (stock Flower: 3 s after an empty pull, 0.5 s between "
         "reply checks) and on the SuperExec's task polling.")]
ResumeOpt = Annotated[Path | None, typer.Option(
    help="Continue the Flower run in this run directory from its last checkpoint (config and settings "
         "come from the directory; CONFIG and --set are not allowed).")]


def _cfg(config: Path | None, sets: list[str] | None) -> RunConfig:
    from asyndbt.config import build_config

    return build_config(config, list(sets or []))


def _settings(worker_timeout: float, connect_timeout: float, audit: bool) -> FlowerSettings:
    from asyndbt.runtime.flower._settings import FlowerSettings

    return FlowerSettings(connect_timeout_s=connect_timeout, worker_timeout_s=worker_timeout,
                          audit_payloads=audit).validate()


def _run_dir(cfg: RunConfig, run_dir: Path | None) -> Path:
    return run_dir or Path(cfg.output_dir) / f"{time.strftime('%Y%m%d-%H%M%S')}-flower"


def _job(config: Path | None, sets: list[str] | None, run_dir: Path | None, resume: Path | None,
         worker_timeout: float, connect_timeout: float | None = None, audit: bool = False,
         ) -> tuple[RunConfig, Path, FlowerSettings]:
    """The run's config, directory and settings: new, or read back from the directory to resume.

    ``connect_timeout``: None keeps the default (new run) or the stored value (resume).
    """
    if resume is None:
        cfg = _cfg(config, sets)
        return cfg, _run_dir(cfg, run_dir).resolve(), _settings(worker_timeout, connect_timeout or 120.0, audit)
    import dataclasses

    from asyndbt.errors import ConfigError
    from asyndbt.runtime.flower._launch import resume_job

    if config is not None or sets or run_dir is not None:
        raise ConfigError("--resume continues a run with its stored settings; drop CONFIG, --set and --run-dir")
    cfg, rd, settings = resume_job(resume)
    if connect_timeout is not None:
        settings = dataclasses.replace(settings, connect_timeout_s=connect_timeout)
    return cfg, rd, settings


@flower_cli.command()
def partition(config: ConfigArg = None, set_: SetOpt = None,
              out: Annotated[Path, typer.Option(help="Directory for worker<v>.json and vocab.txt.")] = Path("partitions"),
              ) -> None:
    """Write one data file per worker (give each SuperNode only its own: node config partition-file)."""
    from asyndbt.runtime.flower._node import write_partitions

    cfg = _cfg(config, set_)
    paths, vocab = write_partitions(cfg, out)
    for p in paths:
        console.print(f"{p}  →  --node-config 'partition-file=\"{p.resolve()}\"'")
    console.print(f"shared fragment vocabulary: {len(vocab)} candidates in {out / 'vocab.txt'}")
    if not cfg.vocab.file:
        console.print("[yellow]note[/]: this vocabulary was mined from the workers' own text, and every party and the "
                      "server receive it. Parties in different organisations should agree on a public word list "
                      "instead (--set vocab.file=\"words.txt\"); see docs/flower.md, 'What each party reveals'.")


@flower_cli.command()
def app(config: ConfigArg = None, set_: SetOpt = None,
        out: Annotated[Path, typer.Option(help="App directory to write (pyproject.toml + module).")] = Path("flower-app"),
        run_dir: RunDirOpt = None, worker_timeout: WorkerTimeout = 300.0, connect_timeout: ConnectTimeout = 600.0,
        audit_payloads: Annotated[bool, typer.Option(help="Log every message payload to payloads.jsonl.")] = False,
        resume: ResumeOpt = None) -> None:
    """Generate the Flower app directory for `flwr run` (the run config carries the whole job)."""
    from asyndbt.runtime.flower._launch import prepare_run_config, write_app_dir

    cfg, rd, settings = _job(config, set_, run_dir, resume, worker_timeout, connect_timeout, audit_payloads)
    path = write_app_dir(out, prepare_run_config(cfg, rd, settings))
    console.print(f"wrote {path / 'pyproject.toml'}; the server writes its run directory to {rd.resolve()}")
    console.print(f"run it with:  flwr run {path} <connection> --stream")


@flower_cli.command()
def simulate(config: ConfigArg = None, set_: SetOpt = None, run_dir: RunDirOpt = None,
             cpus: Annotated[int, typer.Option(help="CPUs Ray may use (one per virtual SuperNode at a time).")] = 2,
             worker_timeout: WorkerTimeout = 300.0, resume: ResumeOpt = None) -> None:
    """Run the job on Flower's simulation runtime (Ray), one virtual SuperNode per worker."""
    from asyndbt.runtime.flower._launch import run_simulation

    cfg, rd, settings = _job(config, set_, run_dir, resume, worker_timeout)
    result = run_simulation(cfg, rd, settings, num_cpus=cpus)
    console.print_json(json.dumps(result.summary()))
    console.print(f"run directory: {rd}")


@flower_cli.command()
def local(config: ConfigArg = None, set_: SetOpt = None, run_dir: RunDirOpt = None,
          timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 3600.0,
          worker_timeout: WorkerTimeout = 300.0, resume: ResumeOpt = None,
          model_server: Annotated[bool, typer.Option(
              help="Give each SuperNode a long-lived model process (`flower model-server`), so its per-message "
                   "ClientApp processes load no model (embedded backend only).")] = True,
          nodes: Annotated[int | None, typer.Option(
              help="SuperNodes to start (sets partition.workers); refused when they would not fit in memory.")] = None,
          secure: Annotated[bool, typer.Option(
              "--secure/--insecure",
              help="--secure: TLS with a throwaway CA and node authentication (registered keys only), as across "
                   "organisations. --insecure (default): plain loopback, for trials on one machine only.")] = False,
          poll: PollOpt = DEFAULT_POLL_S,
          stock_supernode: Annotated[bool, typer.Option(
              help="Run stock `flower-supernode` (3 s idle wait after an empty pull) instead of "
                   "`asyndbt flower supernode` (idle waits capped at --poll).")] = False,
          ) -> None:
    """Start a SuperLink and one SuperNode per worker on 127.0.0.1, run the job, stop them."""
    from asyndbt.runtime.flower._launch import (
        ModelServers,
        check_nodes_fit,
        prepare_run_config,
        read_run_result,
        run_local_deployment,
    )

    if nodes is not None:
        if resume is not None:
            from asyndbt.errors import ConfigError

            raise ConfigError("--nodes cannot change a run being resumed; drop --nodes")
        set_ = [*(set_ or []), f"partition.workers={nodes}"]
    cfg, rd, settings = _job(config, set_, run_dir, resume, worker_timeout)
    if cfg.llm.backend == "llama.cpp":
        from asyndbt.llm import resolve_model

        need = check_nodes_fit(cfg.partition.workers, resolve_model(cfg.llm.model), cfg.llm.n_ctx)
        console.print(f"{cfg.partition.workers} SuperNodes on this machine: about {need:,.0f} MB of memory")
    run_config = prepare_run_config(cfg, rd, settings)
    nodes = [{"worker-id": w, "out-dir": str(rd / "nodes" / f"worker{w}")} for w in range(cfg.partition.workers)]
    servers = None
    if model_server and cfg.llm.backend == "llama.cpp":
        servers = ModelServers(model=cfg.llm.model, threads=cfg.llm.threads, n_ctx=cfg.llm.n_ctx)
    if not secure:
        console.print("[yellow]--insecure[/]: plain connections on 127.0.0.1, fine for a trial on one machine; parties "
                      "on different machines need TLS and node authentication (try --secure; README, 'Running "
                      "across machines')")
    run_local_deployment(run_config, rd / "flower", nodes, timeout=timeout, model_servers=servers, secure=secure,
                         poll_s=None if stock_supernode else poll)
    console.print_json(json.dumps(read_run_result(rd)["result"]))
    console.print(f"run directory: {rd}")


@flower_cli.command("supernode", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def supernode(ctx: typer.Context, poll: PollOpt = DEFAULT_POLL_S) -> None:
    """Run Flower's SuperNode with its idle waits capped at --poll seconds; other arguments go to it as they are.

    Stock `flower-supernode` (Flower 1.42) sleeps 3 s after every pull that finds no message and has no
    setting for it; in AsynDBT that wait lands on nearly every step. Use this in its place on each
    party's machine, e.g. `asyndbt flower supernode --poll 0.2 --superlink HOST:9092 --root-certificates
    ca.crt --auth-supernode-private-key node.key --node-config 'worker-id=0 out-dir="node0"'`.
    """
    from asyndbt.runtime.flower._supernode import main as run_supernode

    run_supernode(list(ctx.args), poll_s=poll)


@flower_cli.command("model-server")
def model_server(
    socket: Annotated[Path, typer.Option(help="Unix socket to listen on (its key goes to SOCKET.key, mode 0600).")],
    model: Annotated[str | None, typer.Option(help="Embedded model name or .gguf path (default model if unset).")] = None,
    threads: Annotated[int | None, typer.Option(help="llama.cpp threads.")] = None,
    n_ctx: Annotated[int, typer.Option(help="Context window in tokens.")] = 2048,
) -> None:
    """Keep one model loaded for a SuperNode: its ClientApp processes score through SOCKET.

    Start it next to the SuperNode and give the node `--node-config 'model-server="SOCKET"'`
    (`asyndbt flower local` does both). Stops on Ctrl-C or SIGTERM.
    """
    import signal

    from asyndbt.llm import LlamaCppBackend, resolve_model, serve_backend

    backend = LlamaCppBackend(resolve_model(model), n_ctx=n_ctx, n_threads=threads)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        serve_backend(backend, socket, ready=lambda: console.print(f"model server ready on {socket}"))
    except KeyboardInterrupt:
        pass
    finally:
        backend.close()
        socket.unlink(missing_ok=True)
