"""The SuperNode side: a worker's own data, its LLM client, and the ClientApp that runs its steps.

Each SuperNode is one worker. It finds its data from its node config (``partition-file``: a file
written by ``asyndbt flower partition``, holding only this worker's examples; or ``worker-id`` /
Flower simulation's ``partition-id`` plus optional ``data-dir``: the node re-derives the run's
partitions from the shared seed and keeps only its own). Its LLM settings come from its node config
too, so every party can run its own backend. The worker state lives in ``context.state``; the LLM
client and the loaded data are kept per (run, node) by :class:`NodeRuntime` for as long as the
process lives (Ray actors in simulation; in deployment each message gets a fresh process).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from asyndbt import algorithm as alg
from asyndbt.config import RunConfig
from asyndbt.errors import ConfigError, DataError
from asyndbt.evaluation._scoring import evaluate_prompt
from asyndbt.runtime._rundir import write_json_atomic
from asyndbt.runtime.flower import _settings as S
from asyndbt.runtime.flower._records import from_record, to_record
from asyndbt.session._export import export_prompt
from asyndbt.session._selection import SharedDecision, choose, report_counts, score_candidates, tuned_demo_sets
from asyndbt.session._worker_env import WorkerEnv
from asyndbt.tasks import Example, TaskSpec, get_task, group_by_class

PARTITION_SCHEMA = 1
_STATE_RECORD = "asyndbt-worker"
_STEP_FILE = "step.json"  # the worker's last step, saved for resume (see NodeRuntime._saved)


def _examples_to_json(examples: Sequence[Example]) -> list[dict[str, Any]]:
    return [{"uid": e.uid, "texts": list(e.texts), "label": e.label} for e in examples]


def _examples_from_json(items: Sequence[Mapping[str, Any]]) -> tuple[Example, ...]:
    return tuple(Example(str(d["uid"]), tuple(str(t) for t in d["texts"]), int(d["label"])) for d in items)


def write_partitions(cfg: RunConfig, out_dir: str | Path) -> tuple[list[Path], tuple[str, ...]]:
    """Write one partition file per worker (its own data only) and ``vocab.txt``; return the paths.

    This is the setup step of a demo deployment, where one operator holds the data set and hands
    each party its share. Parties that already hold their own data write the same JSON layout.
    """
    from asyndbt import session

    prepared = session.prepare(cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for w in prepared.workers:
        path = out / f"worker{w.worker_id}.json"
        write_json_atomic(path, _partition_json(prepared, w.worker_id))
        paths.append(path)
    (out / "vocab.txt").write_text("\n".join(prepared.vocab) + "\n", encoding="utf-8")
    return paths, prepared.vocab


def _partition_json(prepared: Any, worker_id: int) -> dict[str, Any]:
    """One worker's share of a prepared job, in the partition-file layout."""
    w = prepared.workers[worker_id]
    return {"schema_version": PARTITION_SCHEMA, "task": prepared.task.name, "task_spec": prepared.task.to_dict(),
            "worker_id": w.worker_id, "train": _examples_to_json(w.train),
            "validation": _examples_to_json(w.validation), "test": _examples_to_json(w.test),
            "pool": _examples_to_json(w.pool), "vocab": list(prepared.vocab)}


def _derived_env(cfg: RunConfig, vocab: tuple[str, ...], wid: int, cache: Path) -> WorkerEnv:
    """This worker's share re-derived from the shared seed, prepared once per run and node.

    In a deployment every message runs in a fresh process, so the share is kept in ``cache`` (a
    partition file keyed by the run's config and vocabulary) and later messages only read it.
    """
    from asyndbt import session

    if cache.is_file():
        return load_partition_file(cache, vocab)
    prepared = session.prepare(cfg)
    if tuple(prepared.vocab) != tuple(vocab):
        raise DataError("this node derived another vocabulary than the run's (different data or config); "
                        "give it a partition-file written for this run")
    if not 0 <= wid < len(prepared.workers):
        raise ConfigError(f"worker-id={wid} is out of range for {len(prepared.workers)} workers")
    write_json_atomic(cache, _partition_json(prepared, wid))
    return prepared.federated_envs()[wid]


