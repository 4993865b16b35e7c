"""Turn a configuration into a runnable job: task, splits, partitions, vocabulary, LLM client, settings.

Every runtime (the simulator, Flower's nodes and server) and every driver (the CLI, the benchmarks)
builds its job here, so the same config gives the same data, vocabulary and algorithm settings
whichever runtime runs it. Nothing here moves messages or keeps time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyndbt import algorithm as alg
from asyndbt.config import RunConfig
from asyndbt.errors import ConfigError
from asyndbt.prompt import merge_vocabularies, mine_vocabulary
from asyndbt.prompt._vocab import mine_label_words
from asyndbt.session._worker_env import WorkerEnv
from asyndbt.tasks import (
    TaskSpec,
    TaskSplits,
    WorkerData,
    describe_partition,
    get_task,
    group_by_class,
    partition,
    resolve_data_dir,
)
from asyndbt.tasks._custom import custom_task_spec, load_custom_sources
from asyndbt.tasks._splits import TaskSources, add_training_rows, load_task_sources
from asyndbt.tasks._types import Example


@dataclass(frozen=True)
class Prepared:
    """The data side of a run: splits, partitions and the shared fragment vocabulary."""

    task: TaskSpec
    splits: TaskSplits
    workers: tuple[WorkerData, ...]
    vocab: tuple[str, ...]
    notes: tuple[str, ...]
    placement: str = "query"
    calibrate: bool = True

    def federated_envs(self) -> list[WorkerEnv]:
        """One environment per worker, each with only its own data."""
        return [
            WorkerEnv(w.worker_id, self.task, w.train, w.validation, w.test,
                      group_by_class(w.pool, self.task.num_classes), self.vocab, self.placement, self.calibrate)
            for w in self.workers
        ]

    def pooled_env(self) -> WorkerEnv:
        """A single environment on the union of every worker's data (cenDBT / BDPL)."""
        def cat(name: str) -> tuple[Any, ...]:
            return tuple(e for w in self.workers for e in getattr(w, name))

        test = self.workers[0].test if _shared_test(self.workers) else cat("test")
        return WorkerEnv(0, self.task, cat("train"), cat("validation"), test,
                         group_by_class(cat("pool"), self.task.num_classes), self.vocab, self.placement, self.calibrate)


def _shared_test(workers: Sequence[WorkerData]) -> bool:
    return all(w.test == workers[0].test for w in workers)


def resolve_task_name(cfg: RunConfig) -> str:
    """``auto`` means SST-2 when a data directory is configured, else the synthetic task.

    With ``task.train_file`` (the user's own data) it is the configured name, ``custom`` for ``auto``.
    """
    if cfg.task.train_file:
        return "custom" if cfg.task.name == "auto" else cfg.task.name
    if cfg.task.name != "auto":
        return cfg.task.name
    return "sst2" if resolve_data_dir(cfg.task.data_dir) is not None else "synthetic"


def task_spec(cfg: RunConfig) -> TaskSpec:
    """The run's task: the user's (``task.train_file``) or a built-in one."""
    t = cfg.task
    if t.train_file:
        return custom_task_spec(resolve_task_name(cfg), instruction=t.instruction, label_words=t.label_words,
                                text_columns=t.text_columns, labels=t.labels)
    return get_task(resolve_task_name(cfg))


def load_splits(cfg: RunConfig, seed: int) -> TaskSplits:
    """Draw the paper's splits of the run's task."""
    t = cfg.task
    sizes = {"seed": seed, "train_per_class": t.train_per_class, "val_per_class": t.val_per_class,
             "test_size": t.test_size, "pool_per_class": t.pool_per_class, "val_size": t.val_size}
    sources = _sources(cfg)
    splits = sources.split(task_spec(cfg), **sizes)
    if t.extra_train_per_class:
        splits = add_training_rows(splits, sources.train, t.extra_train_per_class, seed=seed)
    return splits


def _sources(cfg: RunConfig) -> TaskSources:
    """The run's labelled rows as read from its task's files (the user's, or a built-in task's)."""
    t, spec = cfg.task, task_spec(cfg)
    if t.train_file:
        return load_custom_sources(spec, train_file=t.train_file, dev_file=t.dev_file, text_columns=t.text_columns,
                                   label_column=t.label_column)
    return load_task_sources(spec, data_dir=t.data_dir)


def source_rows(cfg: RunConfig) -> tuple[list[Example], list[Example]]:
    """The task's labelled rows as read from its files: (train-source rows, dev-source rows).

    The same files :func:`load_splits` draws from; a task with one file gives all of it as the train
    source and no dev rows. For drawing rows that no split uses (held-out sets of the benchmarks).
    """
    sources = _sources(cfg)
    return list(sources.train), list(sources.dev or ())


