"""The worker state machine: plan a scoring batch, learn from its losses, apply server updates.

Pure functions: each returns a new :class:`WorkerState` and never mutates its inputs. Randomness is
drawn from ``np.random.default_rng([seed, worker_id, step, purpose])`` so a replayed or resumed run
draws identical samples whatever order messages arrived in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from asyndbt.algorithm._config import AlgorithmConfig
from asyndbt.algorithm._messages import SCHEMA_VERSION, ScoreBatch, ServerUpdate, WorkerReport, as_float_array
from asyndbt.errors import AlgorithmError, ConfigError
from asyndbt.optim import (
    ChainState,
    Transform,
    add_consensus,
    add_cut_duals,
    add_dual,
    add_sign_penalty,
    apply_and_project,
    apply_exponentiated,
    chain,
    clip_by_global_norm,
    decode_array,
    decode_tree,
    encode_array,
    encode_tree,
    logit_policy_gradient,
    policy_gradient,
    sample_categorical,
    sample_subsets,
    scale_by_adam,
    scale_by_learning_rate,
    state_from_dict,
)

# Purpose tags of the per-step generators (the 4th entry of the seed sequence).
PURPOSE_QUERIES = 1
PURPOSE_FRAGMENTS = 2
PURPOSE_DEMOS = 3
PURPOSE_FROZEN_DEMOS = 4


def step_rng(seed: int, worker_id: int, step: int, purpose: int) -> np.random.Generator:
    """Return the generator for one (seed, worker, step, purpose); the only source of randomness."""
    return np.random.default_rng([seed, worker_id, step, purpose])


@dataclass(frozen=True, eq=False)
class WorkerState:
    """Everything a worker holds between messages (its data and the LLM live in the runtime)."""

    worker_id: int
    seed: int
    step: int  # local steps completed (= ScoreBatch.step of the next plan)
    pool_sizes: tuple[int, ...]  # (U,) candidate demonstrations per class
    train_size: int  # size of the worker's training split
    p: np.ndarray  # (M, N) fragment policy, rows on the simplex
    q: tuple[np.ndarray, ...]  # U arrays (V_u,) demonstration policies, each on the simplex
    opt_p: ChainState  # lower-level optimiser state (named chain)
    opt_q: ChainState  # upper-level optimiser state (named chain)
    z: np.ndarray  # (M, N) last consensus variable received
    rho: np.ndarray  # (M, N) last consensus dual received for this worker
    cuts_a: np.ndarray  # (L, M, N) this worker's cut coefficients
    cuts_lambda: np.ndarray  # (L,) cut duals
    server_step: int  # server iteration of the last applied ServerUpdate (-1: none yet)
    updates_received: int  # ServerUpdates applied so far
    grad_p: np.ndarray  # (M, N) last fragment policy-gradient estimate (zeros before the first step)
    last_loss: float  # mean loss of the last scored batch (nan before the first step)
    # best sampled prompts so far, lowest training loss first: (loss, fragment ids, demo ids)
    elites: tuple[tuple[float, tuple[int, ...], tuple[int, ...]], ...] = ()


def initial_fragment_policy(cfg: AlgorithmConfig) -> np.ndarray:
    """The starting ``p`` (and ``z``): ``empty_word_prior`` on entry 0 (the empty word), the rest uniform."""
    m, n = cfg.num_positions, cfg.vocab_size
    if n == 1 or cfg.empty_word_prior <= 0:
        return np.full((m, n), 1.0 / n)
    p = np.full((m, n), (1.0 - cfg.empty_word_prior) / (n - 1))
    p[:, 0] = cfg.empty_word_prior
    return p


def lower_level_transform(cfg: AlgorithmConfig) -> Transform:
    """Build the chain of the fragment (lower-level) step, Eq. (8) with Adam.

    ``clip -> Adam -> + rho + mu (p - z) + sum_l lambda_l a_l + psi sign(p - z) -> * (-lr_p)``.
    Adam preconditions only the noisy policy gradient; the Lagrangian terms are added after it, in
    probability units (see docs/algorithm.md, "departures", for why). Methods without consensus
    (cenDBT, BDPL) drop the Lagrangian transforms: another chain, not an ``if`` in the loop. With
    ``optimizer="eg"`` the gradient is already a normalised logit gradient, so clip and Adam drop out
    and the result is applied by :func:`apply_exponentiated`.
    """
    parts: list[Transform] = []
    if cfg.grad_clip is not None and cfg.optimizer == "projected-adam":
        parts.append(clip_by_global_norm(cfg.grad_clip))
    if cfg.use_adam and cfg.optimizer == "projected-adam":
        parts.append(scale_by_adam(cfg.adam_b1, cfg.adam_b2))
    if cfg.uses_consensus:
        parts += [add_dual(), add_consensus(cfg.mu), add_cut_duals()]
        if cfg.psi > 0:
            parts.append(add_sign_penalty(cfg.psi))
    parts.append(scale_by_learning_rate(cfg.lr_p))
    return chain(*parts)


def upper_level_transform(cfg: AlgorithmConfig) -> Transform:
    """Build the chain of the demonstration (upper-level) step: ``clip -> Adam -> * (-lr_q)`` (``eg``: ``* (-lr_q)``)."""
    parts: list[Transform] = []
    if cfg.grad_clip is not None and cfg.optimizer == "projected-adam":
        parts.append(clip_by_global_norm(cfg.grad_clip))
    if cfg.use_adam and cfg.optimizer == "projected-adam":
        parts.append(scale_by_adam(cfg.adam_b1, cfg.adam_b2))
    parts.append(scale_by_learning_rate(cfg.lr_q))
    return chain(*parts)


def init_worker(
    cfg: AlgorithmConfig, worker_id: int, *, pool_sizes: tuple[int, ...], train_size: int, seed: int
) -> WorkerState:
    """Create a worker: uniform ``p`` and ``q`` (or the frozen seeded ``q``), fresh optimiser states.

    Args:
        cfg: The validated configuration.
        worker_id: This worker's id in ``[0, R)``.
        pool_sizes: ``(U,)`` number of candidate demonstrations per class in this worker's pool.
        train_size: Number of training queries this worker holds.
        seed: Run seed (non-negative); with ``worker_id`` and the step it fixes every draw.

    Returns:
        The initial :class:`WorkerState` (step 0, no server update applied yet).

    Raises:
        ConfigError: If the pool sizes do not match ``num_classes`` or a size is not positive.
    """
    cfg.validate()
    pools = tuple(int(v) for v in pool_sizes)
    if len(pools) != cfg.num_classes or any(v < 1 for v in pools):
        raise ConfigError(f"pool_sizes={pools} must hold {cfg.num_classes} positive sizes (one pool per "
                          "class, at least one candidate each)")
    if train_size < 1:
        raise ConfigError(f"train_size={train_size} must be >= 1; give the worker some training queries")
    if seed < 0 or worker_id < 0:
        raise ConfigError(f"seed={seed} and worker_id={worker_id} must be >= 0")
    m, n = cfg.num_positions, cfg.vocab_size
    p = initial_fragment_policy(cfg)
    if cfg.samples_demos:
        q = tuple(np.full(v, 1.0 / v) for v in pools)
    else:  # frozen at a seeded random choice of `shots` demonstrations per class (BDPL, fragment-only)
        rng = step_rng(seed, worker_id, 0, PURPOSE_FROZEN_DEMOS)
        q = tuple(_frozen_row(v, cfg.shots, rng) for v in pools)
    return WorkerState(
        worker_id=int(worker_id), seed=int(seed), step=0, pool_sizes=pools, train_size=int(train_size),
        p=p, q=q, opt_p=lower_level_transform(cfg).init(p), opt_q=upper_level_transform(cfg).init(q),
        z=p.copy(), rho=np.zeros((m, n)), cuts_a=np.zeros((0, m, n)), cuts_lambda=np.zeros(0),
        server_step=-1, updates_received=0, grad_p=np.zeros((m, n)), last_loss=float("nan"),
    )


def worker_on_update(ws: WorkerState, update: ServerUpdate, cfg: AlgorithmConfig) -> WorkerState:
    """Store the server's ``z``, this worker's ``rho`` and its cuts (``fedavg``: also restart ``p`` at ``z``).

    An update older than the one already applied (``server_step`` smaller) is ignored: the state
    comes back unchanged, so a late duplicate cannot roll the worker back.

    Raises:
        AlgorithmError: If the update is addressed to another worker or has wrong shapes.
    """
    if update.worker != ws.worker_id:
        raise AlgorithmError(f"ServerUpdate for worker {update.worker} delivered to worker {ws.worker_id}; "
                             "the runtime must route updates by ServerUpdate.worker")
    if update.server_step < ws.server_step:
        return ws
    shape = ws.p.shape
    z, rho = as_float_array(update.z, "z"), as_float_array(update.rho, "rho")
    a, lam = as_float_array(update.cuts_a, "cuts_a"), as_float_array(update.cuts_lambda, "cuts_lambda")
    if z.shape != shape or rho.shape != shape or a.shape[1:] != shape or a.ndim != 3 \
            or lam.shape != (a.shape[0],):
        raise AlgorithmError(f"ServerUpdate shapes z{z.shape} rho{rho.shape} cuts_a{a.shape} "
                             f"cuts_lambda{lam.shape} do not fit this worker's p{shape}; the server and "
                             "worker configs (fragment_length, vocab_size) must agree")
    p = z.copy() if cfg.averages_fragment else ws.p  # FedAvg: the broadcast global model replaces the local one
    return replace(ws, p=p, z=z.copy(), rho=rho.copy(), cuts_a=a.copy(), cuts_lambda=lam.copy(),
                   server_step=int(update.server_step), updates_received=ws.updates_received + 1)


def worker_plan(ws: WorkerState, cfg: AlgorithmConfig) -> ScoreBatch:
    """Draw this step's queries and ``I`` (fragment, demonstrations) samples.

    ``min(B, train_size)`` distinct queries are drawn without replacement. Deterministic in
    ``(seed, worker_id, step)`` and the current policies.
    """
    b = min(cfg.batch_size, ws.train_size)
    queries = step_rng(ws.seed, ws.worker_id, ws.step, PURPOSE_QUERIES).choice(ws.train_size, b, replace=False)
    i = cfg.samples_per_step
    fragments = sample_categorical(ws.p, i, step_rng(ws.seed, ws.worker_id, ws.step, PURPOSE_FRAGMENTS)) \
        if ws.p.shape[0] else np.zeros((i, 0), dtype=np.int64)
    demo_rng = step_rng(ws.seed, ws.worker_id, ws.step, PURPOSE_DEMOS)
    if not ws.q:
        demos = np.zeros((i, 0), dtype=np.int64)
    elif cfg.shots == 1:  # one categorical draw per class (the paper's layout; the same draws as before shots)
        demos = np.stack([sample_categorical(qu[None, :], i, demo_rng)[:, 0] for qu in ws.q], axis=1)
    else:
        demos = interleave_shots([sample_subsets(qu, cfg.shots, i, demo_rng) for qu in ws.q])
    return ScoreBatch(ws.worker_id, ws.step, fragments, demos.astype(np.int64), queries.astype(np.int64))


def worker_on_scores(
    ws: WorkerState, batch: ScoreBatch, losses: np.ndarray, cfg: AlgorithmConfig
) -> tuple[WorkerState, WorkerReport]:
    """Take one lower-level (``p``) and one upper-level (``q``) step from the scored batch.

    Args:
        ws: Current state; ``batch`` must be ``worker_plan(ws, cfg)``'s output for this step.
        batch: The batch that was scored.
        losses: ``(I, B)`` cross-entropy of the true label for sample ``k`` on query ``b``.
        cfg: The configuration.

    Returns:
        The new state (``step + 1``) and the report to send to the server.

    Raises:
        AlgorithmError: If the batch belongs to another worker or step, or ``losses`` has the wrong
            shape or holds NaN/inf.
    """
    if batch.worker != ws.worker_id or batch.step != ws.step:
        raise AlgorithmError(f"ScoreBatch(worker={batch.worker}, step={batch.step}) does not match worker "
                             f"{ws.worker_id} at step {ws.step}; score the batch from worker_plan(ws)")
    loss = as_float_array(losses, "losses")
    expected = (batch.fragments.shape[0], batch.queries.shape[0])
    if loss.shape != expected:
        raise AlgorithmError(f"losses has shape {loss.shape}, expected (I, B) = {expected}")
    if not np.all(np.isfinite(loss)):
        bad = np.argwhere(~np.isfinite(loss))[0].tolist()
        raise AlgorithmError(f"losses hold NaN/inf (first at [sample, query] = {bad}); the scorer must "
                             "return finite cross-entropies (clip log-probabilities)")
    per_sample = loss.mean(axis=1)  # L_k, (I,)

    eg = cfg.optimizer == "eg"

    def gradient(policy: np.ndarray, samples: np.ndarray) -> np.ndarray:
        if eg:
            return logit_policy_gradient(policy, samples, per_sample)
        return policy_gradient(policy, samples, per_sample, eps=cfg.score_eps)

    def apply(params: Any, updates: Any) -> Any:
        return apply_exponentiated(params, updates, floor=cfg.floor) if eg else apply_and_project(params, updates)

    p, opt_p, grad_p = ws.p, ws.opt_p, np.zeros_like(ws.p)
    if cfg.learns_fragment and ws.p.shape[0] > 0:
        grad_p = gradient(ws.p, batch.fragments)
        updates, opt_p = lower_level_transform(cfg).update(
            grad_p, ws.opt_p, ws.p, z=ws.z, rho=ws.rho, cuts_a=ws.cuts_a, cuts_lambda=ws.cuts_lambda)
        p = apply(ws.p, updates)

    q, opt_q = ws.q, ws.opt_q
    if cfg.learns_demos:
        u_count = len(ws.q)  # slot s * U + u holds class u (see interleave_shots); one mean gradient per class
        grad_q = tuple(np.mean([gradient(qu[None, :], batch.demos[:, [s]])[0]
                                for s in range(u, batch.demos.shape[1], u_count)], axis=0)
                       for u, qu in enumerate(ws.q))
        updates_q, opt_q = upper_level_transform(cfg).update(grad_q, ws.opt_q, ws.q)
        q = apply(ws.q, updates_q)

    new = replace(ws, step=ws.step + 1, p=p, q=q, opt_p=opt_p, opt_q=opt_q, grad_p=grad_p,
                  last_loss=float(loss.mean()), elites=_merge_elites(ws.elites, batch, per_sample, cfg.num_elites))
    report = WorkerReport(
        worker=ws.worker_id, step=ws.step, based_on_server_step=ws.server_step, p=p.copy(), p_prev=ws.p.copy(),
        grad_p=grad_p.copy(), loss_mean=float(loss.mean()), loss_std=float(per_sample.std()),
        n_scored=int(loss.size))
    return new, report


def _merge_elites(
    elites: tuple[tuple[float, tuple[int, ...], tuple[int, ...]], ...], batch: ScoreBatch, per_sample: np.ndarray,
    keep: int,
) -> tuple[tuple[float, tuple[int, ...], tuple[int, ...]], ...]:
    """Keep the ``keep`` distinct sampled prompts with the lowest training loss (ties: earlier first)."""
    if keep == 0:
        return ()
    pool = {(e[1], e[2]): e for e in elites}
    for k in range(batch.fragments.shape[0]):
        key = (tuple(int(j) for j in batch.fragments[k]), tuple(int(j) for j in batch.demos[k]))
        loss = float(per_sample[k])
        if key not in pool or loss < pool[key][0]:
            pool[key] = (loss, *key)
    return tuple(sorted(pool.values(), key=lambda e: e[0])[:keep])


def interleave_shots(per_class: list[np.ndarray]) -> np.ndarray:
    """Lay out per-class subsets ``(I, D)`` as demonstration slots ``(I, D * U)``, slot ``s * U + u``.

    Classes alternate (one demonstration of every class, then the next round), so no class sits in a
    block at the end of the prompt; with ``D = 1`` this is the paper's one-per-class order.
    """
    return np.stack(per_class, axis=2).reshape(per_class[0].shape[0], -1).astype(np.int64)


def _frozen_row(size: int, shots: int, rng: np.random.Generator) -> np.ndarray:
    """A frozen demonstration policy: equal mass on ``shots`` seeded distinct candidates."""
    row = np.zeros(size)
    row[rng.choice(size, min(shots, size), replace=False)] = 1.0
    return row / row.sum()


def best_prompt(ws: WorkerState, cfg: AlgorithmConfig) -> tuple[np.ndarray, np.ndarray]:
    """Return the most probable prompt: ``(fragment_ids (M,), demo_ids (D * U,))``, ties to the lowest id.

    Per class the ``cfg.shots`` most probable candidates (ascending ids, the canonical set order),
    laid out by :func:`interleave_shots`; a pool smaller than that repeats its first pick.
    """
    shots = cfg.shots
    frag = ws.p.argmax(axis=1).astype(np.int64) if ws.p.shape[0] else np.zeros(0, dtype=np.int64)
    if not ws.q:
        return frag, np.zeros(0, dtype=np.int64)
    picks = []
    for qu in ws.q:
        k = min(shots, int(np.sum(qu > 0)))
        top = np.sort(np.argsort(-qu, kind="stable")[:k])
        picks.append(np.concatenate([top, np.repeat(top[:1], shots - k)])[None, :])
    return frag, interleave_shots(picks)[0]


def starting_prompt(ws: WorkerState, cfg: AlgorithmConfig) -> tuple[np.ndarray, np.ndarray]:
    """The prompt the worker's policies pointed to before any step: :func:`best_prompt` of its initial state.

    Recomputed from the state's seed, pool sizes and id (pure), so a runtime can offer it as a candidate
    at the end of a run without having stored it.
    """
    return best_prompt(init_worker(cfg, ws.worker_id, pool_sizes=ws.pool_sizes, train_size=ws.train_size,
                                   seed=ws.seed), cfg)


def worker_state_to_dict(ws: WorkerState) -> dict[str, Any]:
    """Serialise a worker state to a JSON-able dict (lossless; pair it with the config)."""
    return {
        "type": "WorkerState", "schema_version": SCHEMA_VERSION, "worker_id": ws.worker_id, "seed": ws.seed,
        "step": ws.step, "pool_sizes": list(ws.pool_sizes), "train_size": ws.train_size,
        "p": encode_array(ws.p), "q": encode_tree(ws.q), "opt_p": ws.opt_p.to_dict(),
        "opt_q": ws.opt_q.to_dict(), "z": encode_array(ws.z), "rho": encode_array(ws.rho),
        "cuts_a": encode_array(ws.cuts_a), "cuts_lambda": encode_array(ws.cuts_lambda),
        "server_step": ws.server_step, "updates_received": ws.updates_received,
        "grad_p": encode_array(ws.grad_p), "last_loss": ws.last_loss,
        "elites": [[loss, list(f), list(d)] for loss, f, d in ws.elites],
    }


def worker_state_from_dict(d: Mapping[str, Any]) -> WorkerState:
    """Rebuild a worker state from :func:`worker_state_to_dict` output."""
    if not isinstance(d, Mapping) or d.get("type") != "WorkerState" or d.get("schema_version") != SCHEMA_VERSION:
        raise AlgorithmError("not a WorkerState dict of schema version "
                             f"{SCHEMA_VERSION}; checkpoints from another version cannot be resumed")
    q = decode_tree(d["q"])
    return WorkerState(
        worker_id=int(d["worker_id"]), seed=int(d["seed"]), step=int(d["step"]),
        pool_sizes=tuple(int(v) for v in d["pool_sizes"]), train_size=int(d["train_size"]),
        p=decode_array(d["p"]), q=q if isinstance(q, tuple) else (q,), opt_p=state_from_dict(d["opt_p"]),
        opt_q=state_from_dict(d["opt_q"]), z=decode_array(d["z"]), rho=decode_array(d["rho"]),
        cuts_a=decode_array(d["cuts_a"]), cuts_lambda=decode_array(d["cuts_lambda"]),
        server_step=int(d["server_step"]), updates_received=int(d["updates_received"]),
        grad_p=decode_array(d["grad_p"]), last_loss=float(d["last_loss"]),
        elites=tuple((float(e[0]), tuple(int(j) for j in e[1]), tuple(int(j) for j in e[2]))
                     for e in d.get("elites", ())),
    )