def load_partition_file(path: str | Path, vocab: Sequence[str]) -> WorkerEnv:
    """A worker environment from a partition file, checked against the run's vocabulary."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"node config partition-file={p} does not exist; write it with `asyndbt flower partition`")
    d = json.loads(p.read_text(encoding="utf-8"))
    if d.get("schema_version") != PARTITION_SCHEMA:
        raise DataError(f"partition file {p} has schema {d.get('schema_version')!r}; this asyndbt reads {PARTITION_SCHEMA}")
    if "vocab" in d and tuple(d["vocab"]) != tuple(vocab):
        raise DataError(f"partition file {p} was written with another vocabulary than this run's; "
                        "re-run `asyndbt flower partition` with the run's config")
    # a user-defined task travels in full; built-in ones may be named only (partition files written by hand)
    task = TaskSpec.from_dict(d["task_spec"]) if "task_spec" in d else get_task(str(d["task"]))
    pool = _examples_from_json(d["pool"])
    return WorkerEnv(int(d["worker_id"]), task, _examples_from_json(d["train"]), _examples_from_json(d["validation"]),
                     _examples_from_json(d["test"]), group_by_class(pool, task.num_classes), tuple(vocab))


@dataclass
class NodeEnv:
    """What one SuperNode holds for one run."""

    cfg: RunConfig
    algo_cfg: Any
    env: WorkerEnv
    client: Any
    out_dir: Path
    run_dir: str = ""
    resume: bool = False
    step_delay_s: float = 0.0  # injected slowness (node config step-delay-s)

    @property
    def worker_id(self) -> int:
        """This node's worker index."""
        return self.env.worker_id


def _node_llm(cfg: RunConfig, node_config: Mapping[str, Any]) -> Any:
    pairs = ((S.NODE_MODEL, "model"), (S.NODE_BACKEND, "backend"), (S.NODE_THREADS, "threads"),
             (S.NODE_N_CTX, "n_ctx"), (S.NODE_CACHE, "cache"))
    overrides = {field: node_config[key] for key, field in pairs if key in node_config}
    return dataclasses.replace(cfg.llm, **overrides)


def build_node_env(run_config: Mapping[str, Any], node_config: Mapping[str, Any], run_id: int, *,
                   out_root: Path | None = None) -> NodeEnv:
    """Load this node's data, algorithm config and LLM client from the run and node configs."""
    from asyndbt.llm import make_llm_client

    cfg, vocab, run_dir, settings = S.read_run_config(run_config)
    unknown = sorted(set(node_config) - set(S.NODE_KEYS))
    if unknown:
        raise ConfigError(f"unknown node config key(s) {unknown}; valid: {', '.join(S.NODE_KEYS)}")
    root = out_root or Path(tempfile.gettempdir()) / "asyndbt-flower" / f"run{run_id}"
    if S.NODE_PARTITION_FILE in node_config:
        env = load_partition_file(str(node_config[S.NODE_PARTITION_FILE]), vocab)
        out_dir = Path(str(node_config.get(S.NODE_OUT_DIR, root / f"worker{env.worker_id}")))
    else:
        wid = node_config.get(S.NODE_WORKER_ID, node_config.get(S.NODE_PARTITION_ID))
        if wid is None:
            raise ConfigError("this SuperNode has no worker: start it with --node-config 'worker-id=N' "
                              "or 'partition-file=\"/path/workerN.json\"'")
        if S.NODE_DATA_DIR in node_config:
            cfg = dataclasses.replace(cfg, task=dataclasses.replace(cfg.task, data_dir=str(node_config[S.NODE_DATA_DIR])))
        out_dir = Path(str(node_config.get(S.NODE_OUT_DIR, root / f"worker{int(wid)}")))
        key = hashlib.sha256(json.dumps([cfg.to_dict(), list(vocab), int(wid)], sort_keys=True).encode()).hexdigest()
        env = _derived_env(cfg, vocab, int(wid), out_dir / f".share-{key[:16]}.json")
    algo_cfg = S.algorithm_config_for(cfg, vocab)
    out_dir.mkdir(parents=True, exist_ok=True)
    llm = _node_llm(cfg, node_config)
    backend = None
    if S.NODE_MODEL_SERVER in node_config:  # the node's model stays loaded in its own process
        from asyndbt.llm import SocketBackend

        backend = SocketBackend(str(node_config[S.NODE_MODEL_SERVER]))
    client = make_llm_client(llm, cache_path=out_dir / ".cache" / "scores.sqlite", ledger_path=out_dir / "ledger.jsonl",
                             backend=backend)
    delay = float(node_config.get(S.NODE_STEP_DELAY, 0.0))
    if delay < 0:
        raise ConfigError(f"node config {S.NODE_STEP_DELAY}={delay} must be >= 0 seconds")
    return NodeEnv(cfg, algo_cfg, env, client, out_dir, run_dir, settings.resume, delay)