def prepare(cfg: RunConfig, *, seed: int | None = None) -> Prepared:
    """Load the task, draw splits, partition them and build the shared vocabulary."""
    seed = cfg.seed if seed is None else seed
    splits = load_splits(cfg, seed)
    task = splits.task
    workers = partition(splits, cfg.partition.workers, scheme=cfg.partition.scheme, alpha=cfg.partition.alpha,
                        seed=seed, test_mode=cfg.partition.test_mode)
    notes = list(splits.notes)
    vocab = build_vocabulary(cfg, workers)
    notes += method_notes(cfg)
    return Prepared(task, splits, workers, vocab, tuple(notes), cfg.vocab.placement, cfg.selection.calibrate)


def method_notes(cfg: RunConfig, method: str | None = None) -> list[str]:
    """The settings a run's method implies, in words (the task's and vocabulary's are refused in config).

    They are applied in :func:`algorithm_config` and by the server; these lines make each one visible
    (the CLI prints them), so no setting is overridden silently.
    """
    method = method or cfg.method
    given, out = cfg.algorithm, []
    if method == "sync-dbt":
        r = cfg.partition.workers
        out.append(f"sync-dbt: the server waits for all {r} workers and nobody may be stale (S = R = {r}, tau = 1)"
                   + ("; algorithm.min_reports/tau as set are not used" if {"min_reports", "tau"} & set(given) else ""))
    elif method == "fedavg":
        r = cfg.partition.workers
        out.append(f"fedavg: every round waits for all {r} workers (S = R = {r}, tau = 1); the server averages the "
                   "fragment policies and every worker restarts from the average (no consensus duals or cuts)"
                   + ("; algorithm.min_reports/tau as set are not used" if {"min_reports", "tau"} & set(given) else ""))
    elif method in ("cendbt", "bdpl"):
        out.append(f"{method}: one worker holds every worker's data (no federation, no consensus terms)")
    if method == "demos-only" and given.get("fragment_length", 0):
        out.append(f"demos-only: no fragment (algorithm.fragment_length={given['fragment_length']} is not used)")
    return out


def build_vocabulary(cfg: RunConfig, workers: Sequence[WorkerData]) -> tuple[str, ...]:
    """Fragment candidates, led by the empty word ``""`` when ``vocab.empty`` (fragment length 0..M)."""
    words = _candidate_words(cfg, workers)
    return ("", *(w for w in words if w)) if cfg.vocab.empty else words


def _candidate_words(cfg: RunConfig, workers: Sequence[WorkerData]) -> tuple[str, ...]:
    """A user file, or words mined on each worker's own labelled text and merged (ranks only cross the wire)."""
    if cfg.vocab.file:
        path = Path(cfg.vocab.file)
        if not path.is_file():
            raise ConfigError(f"vocab.file={path} does not exist; give a text file with one candidate per line")
        words = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        if not words:
            raise ConfigError(f"vocab.file={path} is empty; put one fragment candidate per line")
        return tuple(dict.fromkeys(words))[: cfg.vocab.size]
    per_worker = []
    for w in workers:
        own = (*w.train, *w.pool)
        texts = [" ".join(e.texts) for e in own]
        per_worker.append(mine_label_words(texts, [e.label for e in own], size=cfg.vocab.size)
                          if cfg.vocab.style == "words" else
                          mine_vocabulary(texts, size=cfg.vocab.size, max_ngram=cfg.vocab.max_ngram))
    return tuple(merge_vocabularies(per_worker, size=cfg.vocab.size))


def algorithm_config(cfg: RunConfig, task: TaskSpec, vocab: Sequence[str], method: str | None = None) -> Any:
    """Build and validate the AlgorithmConfig of a run on ``task`` with the fragment vocabulary ``vocab``."""
    method = method or cfg.method
    kwargs = {**cfg.algorithm, "method": method, "vocab_size": len(vocab), "num_classes": task.num_classes}
    if not (vocab and vocab[0] == ""):
        kwargs["empty_word_prior"] = 0.0  # no empty word in this vocabulary: start uniform
    if method == "demos-only":
        kwargs["fragment_length"] = 0
    try:
        acfg = alg.AlgorithmConfig(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"invalid algorithm settings: {exc}") from exc
    acfg.validate()
    return acfg


def make_client(cfg: RunConfig, rundir: Any | None) -> Any:
    """The one LLM client of a run: backend + persistent cache + ledger in the run directory (``rundir.ledger_path``)."""
    from asyndbt.llm import make_llm_client

    cache_path = None
    if cfg.llm.cache:
        cache_path = Path(cfg.llm.cache_path) if cfg.llm.cache_path else Path(cfg.output_dir) / ".cache" / "scores.sqlite"
    return make_llm_client(cfg.llm, cache_path=cache_path, ledger_path=rundir.ledger_path if rundir else None)


def partition_summary(prepared: Prepared) -> str:
    """The partition table printed by the CLI."""
    return describe_partition(prepared.workers, prepared.task)


