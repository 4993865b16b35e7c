"""The ServerApp side: the AsynDBT server state machine driven asynchronously over a Flower Grid.

The loop only moves messages. It pushes one ``train`` message per worker, then polls
``pull_messages`` for whichever replies have arrived and feeds each to
:func:`asyndbt.algorithm.server_on_report`; the state machine decides when the server updates (S
reports in, nobody τ stale) and whom to answer, and only those workers get a new message. There is
no round barrier (``send_and_receive`` is never used).

Failures. A worker whose train message has had no reply for ``worker_timeout_s``, or whose reply is
a Flower error (node gone, ClientApp crashed), becomes a ``WorkerFailed`` input to
:func:`asyndbt.algorithm.server_on_failure`, which takes it out of the staleness rule. A late reply
from a timed-out worker is an ordinary report and makes it rejoin; a restarted SuperNode that says
hello as worker v replaces v's old node and is sent v's last server update.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from flwr.app import ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid

from asyndbt import algorithm as alg
from asyndbt.config import RunConfig
from asyndbt.errors import RunError
from asyndbt.evaluation._scoring import EvalResult
from asyndbt.prompt._assemble import clean_fragment
from asyndbt.runtime._rundir import RunDir
from asyndbt.runtime._simulator import RunResult
from asyndbt.runtime.flower import _settings as S
from asyndbt.runtime.flower._records import from_record, to_record
from asyndbt.session._schedule import evaluation_due, stop_reason
from asyndbt.session._selection import SelectionReport, decide_shared

Clock = Callable[[], float]


def describe_payload(content: RecordDict) -> dict[str, Any]:
    """Every value of a payload as JSON (arrays as dtype, shape and base64 raw bytes): the audit view."""
    out: dict[str, Any] = {}
    for name, record in content.items():
        kind = type(record).__name__
        if kind == "ArrayRecord":
            out[name] = {"kind": kind, "values": {k: {"dtype": a.dtype, "shape": list(a.shape),
                                                      "bytes_b64": base64.b64encode(a.data).decode("ascii")}
                                                  for k, a in record.items()}}
        else:
            out[name] = {"kind": kind, "values": dict(record.items())}
    return out


@dataclass
class _Pending:
    worker: int
    kind: str  # hello | train | evaluate
    node: int
    pushed_at: float
    msg_id: str = ""


class FlowerServer:
    """One asyndbt run on a Flower Grid (the body of the ServerApp's ``main``)."""

    def __init__(self, grid: Grid, cfg: RunConfig, vocab: tuple[str, ...], rundir: RunDir | None,
                 settings: S.FlowerSettings, *, clock: Clock = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 checkpoint: dict[str, Any] | None = None) -> None:
        self.grid = grid
        self.cfg = cfg
        self.vocab = vocab
        self.rundir = rundir
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self.acfg = S.algorithm_config_for(cfg, vocab)
        self.num_workers = cfg.partition.workers
        self.server = alg.init_server(self.acfg, num_workers=self.num_workers, seed=cfg.seed)
        self.t0 = clock()
        self.pending: dict[str, _Pending] = {}
        self.node_of: dict[int, int] = {}  # worker -> node id
        self.asked: set[int] = set()  # node ids that were sent a hello
        self.failed: set[int] = set()
        self.last_update: dict[int, alg.ServerUpdate] = {}
        self.parked: dict[int, alg.ServerUpdate] = {}  # updates held back while the budget was promised to steps in flight
        self.eval_due: dict[int, int] = {}  # worker -> eval round it should evaluate at its next step
        self.evals: dict[int, dict[int, tuple[float, float]]] = {}
        self.history: list[dict[str, Any]] = []
        self.worker_steps = 0
        self.train_requests = 0
        self.server_steps = 0
        self.messages = {"pushed": 0, "pulled": 0}
        # one row per worker step, in seconds: (round trip from pushing the train message to pulling its
        # reply, the node's handler work, the ClientApp process's age at handler entry (deployment: its
        # start-up, one process per message), the node's preparation before the work); NaN where the
        # node did not say
        self.step_seconds: list[tuple[float, float, float, float]] = []
        self.last_discovery = -1e9
        # last train message per worker (after a resume: only those in flight at the checkpoint, to resend)
        self.sent: dict[int, tuple[alg.ServerUpdate, dict[str, Any]]] = {}
        self.resumed = checkpoint is not None
        self.node_ledgers: dict[str, dict[str, float]] = {}  # per worker: its node's LLM ledger totals (counts)
        if checkpoint is not None:
            self._restore(checkpoint["state"])

    # ------------------------------------------------------------------ transport
    def _now(self) -> float:
        return self.clock() - self.t0

    def _audit(self, direction: str, message_type: str, worker: int, content: RecordDict | None) -> None:
        if self.settings.audit_payloads and self.rundir is not None:
            line = {"direction": direction, "message_type": message_type, "worker": worker,
                    "payload": describe_payload(content) if content is not None else None}
            with (self.rundir.path / "payloads.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(line) + "\n")

    def _push(self, worker: int, node: int, kind: str, content: RecordDict) -> None:
        message_type = {"hello": MessageType.QUERY, "train": MessageType.TRAIN, "evaluate": MessageType.EVALUATE}[kind]
        msg = Message(content, dst_node_id=node, message_type=message_type)
        ids = [i for i in self.grid.push_messages([msg]) if i]
        if not ids:
            raise RunError(f"the SuperLink refused a {kind} message to node {node}")
        self.pending[ids[0]] = _Pending(worker, kind, node, self._now(), ids[0])
        self.messages["pushed"] += 1
        self._audit("server->node", message_type, worker, content)

    def _pull(self) -> list[tuple[_Pending, Message]]:
        if not self.pending:
            return []
        out = []
        for reply in self.grid.pull_messages(list(self.pending)):
            p = self.pending.get(reply.metadata.reply_to_message_id)
            if p is None:  # e.g. "message unavailable" for an id already answered
                continue
            if p.kind != "train":
                # train replies stay pending (counted in flight) until _on_train counts the step, so that
                # the budget check never misses a reply that arrived in the same batch
                del self.pending[p.msg_id]
            self.messages["pulled"] += 1
            self._audit("node->server", reply.metadata.message_type, p.worker,
                        reply.content if reply.has_content() else None)
            out.append((p, reply))
        return out

    def _log(self, event: str, **fields: Any) -> None:
        if self.rundir is not None:
            self.rundir.log(event, t=self._now(), **fields)

    # ------------------------------------------------------------------ setup
    def _discover(self, force: bool = False) -> None:
        """Say hello to nodes we have not met (new SuperNodes, restarted ones)."""
        if not force and self._now() - self.last_discovery < 1.0:
            return
        self.last_discovery = self._now()
        for node in self.grid.get_node_ids():
            if node not in self.asked:
                self.asked.add(node)
                self._push(-1, node, "hello", RecordDict({"meta": ConfigRecord({"op": "hello"})}))

    def _on_hello(self, p: _Pending, reply: Message) -> None:
        if reply.has_error():
            self.asked.discard(p.node)  # ask again later
            return
        meta = reply.content["meta"]
        w, digest = int(meta["worker"]), str(meta["vocab_digest"])
        if digest != S.vocab_digest(self.vocab):
            raise RunError(f"node {p.node} (worker {w}) uses another fragment vocabulary than this run; "
                           "give every SuperNode a partition file written for this run")
        if not 0 <= w < self.num_workers:
            raise RunError(f"node {p.node} says it is worker {w}, but the run has {self.num_workers} workers")
        old = self.node_of.get(w)
        self.node_of[w] = p.node
        if old is not None and old != p.node:
            self._log("worker_node_replaced", worker=w, old_node=old, node=p.node)
            busy = any(q.worker == w and q.kind == "train" and q.node == p.node for q in self.pending.values())
            if w in self.failed and w in self.last_update and not busy:
                self._push_train(self.last_update[w])  # rejoin from the last server state it was sent

    def _connect(self) -> None:
        deadline = self.settings.connect_timeout_s
        while len(self.node_of) < self.num_workers:
            if self._now() > deadline:
                missing = sorted(set(range(self.num_workers)) - set(self.node_of))
                raise RunError(f"workers {missing} did not connect within {deadline:.0f}s; start one SuperNode per "
                               "worker (--node-config 'worker-id=N') or raise connect_timeout_s")
            self._discover()
            for p, reply in self._pull():
                if p.kind == "hello":
                    self._on_hello(p, reply)
            self.sleep(self.settings.poll_interval_s)
        self._log("nodes_connected", nodes={str(w): n for w, n in sorted(self.node_of.items())})

    # ------------------------------------------------------------------ main loop
    def _in_flight(self) -> int:
        return sum(1 for p in self.pending.values() if p.kind == "train" and p.worker not in self.failed)

    def _budget_reached(self) -> str | None:
        # max_virtual_time is wall-clock seconds in this runtime
        return stop_reason(self.cfg.simulation, worker_steps=self.worker_steps, server_steps=self.server_steps,
                           elapsed=self._now())

    def _push_train(self, update: alg.ServerUpdate) -> None:
        self._push_trains([update])

    def _push_trains(self, updates: Iterable[alg.ServerUpdate]) -> None:
        """Send these updates (or park them when the budget is promised), checkpointing first.

        Write-ahead: the checkpoint holds every train message about to be sent, so a server that
        crashes after sending can resend exactly what a node may already have answered (the node
        replies from its saved step instead of stepping twice).
        """
        todo: list[int] = []
        for update in updates:
            w = update.worker
            self.last_update[w] = update
            self.parked.pop(w, None)
            if (self._budget_reached() is not None
                    or self.worker_steps + self._in_flight() + len(todo) >= self.cfg.simulation.max_worker_steps):
                self.parked[w] = update  # sent later if a step in flight is lost (its worker failed)
                continue
            due = self.eval_due.pop(w, None)
            self.sent[w] = (update, {"evaluate": due is not None, "eval_round": -1 if due is None else due})
            todo.append(w)
        if todo and self.rundir is not None:
            self.rundir.save_checkpoint(self.state_dict(also_in_flight=todo))
        for w in todo:
            self._send_train(w)

    def _send_train(self, w: int) -> None:
        update, control = self.sent[w]
        content = to_record(update)
        content["control"] = ConfigRecord(control)
        self._push(w, self.node_of[w], "train", content)

    def _dispatch(self, updates: Iterable[alg.ServerUpdate], before: int) -> None:
        after = self.server.iteration
        if after != before:
            self.server_steps = after
            info = dict(self.server.last_update_info or {})
            self._log("server_update", train_requests=self.train_requests, worker_steps=self.worker_steps, **info)
            if evaluation_due(self.cfg.simulation, self.server_steps):
                self.evals[self.server_steps] = {}
                for w in range(self.num_workers):
                    self.eval_due[w] = self.server_steps
        self._push_trains(updates)

    def _fail(self, w: int, reason: str) -> None:
        if w in self.failed:
            return
        self.failed.add(w)
        self.parked.pop(w, None)
        self._log("worker_failed", worker=w, reason=reason)
        self._flush_evals()
        before = self.server.iteration
        self.server, updates = alg.server_on_failure(self.server, alg.WorkerFailed(w, reason), self.acfg)
        self._dispatch(updates, before)

    def _on_train(self, p: _Pending, reply: Message) -> None:
        w = p.worker
        self.pending.pop(p.msg_id, None)
        if reply.has_error():
            self._fail(w, f"error: {reply.error.reason[:200]}")
            return
        report = from_record(reply.content)
        if not isinstance(report, alg.WorkerReport) or report.worker != w:
            self._fail(w, "bad_reply")
            return
        self.worker_steps += 1
        work = reply.content["work"] if "work" in reply.content else {}
        self.step_seconds.append((self._now() - p.pushed_at, *(float(work.get(k, float("nan")))
                                                               for k in ("seconds", "process_s", "prepare_s"))))
        self.train_requests += int(work.get("requests", 0))
        if w in self.failed:
            self.failed.discard(w)
            self._log("worker_returned", worker=w)
        if "val_accuracy" in work:
            self._record_eval(w, float(work["val_accuracy"]), float(work["val_loss"]))
        before = self.server.iteration
        self.server, updates = alg.server_on_report(self.server, report, self.acfg)
        self._dispatch(updates, before)

    def _record_eval(self, w: int, acc: float, loss: float) -> None:
        """Collect a piggybacked validation result for the oldest eval round ``w`` has not answered."""
        rnd = min((r for r in self.evals if w not in self.evals[r]), default=None)
        if rnd is not None:
            self.evals[rnd][w] = (acc, loss)
        self._flush_evals()

    def _flush_evals(self) -> None:
        """Log each eval round once every live worker has answered it (failed workers are left out)."""
        live = set(range(self.num_workers)) - self.failed
        for rnd in sorted(self.evals):
            res = self.evals[rnd]
            if not res or not live <= set(res):
                break
            del self.evals[rnd]
            ws = sorted(res)
            self._log_eval([res[i][0] for i in ws], [res[i][1] for i in ws], final=False, workers=ws)

    def _log_eval(self, accs: list[float], losses: list[float], *, final: bool, workers: list[int]) -> None:
        record = {"workers": workers, "t": self._now(), "server_step": self.server_steps, "worker_steps": self.worker_steps,
                  "train_requests": self.train_requests, "val_accuracy": accs, "val_loss": losses,
                  "val_accuracy_mean": float(np.mean(accs)) if accs else None,
                  "val_loss_mean": float(np.mean(losses)) if losses else None, "final": final}
        self.history.append(record)
        if self.rundir:
            self.rundir.log("eval", **record)

    def _check_timeouts(self) -> None:
        now = self._now()
        for p in list(self.pending.values()):
            if p.kind == "train" and p.worker not in self.failed and now - p.pushed_at > self.settings.worker_timeout_s:
                self._fail(p.worker, "timeout")

    def _poll(self) -> bool:
        """One poll: handle every reply that arrived; return whether anything did."""
        got = self._pull()
        for p, reply in got:
            if p.kind == "hello":
                self._on_hello(p, reply)
            elif p.kind == "train":
                self._on_train(p, reply)
        self._check_timeouts()
        self._discover()
        for _w, update in sorted(self.parked.items(), key=lambda kv: kv[0]):  # budget freed by a failed worker's lost step
            if self._budget_reached() is None and self.worker_steps + self._in_flight() < self.cfg.simulation.max_worker_steps:
                self._push_train(update)
        return bool(got)

    def run(self) -> RunResult:
        """Connect, run until a budget is reached, evaluate on the nodes, write the run directory."""
        if self.resumed:
            self._log("run_resumed", server_step=self.server_steps, worker_steps=self.worker_steps,
                      in_flight=sorted(self.sent))
            self._connect()
            for w in sorted(self.sent):  # what the crashed server had sent: answered or not
                self._send_train(w)
        else:
            self._log("run_start", method=self.cfg.method, workers=self.num_workers, seed=self.cfg.seed,
                      runtime="flower")
            self._connect()
            self.server, updates = alg.server_start(self.server, self.acfg)
            self._push_trains(updates)
        stall_since = None
        while (stopped := self._budget_reached()) is None:
            if not self._poll():
                self.sleep(self.settings.poll_interval_s)
            if self._in_flight() == 0:
                stall_since = self._now() if stall_since is None else stall_since
                if self._now() - stall_since > self.settings.worker_timeout_s:
                    stopped = "stalled"  # every worker failed and none came back
                    break
            else:
                stall_since = None
        deadline = self._now() + self.settings.final_timeout_s
        while self._in_flight() and self._now() < deadline:  # steps already promised: let them land
            if not self._poll():
                self.sleep(self.settings.poll_interval_s)
        return self._finish(stopped, deadline)

    def _ask_nodes(self, workers: list[int], meta: dict[str, Any], record: str, deadline: float) -> dict[int, Any]:
        """Send one evaluate message to each worker's node and collect the named record of each reply."""
        for w in workers:
            self._push(w, self.node_of[w], "evaluate", RecordDict({"meta": ConfigRecord(meta)}))
        results: dict[int, Any] = {}
        while len(results) < len(workers) and self._now() < deadline + self.settings.final_timeout_s:
            got = self._pull()
            for p, reply in got:
                if p.kind == "train":  # a late step from a failed worker: the run is over, drop it
                    self.pending.pop(p.msg_id, None)
                elif p.kind == "evaluate":
                    if reply.has_error():
                        self._log("worker_failed", worker=p.worker,
                                  reason=f"final {meta['op']}: {reply.error.reason[:200]}")
                        results[p.worker] = {}
                    else:
                        results[p.worker] = dict(reply.content[record].items())
            if not got:
                self.sleep(self.settings.poll_interval_s)
        return results

    def _finish(self, stopped: str, deadline: float) -> RunResult:
        """Run the selection protocol over the wire (asyndbt.session._selection).

        Nodes report counts, the server decides the shared parts, nodes choose, export and evaluate.
        """
        live = [w for w in range(self.num_workers) if w not in self.failed]
        fragment = json.dumps([int(j) for j in alg.best_shared_fragment(self.server)]
                              if self.acfg.shares_fragment else [])
        reports = self._ask_nodes(live, {"op": "select", "fragment": fragment}, "selection", deadline)
        answered = [w for w in live if reports.get(w)]
        decision = decide_shared([SelectionReport.from_dict(json.loads(str(reports[w]["report"]))) for w in answered],
                                 self.cfg.selection)
        self._log("selection", **decision.record)
        meta = {"op": "final", "fragment": fragment,
                "decision": json.dumps(decision.to_dict())}
        results = self._ask_nodes(answered, meta, "evaluation", deadline)
        ok = [w for w in range(self.num_workers) if results.get(w)]
        self._log_eval([results[w]["val_accuracy"] for w in ok], [results[w]["val_loss"] for w in ok], final=True,
                       workers=ok)
        tests = [EvalResult(results[w]["test_accuracy"], results[w]["test_loss"], int(results[w]["test_n"]),
                            results[w]["test_majority_fraction"]) for w in ok]
        fragment = clean_fragment(self.vocab[int(j)] for j in alg.best_shared_fragment(self.server))
        result = RunResult(self.cfg.method, [], fragment, tests, self.history, self._now(), self.server_steps,
                           self.worker_steps, self.train_requests, stopped,
                           selection={**decision.record, "tuned_won": {str(w): bool(results[w].get("tuned_won"))
                                                                       for w in ok}})
        self.node_ledgers = {str(w): {k[len("ledger_"):]: float(v) for k, v in results[w].items()
                                      if k.startswith("ledger_")} for w in ok}
        if self.rundir:
            summary = result.summary()
            summary["evaluated_workers"] = ok
            self._log("run_end", **{k: v for k, v in summary.items() if k != "method"},
                      messages=self.message_stats())
            self.rundir.save_checkpoint(self.state_dict())
        return result

    def message_stats(self) -> dict[str, Any]:
        """Message counts and the per-step messaging overhead (round trip minus the node's handler time)."""
        rows = np.asarray(self.step_seconds, dtype=float).reshape(-1, 4)
        rt, comp, before = rows[:, 0], rows[:, 1], rows[:, 2:]
        stats: dict[str, Any] = dict(self.messages)
        if rt.size:
            stats.update(train_round_trip_s_mean=float(rt.mean()), train_handler_s_mean=float(np.nanmean(comp)),
                         overhead_per_step_s_mean=float(np.nanmean(rt - comp)))
            if np.isfinite(before).all(axis=1).any():  # nodes that report it (all of ours)
                process, prepare = np.nanmean(before, axis=0)
                # overhead = process start + preparation + the rest (Flower's polling and transport both ways)
                stats.update(clientapp_process_s_mean=float(process), node_prepare_s_mean=float(prepare),
                             polling_transport_s_mean=float(np.nanmean(rt - comp) - process - prepare))
        return stats

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self, also_in_flight: Iterable[int] = ()) -> dict[str, Any]:
        """The server side of the run (each worker's state lives on its node, saved after every step).

        ``in_flight``: the train message of every worker whose reply has not been counted yet, so a
        resumed server can send it again.
        """
        flying = {p.worker for p in self.pending.values() if p.kind == "train"} | set(also_in_flight)
        return {"runtime": "flower", "t": self._now(), "worker_steps": self.worker_steps,
                "train_requests": self.train_requests, "server_steps": self.server_steps, "history": self.history,
                "failed": sorted(self.failed), "last_update": {str(w): u.to_dict() for w, u in self.last_update.items()},
                "parked": sorted(self.parked), "eval_due": {str(w): r for w, r in self.eval_due.items()},
                "evals": {str(r): {str(w): list(v) for w, v in res.items()} for r, res in self.evals.items()},
                "in_flight": {str(w): {"update": self.sent[w][0].to_dict(), "control": self.sent[w][1]}
                              for w in sorted(flying) if w in self.sent},
                "server": alg.server_state_to_dict(self.server)}

    def _restore(self, st: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (checked by ``_apps.resume_checkpoint``; nodes are met again)."""
        self.server = alg.server_state_from_dict(st["server"])
        self.t0 = self.clock() - float(st["t"])
        self.worker_steps, self.server_steps = int(st["worker_steps"]), int(st["server_steps"])
        self.train_requests = int(st["train_requests"])
        self.history = list(st["history"])
        self.failed = {int(w) for w in st["failed"]}
        self.last_update = {int(w): alg.ServerUpdate.from_dict(d) for w, d in st["last_update"].items()}
        self.parked = {w: self.last_update[w] for w in map(int, st["parked"])}
        self.eval_due = {int(w): int(r) for w, r in st["eval_due"].items()}
        self.evals = {int(r): {int(w): (float(v[0]), float(v[1])) for w, v in res.items()}
                      for r, res in st["evals"].items()}
        self.sent = {int(w): (alg.ServerUpdate.from_dict(d["update"]), dict(d["control"]))
                     for w, d in st["in_flight"].items()}