def process_age_s() -> float:
    """Seconds since this process started (Linux ``/proc``; NaN elsewhere).

    Flower starts a ``flwr-clientapp`` process per message, so at the handler's entry this is what
    the process start cost: the executable, its imports, and pulling the message from the SuperNode.
    NaN in a long-lived process (Flower's simulation), where the age says nothing about the message.
    """
    if Path(sys.argv[0] if sys.argv else "").name != "flwr-clientapp":
        return float("nan")
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        return time.clock_gettime(time.CLOCK_BOOTTIME) - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return float("nan")


class NodeRuntime:
    """The ClientApp handlers. Holds, per (run, node), the loaded data and LLM client (not the worker state)."""

    def __init__(self, *, run_config: Mapping[str, Any] | None = None, out_root: Path | None = None) -> None:
        """Create the handlers.

        Args:
            run_config: the run config to use instead of ``context.run_config`` (Python-API simulation).
            out_root: parent of the per-worker output directories when a node sets no ``out-dir``.
        """
        self._envs: dict[tuple[int, int], NodeEnv] = {}
        self._run_config = dict(run_config) if run_config is not None else None
        self._out_root = out_root

    def node(self, context: Context) -> NodeEnv:
        """This node's environment for this run (built once per process)."""
        key = (int(context.run_id), int(context.node_id))
        if key not in self._envs:
            run_config = self._run_config if self._run_config is not None else context.run_config
            self._envs[key] = build_node_env(run_config, context.node_config, context.run_id, out_root=self._out_root)
        return self._envs[key]

    # Worker state. After every step the node saves its state, the key of the update it answered and
    # its reply: in ``context.state`` (kept by the SuperNode for the run) and in ``<out-dir>/step.json``
    # (kept across processes). A resumed run, or a restarted SuperNode of the same run, continues from
    # the file; an update the node has already answered gets the saved reply again instead of a
    # second step, so a server that resends after a crash never makes a worker step twice.
    @staticmethod
    def _saved(context: Context, node: NodeEnv) -> dict[str, Any] | None:
        if _STATE_RECORD in context.state:
            return json.loads(str(context.state[_STATE_RECORD]["saved"]))
        path = node.out_dir / _STEP_FILE
        if not path.is_file():
            return None
        saved = json.loads(path.read_text(encoding="utf-8"))
        same_run = saved.get("run_id") == int(context.run_id)
        if saved.get("run_dir") != node.run_dir or not (node.resume or same_run):
            return None  # another run's file, or a fresh run in a reused directory
        return saved

    @staticmethod
    def _state(node: NodeEnv, saved: dict[str, Any] | None) -> alg.WorkerState:
        """The worker state of a saved step (from :meth:`_saved`), or the initial one when there is none."""
        if saved is not None:
            return alg.worker_state_from_dict(saved["state"])
        env = node.env  # first message of this run on this node: the same deterministic init as the simulator
        return alg.init_worker(node.algo_cfg, env.worker_id, pool_sizes=env.pool_sizes, train_size=len(env.train),
                               seed=node.cfg.seed)

    @staticmethod
    def _save(context: Context, node: NodeEnv, saved: dict[str, Any]) -> None:
        saved = {**saved, "run_id": int(context.run_id), "run_dir": node.run_dir}
        write_json_atomic(node.out_dir / _STEP_FILE, saved)
        context.state[_STATE_RECORD] = ConfigRecord({"saved": json.dumps(saved)})

    @staticmethod
    def _reply(msg: Message, saved: dict[str, Any]) -> Message:
        content = to_record(alg.WorkerReport.from_dict(saved["report"]))
        content["work"] = MetricRecord({k: float(v) for k, v in saved["work"].items()})
        return Message(content, reply_to=msg)

    def hello(self, msg: Message, context: Context) -> Message:
        """Say which worker this node is, and the digest of its vocabulary."""
        node = self.node(context)
        return Message(RecordDict({"meta": ConfigRecord({"worker": node.worker_id,
                                                         "vocab_digest": S.vocab_digest(node.env.vocab)})}),
                       reply_to=msg)

    def train(self, msg: Message, context: Context) -> Message:
        """One worker step: apply the server update, score the sampled prompts locally, report."""
        started_s = process_age_s()  # executable start, imports and pulling the message, before this handler
        t_prep = time.perf_counter()
        node = self.node(context)
        update = from_record(msg.content)
        if not isinstance(update, alg.ServerUpdate) or update.worker != node.worker_id:
            raise DataError(f"node of worker {node.worker_id} got a message for worker {getattr(update, 'worker', '?')}")
        key = hashlib.sha256(json.dumps(update.to_dict(), sort_keys=True).encode()).hexdigest()
        saved = self._saved(context, node)
        if saved is not None and saved.get("key") == key:
            return self._reply(msg, saved)  # answered before a crash: the same reply, no second step
        t0 = time.perf_counter()
        prepare_s = t0 - t_prep  # this node's data, vocabulary, LLM client and saved state
        ws = alg.worker_on_update(self._state(node, saved), update, node.algo_cfg)
        batch = alg.worker_plan(ws, node.algo_cfg)
        env = node.env
        requests = env.requests(batch.fragments, batch.demos, batch.queries)
        scores = node.client.score(requests, worker=env.worker_id, step=int(batch.step), purpose="train")
        losses = env.losses(scores, batch.queries, batch.fragments.shape[0])
        ws, report = alg.worker_on_scores(ws, batch, losses, node.algo_cfg)
        work: dict[str, float] = {"requests": float(len(requests)), "seconds": time.perf_counter() - t0}
        control = msg.content["control"] if "control" in msg.content else {}
        if bool(control.get("evaluate", False)):
            res = self._evaluate(node, ws, "validation")
            work.update(val_accuracy=res.accuracy, val_loss=res.loss)
        if node.step_delay_s:
            time.sleep(node.step_delay_s)  # a slow party (trials); counted in the handler's time, as real work
            work["seconds"] = time.perf_counter() - t0
        work.update(process_s=started_s, prepare_s=prepare_s)
        saved = {"key": key, "state": alg.worker_state_to_dict(ws), "report": report.to_dict(), "work": work}
        self._save(context, node, saved)
        return self._reply(msg, saved)

    @staticmethod
    def _evaluate(node: NodeEnv, ws: alg.WorkerState, split: str) -> Any:
        frag, demos = alg.best_prompt(ws, node.algo_cfg)
        prompt = node.env.prompt(frag, demos, method=node.cfg.method)
        examples = node.env.validation if split == "validation" else node.env.test
        return evaluate_prompt(node.client, prompt, examples, worker=node.worker_id, purpose=split)

    @staticmethod
    def _candidates(node: NodeEnv, ws: alg.WorkerState, meta: Any) -> Any:
        """Score this node's selection candidates on its validation data (the cache serves phase 2)."""
        tuned = tuned_demo_sets(ws, node.algo_cfg, final=True, keep_start=node.cfg.selection.keep_start)
        fragment = json.loads(str(meta["fragment"]))
        return score_candidates(node.client, node.env, tuned=tuned, shared_fragment=fragment,
                                settings=node.cfg.selection, seed=node.cfg.seed, method=node.cfg.method)

    def evaluate(self, msg: Message, context: Context) -> Message:
        """The selection protocol's two node steps; the tuned prompt stays here.

        ``op = "select"``: score the candidates and report counts for the shared choices.
        ``op = "final"``: with the server's decision, choose, export the prompt and evaluate it on test.
        """
        node = self.node(context)
        ws = self._state(node, self._saved(context, node))
        meta = msg.content["meta"]
        wc = self._candidates(node, ws, meta)
        if str(meta["op"]) == "select":
            report = json.dumps(report_counts(wc).to_dict())
            return Message(RecordDict({"selection": ConfigRecord({"report": report})}), reply_to=msg)
        choice = choose(wc, SharedDecision.from_dict(json.loads(str(meta["decision"]))), node.cfg.selection)
        test = evaluate_prompt(node.client, choice.prompt, node.env.test, worker=node.worker_id, purpose="test")
        export_prompt(choice.prompt, choice.record, node.cfg.llm, node.out_dir / "prompts" / f"worker{node.worker_id}.json")
        write_json_atomic(node.out_dir / "worker_state.json", alg.worker_state_to_dict(ws))
        metrics = {"val_accuracy": choice.val_accuracy, "val_loss": choice.val_loss, "test_accuracy": test.accuracy,
                   "test_loss": test.loss, "test_n": float(test.n), "test_majority_fraction": test.majority_fraction,
                   "worker_steps": float(ws.step), "tuned_won": float(bool(choice.record.get("tuned_won")))}
        ledger = getattr(node.client, "ledger", None)  # counts only: the node's own ledger.jsonl stays here
        if ledger is not None:
            metrics.update({f"ledger_{k}": float(v) for k, v in ledger.totals().items()})
        return Message(RecordDict({"evaluation": MetricRecord(metrics)}), reply_to=msg)


def make_client_app(runtime: NodeRuntime | None = None) -> ClientApp:
    """The asyndbt ClientApp: query = hello, train = one worker step, evaluate = final evaluation."""
    rt = runtime or NodeRuntime()
    app = ClientApp()
    app.query()(rt.hello)
    app.train()(rt.train)
    app.evaluate()(rt.evaluate)
    return app