def estimate_requests(cfg: RunConfig, prepared: Prepared, baselines: Sequence[str] = ()) -> dict[str, Any]:
    """Pre-run upper bound on the score requests one run will make (the cache can only lower it)."""
    from asyndbt.llm import estimate_calls

    acfg = algorithm_config(cfg, prepared.task, prepared.vocab)
    steps = cfg.simulation.max_worker_steps
    envs = [prepared.pooled_env()] if acfg.centralised else prepared.federated_envs()
    per_worker_steps = steps / len(envs)
    # one evaluation at step 0, then every eval_every server steps (a server step consumes >= S reports)
    per_update = len(envs) if acfg.synchronous else max(1, min(acfg.min_reports, len(envs)))
    server_steps = steps / per_update
    evaluations = 1 + int(server_steps // cfg.simulation.eval_every) + 1
    val = sum(len(e.validation) for e in envs)
    test = sum(len(e.test) for e in envs)
    # candidates scored on validation (upper bound; the cache serves repeats): the untuned prompts once,
    # the argmax with and without the shared fragment each round, the elites and the starting set in the
    # final round
    sel = cfg.selection
    untuned = (1 + sel.random_icl) if sel.do_no_harm else 0
    candidates = untuned + 1 + 2 * (evaluations - 1) + 2 * (1 + acfg.num_elites + int(sel.keep_start))
    # the exported prompts on test (each order scored; with track_test, the selected ones at every
    # evaluation too), then each baseline raw (test) and calibrated (test again, answered by the cache,
    # plus its prior on the worker's validation inputs): the ledger counts cache hits as requests
    tests = test * sel.demo_orders * (1 + (evaluations if cfg.simulation.track_test else 0))
    # pool_untuned: the untuned prompts also answer each worker's training queries and pool in every selection
    # round (the backend once; the ledger counts the cache's answers as requests too)
    if sel.do_no_harm and sel.pool_untuned and sel.random_icl:
        extra = sum(len(e.train) + sum(len(p) for p in e.pools) for e in envs)
        tests += untuned * sel.demo_orders * extra * evaluations
    # pool_check: the prompts the guarding paired tests compare (the untuned ones, the starting set, each mode's
    # best tuned prompt with and without the fragment) answer each worker's held-out pool in every round
    if sel.do_no_harm and sel.pool_check:
        paired = untuned + int(sel.keep_start) + 2 * (2 if sel.calibrate else 1)
        tests += paired * sel.demo_orders * sum(sum(len(p) for p in e.pools) for e in envs) * evaluations
    out = estimate_calls(worker_steps=steps, samples_per_step=acfg.samples_per_step,
                         batch_size=max(min(acfg.batch_size, len(e.train)) for e in envs),
                         evaluations=candidates, eval_examples=val * sel.demo_orders,  # each order is scored
                         final_test_examples=tests + len(baselines) * baseline_requests(prepared))
    out["worker_steps_per_worker"] = per_worker_steps
    if cfg.llm.backend != "llama.cpp" or cfg.llm.price_prompt_per_1k or cfg.llm.price_completion_per_1k:
        # what a paid API bills: every request's whole prompt (the cache can only lower it)
        from asyndbt.llm._http import estimate_request_tokens

        llm = cfg.llm
        per = estimate_request_tokens(typical_request(envs, acfg.shots), mode=llm.mode, echo=llm.echo,
                                      text_max_tokens=llm.text_max_tokens)
        out["billed_tokens_per_request"] = per
        out["billed_tokens"] = per * out["score_requests"]
        # priced at the higher of the two rates, as the client's budget check does (an upper bound)
        out["cost"] = out["billed_tokens"] * max(llm.price_prompt_per_1k, llm.price_completion_per_1k) / 1000
    return out


def baseline_requests(prepared: Prepared) -> int:
    """Score requests of one reference baseline (``finish_run``, ``compare``), over every worker.

    Raw on the worker's test split, calibrated on it again (answered by the cache, still a request)
    and its prior on the validation inputs.
    """
    return sum(2 * len(w.test) + len(w.validation) for w in prepared.workers)


def typical_request(envs: Sequence[Any], shots: int, samples: int = 8) -> Any:
    """A request of median length with ``shots`` demonstrations per class, as most of a run's requests carry.

    Rendered for a few demonstration sets and validation queries of the first worker (no LLM
    needed). The untuned baselines show fewer demonstrations, so estimates built on it are upper
    bounds for their requests.
    """
    env = envs[0]
    queries = list(env.validation or env.train)[:samples]
    u = len(env.pools)
    reqs = []
    for s in range(samples):
        demos = [(s + i // u) % len(env.pools[i % u]) for i in range(shots * u)]
        texts = queries[s % len(queries)].texts if queries else ("",) * len(env.task.text_fields)
        reqs.append(env.prompt([], demos).requests([texts])[0])
    return sorted(reqs, key=lambda r: len(r.prompt))[len(reqs) // 2]
