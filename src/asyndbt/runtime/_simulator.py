"""Discrete-event simulator: the default runtime, with a virtual clock and reproducible stragglers.

The simulator only moves messages and keeps time. Every decision (when the server may update,
what a worker samples, how parameters move) is made by the pure state machines in
:mod:`asyndbt.algorithm`; the simulator feeds them messages in virtual-time order and executes the
LLM calls they ask for.

Time model. A worker step costs ``compute_seconds × speed_factor × jitter`` where compute_seconds
is either a deterministic token-count model (``compute="tokens"``: tokens the backend evaluates ×
``seconds_per_token``) or the measured wall-clock of the LLM call (``compute="measured"``, not
reproducible). Every message also takes a lognormal network delay. All randomness is derived from
``(seed, purpose, worker, counter)``, so a run — and a resumed run — replays exactly. It never sleeps.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from asyndbt import algorithm as alg
from asyndbt.config import REPORT_ATTACKS, SelectionConfig, SimulationConfig
from asyndbt.errors import BudgetExceeded, RunError
from asyndbt.evaluation._scoring import EvalResult, Scorer, evaluate_prompt
from asyndbt.prompt._tuned import TunedPrompt
from asyndbt.runtime._byzantine import corrupt_report, poison_env
from asyndbt.runtime._rundir import RunDir
from asyndbt.session._schedule import evaluation_due, stop_reason
from asyndbt.session._selection import Selection, select_prompts, tuned_demo_sets
from asyndbt.session._worker_env import WorkerEnv, work_tokens

_NET, _JITTER = 101, 202
ProgressFn = Callable[[dict[str, Any]], None]


def lognormal_delay(seed: int, purpose: int, worker: int, counter: int, median: float, sigma: float) -> float:
    """A lognormal delay with the given median, drawn from a counter-derived generator."""
    if median <= 0:
        return 0.0
    rng = np.random.default_rng([seed, purpose, worker, counter])
    return float(median * math.exp(sigma * rng.standard_normal()))


@dataclass(order=True)
class _Event:
    time: float
    seq: int
    kind: str = field(compare=False)  # update | report | fail | return
    worker: int = field(compare=False)
    payload: dict[str, Any] | None = field(compare=False, default=None)
    epoch: int = field(compare=False, default=0)

    def to_dict(self) -> dict[str, Any]:
        return {"time": self.time, "seq": self.seq, "kind": self.kind, "worker": self.worker,
                "payload": self.payload, "epoch": self.epoch}


@dataclass
class RunResult:
    """What a finished (or budget-stopped) run produced."""

    method: str
    prompts: list[TunedPrompt]  # one per worker (one for centralised methods)
    global_fragment: tuple[str, ...]
    test: list[EvalResult]
    history: list[dict[str, Any]]  # evaluation events
    virtual_time: float
    server_steps: int
    worker_steps: int
    train_requests: int
    stopped_by: str
    worker_errors: list[int] = field(default_factory=list)  # step errors per worker (retried, then dropped)
    selection: dict[str, Any] = field(default_factory=dict)  # which candidate each worker exported and why

    def summary(self) -> dict[str, Any]:
        """JSON-ready results."""
        accs = [r.accuracy for r in self.test]
        return {
            "method": self.method,
            "test_accuracy_mean": float(np.mean(accs)) if accs else None,
            "test_accuracy_per_worker": accs,
            "test_loss_per_worker": [r.loss for r in self.test],
            "virtual_time": self.virtual_time,
            "server_steps": self.server_steps,
            "worker_steps": self.worker_steps,
            "train_requests": self.train_requests,
            "stopped_by": self.stopped_by,
            "worker_errors": self.worker_errors,
            "global_fragment": list(self.global_fragment),
            "selection": self.selection,
        }


class Simulation:
    """Drives the server and worker state machines over a virtual clock."""

    def __init__(
        self,
        *,
        method: str,
        algo_cfg: Any,
        sim_cfg: SimulationConfig,
        envs: Sequence[WorkerEnv],
        client: Scorer,
        seed: int,
        max_worker_steps: int,
        rundir: RunDir | None = None,
        on_progress: ProgressFn | None = None,
        selection: SelectionConfig | None = None,
    ) -> None:
        self.method = method
        self.selection_cfg = selection or SelectionConfig()
        self.cfg = algo_cfg
        self.sim = sim_cfg
        self.envs = list(envs)
        self.client = client
        self.seed = seed
        self.max_worker_steps = max_worker_steps
        self.rundir = rundir
        self.on_progress = on_progress
        self.federated = not algo_cfg.centralised
        # Byzantine workers (robustness studies): label poisoning changes the local data up front,
        # the other attacks rewrite each report the worker sends.
        self.attacks = {int(b["worker"]): str(b["attack"]) for b in sim_cfg.byzantine} if self.federated else {}
        self.envs = [poison_env(e) if self.attacks.get(w) == "label_poison" else e for w, e in enumerate(self.envs)]
        r = len(self.envs)
        factors = list(sim_cfg.speed_factors) if sim_cfg.speed_factors else [1.0] * r
        if sim_cfg.straggler_factor != 1.0 and r > 1:
            factors[-1] *= sim_cfg.straggler_factor
        self.speed = factors
        # mutable run state (all of it is checkpointed)
        self.clock = 0.0
        self.seq = 0
        self.heap: list[_Event] = []
        self.worker_steps = 0
        self.train_requests = 0
        self.work_tokens = 0
        self.history: list[dict[str, Any]] = []
        self.worker_errors = [0] * r
        self.down: set[int] = set()
        self.epoch = [0] * r
        self.last_update: list[dict[str, Any] | None] = [None] * r
        self.workers = [
            alg.init_worker(algo_cfg, e.worker_id, pool_sizes=e.pool_sizes, train_size=len(e.train), seed=seed)
            for e in self.envs
        ]
        self.server = alg.init_server(algo_cfg, num_workers=r, seed=seed) if self.federated else None
        self.server_steps = 0
        # The prompts the selection protocol chose at the latest evaluation (asyndbt.session).
        self.selection: Selection | None = None
        self.val_requests = 0  # validation requests of the selection rounds (checkpointed, for the curves)

    # ---------------------------------------------------------------- helpers
    def _push(self, time_: float, kind: str, worker: int, payload: dict[str, Any] | None = None) -> None:
        ev = _Event(time_, self.seq, kind, worker, payload, self.epoch[worker])
        self.seq += 1
        heapq.heappush(self.heap, ev)

    def _net(self, worker: int) -> float:
        return lognormal_delay(self.seed, _NET, worker, self.seq, self.sim.network_median_s, self.sim.network_sigma)

    def _worker_step(self, w: int) -> tuple[Any, float]:
        """Plan, score with the LLM, and update worker ``w``; return (report, compute seconds)."""
        env = self.envs[w]
        ws = self.workers[w]
        batch = alg.worker_plan(ws, self.cfg)
        requests = env.requests(batch.fragments, batch.demos, batch.queries)
        t0 = time.perf_counter()
        scores = self.client.score(requests, worker=w, step=int(batch.step), purpose="train")
        elapsed = time.perf_counter() - t0
        losses = env.losses(scores, batch.queries, batch.fragments.shape[0])
        ws, report = alg.worker_on_scores(ws, batch, losses, self.cfg)
        self.workers[w] = ws
        if self.attacks.get(w) in REPORT_ATTACKS:
            report = corrupt_report(report, self.attacks[w], seed=self.seed)
        self.worker_steps += 1
        self.train_requests += len(requests)
        tokens = work_tokens(scores, len(batch.queries))
        self.work_tokens += tokens
        base = elapsed if self.sim.compute == "measured" else tokens * self.sim.seconds_per_token
        jitter = lognormal_delay(self.seed, _JITTER, w, self.worker_steps, 1.0, self.sim.compute_sigma)
        return report, base * self.speed[w] * jitter

    def _current_ids(self, w: int) -> tuple[list[int], list[int]]:
        frag, demos = alg.best_prompt(self.workers[w], self.cfg)
        return [int(j) for j in frag], [int(k) for k in demos]

    def _shared_fragment(self) -> list[int]:
        """The fragment every worker may share: argmax of ``z`` (one worker's argmax ``p`` when centralised)."""
        if self.federated and self.cfg.shares_fragment:
            return [int(j) for j in alg.best_shared_fragment(self.server)]
        return self._current_ids(0)[0] if not self.federated else []

    def current_prompts(self) -> list[TunedPrompt]:
        """Each worker's tuned prompt as learned so far: its argmax demonstrations with the shared fragment.

        These are the tuned candidates the next selection round would consider (before the elites
        and the do-no-harm test); benchmarks score them to follow the optimiser itself.
        """
        shared = self._shared_fragment()
        return [self.envs[w].prompt(shared, self._current_ids(w)[1], method=self.method) for w in range(len(self.envs))]

    @property
    def llm_calls(self) -> int:
        """Scoring requests the run has made so far, training and validation (cache hits included)."""
        return self.train_requests + self.val_requests

    def _prompt_of(self, w: int, *, selected: bool = False) -> TunedPrompt:
        """The worker's current argmax prompt, or (``selected``) the one the selection protocol chose."""
        if selected and self.sim.select_by_validation and self.selection is not None:
            return self.selection.choices[w].prompt
        frag, demos = self._current_ids(w)
        return self.envs[w].prompt(frag, demos, method=self.method)

    def _select(self, final: bool) -> Selection:
        """Run the selection protocol; the best sampled prompts (elites) join only the final round."""
        tuned = [tuned_demo_sets(ws, self.cfg, final=final, keep_start=self.selection_cfg.keep_start)
                 for ws in self.workers]
        return select_prompts(self.client, self.envs, tuned=tuned, shared_fragment=self._shared_fragment(),
                              settings=self.selection_cfg, seed=self.seed, method=self.method)

    def _evaluate(self, final: bool = False) -> None:
        record: dict[str, Any] = {"t": self.clock, "server_step": self.server_steps,
                                  "worker_steps": self.worker_steps, "train_requests": self.train_requests}
        before = self._ledger_requests()
        self.selection = self._select(final)
        self.val_requests += self._ledger_requests() - before
        record["llm_calls"] = self.train_requests + self.val_requests  # training and validation so far
        accs = [c.val_accuracy for c in self.selection.choices]
        losses = [c.val_loss for c in self.selection.choices]
        record.update(val_accuracy=accs, val_accuracy_mean=float(np.mean(accs)), val_loss=losses,
                      val_loss_mean=float(np.mean(losses)), final=final,
                      selected=[c.candidate for c in self.selection.choices], mode=self.selection.mode,
                      tuned_won=[bool(c.record.get("tuned_won")) for c in self.selection.choices],
                      fragment_kept=self.selection.record["fragment_kept"])
        if self.sim.track_test:
            tests = [evaluate_prompt(self.client, c.prompt, env.test, worker=w, purpose="test/curve").accuracy
                     for w, (c, env) in enumerate(zip(self.selection.choices, self.envs, strict=True))]
            record.update(test_accuracy=tests, test_accuracy_mean=float(np.mean(tests)))
        self.history.append(record)
        if self.rundir:
            self.rundir.log("eval", **record)
        self._progress(kind="eval", **record)

    def _ledger_requests(self) -> int:
        """Scoring requests the client has recorded (cache hits included); 0 for a client without a ledger."""
        ledger = getattr(self.client, "ledger", None)
        return int(ledger.totals()["requests"]) if ledger is not None else 0

    def _progress(self, **info: Any) -> None:
        if self.on_progress:
            self.on_progress({"method": self.method, "clock": self.clock, "server_step": self.server_steps,
                              "worker_steps": self.worker_steps, "max_worker_steps": self.max_worker_steps,
                              "train_requests": self.train_requests, **info})

    def _after_server_step(self, info: dict[str, Any]) -> None:
        if self.rundir:
            self.rundir.log("server_update", t=self.clock, train_requests=self.train_requests,
                            worker_steps=self.worker_steps, **info)
        self._progress(kind="update", **info)
        if evaluation_due(self.sim, self.server_steps):
            self._evaluate()
        if self.rundir and self.server_steps % self.sim.checkpoint_every == 0:
            self.rundir.save_checkpoint(self.state_dict())

    def _budget_reached(self) -> str | None:
        return stop_reason(self.sim, worker_steps=self.worker_steps, server_steps=self.server_steps, elapsed=self.clock,
                           max_worker_steps=self.max_worker_steps)

    # ---------------------------------------------------------------- main loops
    def start(self) -> None:
        """Schedule the first messages (fresh runs only)."""
        if self.federated:
            self.server, updates = alg.server_start(self.server, self.cfg)
            for u in updates:
                self._push(self._net(u.worker), "update", u.worker, u.to_dict())
            for d in self.sim.dropouts:
                self._push(float(d["at"]), "fail", int(d["worker"]))
                if d.get("until") is not None:
                    self._push(float(d["until"]), "return", int(d["worker"]))
        if self.rundir:
            self.rundir.log("run_start", method=self.method, workers=len(self.envs), seed=self.seed,
                            byzantine={str(w): a for w, a in self.attacks.items()})
        self._evaluate()  # step-0 point of the curves, and the first early-stopping candidate

    def run(self) -> RunResult:
        """Run until a budget is reached; return the final prompts and test accuracy."""
        try:
            stopped = self._run_federated() if self.federated else self._run_centralised()
            if not (self.history and self.history[-1].get("final")):
                if self.history and self.history[-1]["server_step"] == self.server_steps:
                    self.history.pop()  # the final round (with the elites) replaces this step's light one
                self._evaluate(final=True)
        except BudgetExceeded as exc:
            # A budget ends the run cleanly: checkpoint (so `--resume` with a larger budget goes on
            # exactly where this stopped), export the prompts, and make no further LLM calls.
            if self.rundir:
                self.rundir.log("budget_stop", t=self.clock, message=exc.message)
                self.rundir.save_checkpoint(self.state_dict())
            self._progress(kind="budget", message=exc.message)
            return self._finish("budget", evaluate=False)
        return self._finish(stopped)

    def _run_centralised(self) -> str:
        while (stopped := self._budget_reached()) is None:
            report, seconds = self._worker_step(0)
            self.clock += seconds
            self.server_steps += 1
            self._after_server_step({"server_step": self.server_steps, "reporters": [0],
                                     "loss_mean": float(report.loss_mean)})
        return stopped

    def _run_federated(self) -> str:
        while self.heap:
            if (stopped := self._budget_reached()) is not None:
                return stopped
            ev = heapq.heappop(self.heap)
            self.clock = max(self.clock, ev.time)
            w = ev.worker
            if ev.kind == "update":
                self.last_update[w] = ev.payload
                if w in self.down or ev.epoch != self.epoch[w]:
                    continue
                state_before = self.workers[w]
                self.workers[w] = alg.worker_on_update(self.workers[w], alg.ServerUpdate.from_dict(ev.payload), self.cfg)
                try:
                    report, seconds = self._worker_step(w)
                except BudgetExceeded:
                    self.workers[w] = state_before  # undo, and keep the message for a resumed run
                    heapq.heappush(self.heap, ev)
                    raise
                except Exception as exc:  # one party's failure must not stop the federation
                    self.workers[w] = state_before
                    self._worker_error(w, exc)
                    continue
                self._push(self.clock + seconds + self._net(w), "report", w, report.to_dict())
                self._progress(kind="worker", worker=w)
            elif ev.kind == "report":
                if w in self.down or ev.epoch != self.epoch[w]:
                    continue  # the worker failed while this report was in flight: it is lost
                before = self.server.iteration
                self.server, updates = alg.server_on_report(self.server, alg.WorkerReport.from_dict(ev.payload), self.cfg)
                self._dispatch(updates, before)
            elif ev.kind == "fail":
                self.down.add(w)
                self.epoch[w] += 1
                if self.rundir:
                    self.rundir.log("worker_failed", t=self.clock, worker=w)
                before = self.server.iteration
                self.server, updates = alg.server_on_failure(self.server, alg.WorkerFailed(w, "dropout"), self.cfg)
                self._dispatch(updates, before)
            elif ev.kind == "return":
                self.down.discard(w)
                if self.rundir:
                    self.rundir.log("worker_returned", t=self.clock, worker=w)
                if self.last_update[w] is not None:  # resume from the last server state it saw
                    self._push(self.clock, "update", w, self.last_update[w])
        raise RunError("simulation stalled: no messages in flight; every worker failed or the server is stuck")

    def _worker_error(self, w: int, exc: Exception) -> None:
        """A worker step raised: log it, take the worker out of the staleness rule, retry it later.

        After ``simulation.max_worker_errors`` errors the worker stays out for the rest of the run.
        The error is never silent: it goes to events.jsonl, the progress display and the result.
        """
        self.worker_errors[w] += 1
        message = f"{type(exc).__name__}: {exc}"
        retry = self.worker_errors[w] < self.sim.max_worker_errors
        if self.rundir:
            self.rundir.log("worker_error", t=self.clock, worker=w, error=message, count=self.worker_errors[w],
                            retry_at=self.clock + self.sim.worker_retry_s if retry else None)
        self._progress(kind="worker_error", worker=w, error=message, retry=retry)
        self.down.add(w)
        self.epoch[w] += 1
        before = self.server.iteration
        self.server, updates = alg.server_on_failure(self.server, alg.WorkerFailed(w, message[:200]), self.cfg)
        self._dispatch(updates, before)
        if retry:
            self._push(self.clock + self.sim.worker_retry_s, "return", w)

    def _dispatch(self, updates: list[Any], before: int) -> None:
        for u in updates:
            self._push(self.clock + self._net(u.worker), "update", u.worker, u.to_dict())
        after = self.server.iteration
        if after != before:
            self.server_steps = after
            self._after_server_step(dict(self.server.last_update_info or {}))

    def _finish(self, stopped: str, *, evaluate: bool = True) -> RunResult:
        prompts = [self._prompt_of(w, selected=True) for w in range(len(self.envs))]
        tests = [evaluate_prompt(self.client, p, env.test, worker=w, purpose="test")
                 for w, (p, env) in enumerate(zip(prompts, self.envs, strict=True))] if evaluate else []
        if self.federated:
            z_ids = alg.best_shared_fragment(self.server)
            global_fragment = self.envs[0].prompt(z_ids, ()).fragment_words
        else:
            global_fragment = prompts[0].fragment_words
        result = RunResult(self.method, prompts, global_fragment, tests, self.history, self.clock,
                           self.server_steps, self.worker_steps, self.train_requests, stopped,
                           list(self.worker_errors),
                           selection=self.selection.record | {"workers": [c.record for c in self.selection.choices]}
                           if self.selection else {})
        if self.rundir:
            self.rundir.log("run_end", t=self.clock, **{
                k: v for k, v in result.summary().items() if k != "method"})
            if evaluate:
                self.rundir.save_checkpoint(self.state_dict())
        return result

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the run exactly."""
        return {
            "clock": self.clock, "seq": self.seq, "heap": [e.to_dict() for e in sorted(self.heap)],
            "worker_steps": self.worker_steps, "train_requests": self.train_requests,
            "val_requests": self.val_requests, "work_tokens": self.work_tokens, "history": self.history,
            "down": sorted(self.down),
            "epoch": self.epoch, "last_update": self.last_update, "server_steps": self.server_steps,
            "worker_errors": self.worker_errors,
            "workers": [alg.worker_state_to_dict(ws) for ws in self.workers],
            "server": alg.server_state_to_dict(self.server) if self.server is not None else None,
        }

    def load_state_dict(self, s: dict[str, Any]) -> None:
        """Restore a checkpoint written by :meth:`state_dict`."""
        self.clock, self.seq = float(s["clock"]), int(s["seq"])
        self.heap = [_Event(**e) for e in s["heap"]]
        heapq.heapify(self.heap)
        self.worker_steps, self.train_requests = int(s["worker_steps"]), int(s["train_requests"])
        self.work_tokens = int(s["work_tokens"])
        self.val_requests = int(s.get("val_requests", 0))
        self.history = list(s["history"])
        self.down = set(s["down"])
        self.epoch = list(s["epoch"])
        self.worker_errors = list(s["worker_errors"])
        self.last_update = list(s["last_update"])
        self.server_steps = int(s["server_steps"])
        self.workers = [alg.worker_state_from_dict(d) for d in s["workers"]]
        self.server = alg.server_state_from_dict(s["server"]) if s["server"] is not None else None
