"""The server state machine: buffer reports, decide readiness, update z / rho / cuts, reply.

Pure functions in the Flower-strategy style, taken further: no transport handle, no clock. Each
takes a :class:`ServerState` and one input message and returns a new state plus the
:class:`ServerUpdate` messages to send. Bad reports are rejected *as data* (counted in the state,
reason recorded) rather than raised, because a remote worker's mistake must not stop the server.

Cost of one update. Per-worker arrays are tuples of read-only ``(M, N)`` rows, so a new state shares
every row it did not change (no ``(R, M, N)`` copies), and the sums over workers that the ``z`` step
and the cut duals need are kept as running sums. An update therefore costs ``O(S M N + L M N)``;
only the robust term (``psi > 0``, a sum of signs over all ``R`` workers) and the cut check every
``delta`` updates touch all ``R`` rows. Running sums are recomputed exactly at each cut check, so
rounding drift cannot build up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from asyndbt.algorithm._config import AlgorithmConfig
from asyndbt.algorithm._messages import SCHEMA_VERSION, ServerUpdate, WorkerFailed, WorkerReport
from asyndbt.algorithm._worker import initial_fragment_policy
from asyndbt.errors import AlgorithmError, ConfigError
from asyndbt.optim import decode_array, encode_array, on_simplex, project_simplex

REJECTION_REASONS = ("unknown_worker", "bad_shape", "non_finite", "off_simplex", "future_step")
SIMPLEX_ATOL = 1e-6  # tolerance of the on-simplex check of reported p


@dataclass(frozen=True, eq=False)
class ServerState:
    """Everything the server holds. ``R`` workers, ``L`` live cuts, ``(M, N)`` fragment policy shape."""

    num_workers: int  # R
    seed: int  # run seed (the server draws nothing random today; kept for replays)
    min_reports: int  # effective S (sync-dbt: R)
    tau: int  # effective staleness bound (sync-dbt: 1)
    iteration: int  # server updates done so far (t)
    started: bool  # server_start has broadcast the initial state
    z: np.ndarray  # (M, N) consensus fragment policy
    rho: tuple[np.ndarray, ...]  # R rows (M, N): consensus duals, one per worker
    p_latest: tuple[np.ndarray, ...]  # R rows (M, N): each worker's last consumed p (uniform before)
    grad_latest: tuple[np.ndarray, ...]  # R rows (M, N): each worker's last consumed policy gradient
    rho_sum: np.ndarray  # (M, N) running sum of rho over workers
    p_sum: np.ndarray  # (M, N) running sum of p_latest over workers
    loss_latest: np.ndarray  # (R,) each worker's last consumed loss_mean (nan before)
    pending: tuple[WorkerReport | None, ...]  # (R,) buffered report per worker for this round
    staleness: np.ndarray  # (R,) int server iterations since the worker was last included
    live: np.ndarray  # (R,) bool False after WorkerFailed until the worker reports again
    cuts_a: np.ndarray  # (L, R, M, N) cut coefficients on each worker's p
    cuts_b: np.ndarray  # (L, M, N) cut coefficients on z
    cuts_c: np.ndarray  # (L,) cut constants (epsilon already subtracted)
    cuts_ap: np.ndarray  # (L,) running sum_v <a_lv, p_v> (the worker part of each cut's value)
    cuts_lambda: np.ndarray  # (L,) cut duals
    cuts_below: np.ndarray  # (L,) bool lambda < gamma at the previous cut check
    cuts_added: int  # cuts generated so far
    cuts_dropped: int  # cuts removed so far (inactive or evicted by max_cuts)
    last_h: float  # h at the last cut check (nan before)
    rejected: Mapping[str, int]  # reason -> reports rejected for it
    last_rejection: str  # human-readable reason of the latest rejection ('' if none)
    duplicates_replaced: int  # reports that replaced an older pending report of the same worker
    failures: int  # WorkerFailed notices received
    last_update_info: Mapping[str, Any] | None  # metrics of the latest update (for events.jsonl)


def init_server(cfg: AlgorithmConfig, *, num_workers: int, seed: int) -> ServerState:
    """Create the server state: ``z`` at the workers' starting ``p``, duals zero, no cuts, nobody stale.

    ``sync-dbt`` and ``fedavg`` enforce ``S = R`` and ``tau = 1`` here (the config cannot know ``R``); for the
    other federated methods ``S`` is capped at ``R``.

    Raises:
        ConfigError: If ``num_workers < 1``, or a centralised method (cendbt, bdpl) gets ``R != 1``.
    """
    cfg.validate()
    if num_workers < 1:
        raise ConfigError(f"num_workers={num_workers} must be >= 1")
    if cfg.centralised and num_workers != 1:
        raise ConfigError(f"method={cfg.method!r} runs on one worker holding the pooled data, got "
                          f"num_workers={num_workers}; pool the data into one worker or use asyndbt")
    sync = cfg.synchronous
    r, m, n = num_workers, cfg.num_positions, cfg.vocab_size
    uniform = _frozen(initial_fragment_policy(cfg))  # the workers' starting p (empty word favoured)
    zeros = _frozen(np.zeros((m, n)))
    return ServerState(
        num_workers=r, seed=int(seed), min_reports=r if sync else min(cfg.min_reports, r),
        tau=1 if sync else cfg.staleness_bound(r), iteration=0, started=False, z=uniform,
        rho=(zeros,) * r, p_latest=(uniform,) * r, grad_latest=(zeros,) * r,
        rho_sum=np.zeros((m, n)), p_sum=uniform * r, loss_latest=np.full(r, np.nan), pending=(None,) * r,
        staleness=np.zeros(r, dtype=np.int64), live=np.ones(r, dtype=bool),
        cuts_a=_frozen(np.zeros((0, r, m, n))), cuts_b=np.zeros((0, m, n)), cuts_c=np.zeros(0), cuts_ap=np.zeros(0),
        cuts_lambda=_frozen(np.zeros(0)), cuts_below=np.zeros(0, dtype=bool), cuts_added=0, cuts_dropped=0,
        last_h=float("nan"), rejected={k: 0 for k in REJECTION_REASONS}, last_rejection="",
        duplicates_replaced=0, failures=0, last_update_info=None,
    )


def _frozen(a: np.ndarray) -> np.ndarray:
    """Mark an array read-only: states share rows, so a row must never change in place."""
    a.setflags(write=False)
    return a


def _update_for(ss: ServerState, v: int) -> ServerUpdate:
    # No copies: z, rho rows and the cut arrays are read-only and replaced, never mutated.
    return ServerUpdate(worker=v, server_step=ss.iteration, z=ss.z, rho=ss.rho[v],
                        cuts_a=ss.cuts_a[:, v], cuts_lambda=ss.cuts_lambda)


def server_start(ss: ServerState, cfg: AlgorithmConfig) -> tuple[ServerState, list[ServerUpdate]]:
    """Broadcast the initial ``z``, ``rho`` and (empty) cuts to every worker."""
    return replace(ss, started=True), [_update_for(ss, v) for v in range(ss.num_workers)]


def ready(ss: ServerState, cfg: AlgorithmConfig) -> bool:
    """Tell whether the server may update now.

    True iff at least ``min(S, live workers)`` (and at least one) reports are pending, and every
    live worker without a pending report would stay below the bound after this update:
    ``staleness + 1 < tau``. With ``tau = 1`` every live worker must have reported (synchronous).
    Failed workers are outside the rule until they report again.
    """
    pending = np.array([r is not None for r in ss.pending], dtype=bool)
    n_pending = int(pending.sum())
    need = max(1, min(ss.min_reports, int(ss.live.sum())))
    if n_pending < need:
        return False
    waiting = ss.live & ~pending
    return bool(np.all(ss.staleness[waiting] + 1 < ss.tau))


def _reject(ss: ServerState, reason: str, detail: str) -> ServerState:
    counts = dict(ss.rejected)
    counts[reason] = counts.get(reason, 0) + 1
    return replace(ss, rejected=counts, last_rejection=f"{reason}: {detail}")


def _check_report(ss: ServerState, report: WorkerReport) -> tuple[str, str] | None:
    v = report.worker
    if not isinstance(v, int | np.integer) or not 0 <= int(v) < ss.num_workers:
        return "unknown_worker", f"worker {v!r} is not in [0, {ss.num_workers})"
    shape = ss.z.shape
    arrays = {"p": report.p, "p_prev": report.p_prev, "grad_p": report.grad_p}
    for name, arr in arrays.items():
        a = np.asarray(arr)
        if a.shape != shape:
            return "bad_shape", f"worker {v} sent {name} of shape {a.shape}, expected {shape}"
        if not np.issubdtype(a.dtype, np.number) or not np.all(np.isfinite(a)):
            return "non_finite", f"worker {v} sent NaN/inf in {name}"
    if not (np.isfinite(report.loss_mean) and np.isfinite(report.loss_std)):
        return "non_finite", f"worker {v} sent non-finite loss statistics"
    if not on_simplex(report.p, atol=SIMPLEX_ATOL):
        return "off_simplex", f"worker {v} sent a p whose rows are not probability vectors"
    if report.based_on_server_step > ss.iteration:
        return "future_step", (f"worker {v} claims server step {report.based_on_server_step} but the "
                               f"server is at {ss.iteration}")
    return None


def server_on_report(
    ss: ServerState, report: WorkerReport, cfg: AlgorithmConfig
) -> tuple[ServerState, list[ServerUpdate]]:
    """Buffer one report and update if the server is now ready.

    A second report from the same worker in the same round replaces the first. A report from an
    unknown worker, with wrong shapes, NaN/inf values, an off-simplex ``p`` or a server step from the
    future is rejected: counted in ``ss.rejected``, reason in ``ss.last_rejection``, no updates.

    Returns:
        The new state and the replies: one :class:`ServerUpdate` per consumed report (empty when
        the server keeps waiting).
    """
    problem = _check_report(ss, report)
    if problem is not None:
        return _reject(ss, *problem), []
    v = int(report.worker)
    pending = list(ss.pending)
    dup = pending[v] is not None
    pending[v] = report
    live = ss.live.copy()
    live[v] = True  # a failed worker that reports again rejoins
    ss = replace(ss, pending=tuple(pending), live=live, duplicates_replaced=ss.duplicates_replaced + int(dup))
    if not ready(ss, cfg):
        return ss, []
    return _server_update(ss, cfg)


def server_on_failure(
    ss: ServerState, failed: WorkerFailed, cfg: AlgorithmConfig
) -> tuple[ServerState, list[ServerUpdate]]:
    """Take a failed worker out of the readiness rule (until it reports again).

    Its pending report, if any, is dropped (it could not receive the reply). Returns updates if
    removing it unblocks the server. An unknown worker id is counted as a rejection.
    """
    v = failed.worker
    if not isinstance(v, int | np.integer) or not 0 <= int(v) < ss.num_workers:
        return _reject(ss, "unknown_worker", f"WorkerFailed for worker {v!r} not in [0, {ss.num_workers})"), []
    live = ss.live.copy()
    live[int(v)] = False
    pending = list(ss.pending)
    pending[int(v)] = None
    ss = replace(ss, live=live, pending=tuple(pending), failures=ss.failures + 1)
    if not ready(ss, cfg):
        return ss, []
    return _server_update(ss, cfg)


def _server_update(ss: ServerState, cfg: AlgorithmConfig) -> tuple[ServerState, list[ServerUpdate]]:
    """One server iteration (reconstruction of the lost Algorithm 1; see docs/algorithm.md)."""
    reporters = [v for v, r in enumerate(ss.pending) if r is not None]
    reports = {v: ss.pending[v] for v in reporters}
    lag = {v: ss.iteration - rep.based_on_server_step for v, rep in reports.items()}  # type: ignore[union-attr]
    r_count = ss.num_workers
    p_rows, grad_rows, rho_rows = list(ss.p_latest), list(ss.grad_latest), list(ss.rho)
    p_sum = ss.p_sum.copy()
    cuts_ap = ss.cuts_ap.copy()
    loss_all = ss.loss_latest.copy()
    for v, rep in reports.items():
        assert rep is not None
        p_new = _frozen(np.array(rep.p, dtype=np.float64))
        if cuts_ap.size:
            cuts_ap += np.einsum("lmn,mn->l", ss.cuts_a[:, v], p_new - p_rows[v])
        p_sum += p_new - p_rows[v]
        p_rows[v] = p_new
        grad_rows[v] = _frozen(np.array(rep.grad_p, dtype=np.float64))
        loss_all[v] = rep.loss_mean
    z, rho_sum = ss.z, ss.rho_sum
    a, b, c, lam, below = ss.cuts_a, ss.cuts_b, ss.cuts_c, ss.cuts_lambda, ss.cuts_below
    added = dropped = 0
    h = ss.last_h
    m = ss.z.shape[0]
    if cfg.uses_consensus and m > 0:
        # Eq. (9)/(12) with the cut term; the worker sum is averaged so lr_z does not depend on R:
        # mean_v(-rho_v + mu (z - p_v) + psi sign(z - p_v)), from the running sums.
        grad_z = (-rho_sum + cfg.mu * (r_count * z - p_sum)) / r_count
        if cfg.psi:
            signs = np.zeros_like(z)
            for p_v in p_rows:  # O(R M N): the one term that cannot be kept as a running sum
                signs += np.sign(z - p_v)
            grad_z = grad_z + cfg.psi * signs / r_count
        if lam.size:
            grad_z = grad_z + np.tensordot(lam, b, axes=(0, 0))
        z = _frozen(project_simplex(z - cfg.lr_z * grad_z))
        rho_sum = rho_sum.copy()
        for v in reporters:  # Eq. (10)/(13): dual ascent for the workers that reported
            step = cfg.lr_rho * (p_rows[v] - z)
            rho_rows[v] = _frozen(rho_rows[v] + step)
            rho_sum += step
        if lam.size:  # regularised projected dual ascent on the cut duals (ADBO)
            values = cuts_ap + np.einsum("lmn,mn->l", b, z) + c
            lam = np.maximum(0.0, lam + cfg.lr_lambda * (values - cfg.dual_reg * lam))
        if (ss.iteration + 1) % cfg.cut_every == 0:
            p_all = np.stack(p_rows)
            rho_all = np.stack(rho_rows)
            (a, b, c, lam, below), added, dropped, h = _update_cuts(
                (a, b, c, lam, below), p_all, np.stack(grad_rows), z, rho_all, cfg)
            # refresh the running sums exactly (no rounding drift across many updates)
            p_sum, rho_sum = p_all.sum(axis=0), rho_all.sum(axis=0)
            cuts_ap = np.einsum("lvmn,vmn->l", a, p_all)
            _frozen(a)
    else:
        # No consensus: z is the average policy; FedAvg's workers restart from it, for cenDBT and BDPL
        # (one worker) and random-search it is only reported.
        z = _frozen(p_sum / r_count) if m > 0 else z
    staleness = ss.staleness + 1
    staleness[reporters] = 0
    iteration = ss.iteration + 1
    reporter_losses = [float(loss_all[v]) for v in reporters]
    info = {
        "iteration": iteration,
        "reporters": reporters,
        "report_lag": [lag[v] for v in reporters],
        "staleness": staleness.tolist(),
        "live": ss.live.tolist(),
        "num_cuts": int(lam.size),
        "cuts_added": added,
        "cuts_dropped": dropped,
        "h": None if np.isnan(h) else float(h),
        "mean_loss": float(np.mean(reporter_losses)),
        # over the reporters only, so the update stays O(S M N)
        "consensus_gap": float(np.mean([np.abs(p_rows[v] - z).sum(axis=-1).mean() for v in reporters]))
        if m > 0 else 0.0,
    }
    new = replace(
        ss, iteration=iteration, z=z, rho=tuple(rho_rows), p_latest=tuple(p_rows), grad_latest=tuple(grad_rows),
        rho_sum=rho_sum, p_sum=p_sum, loss_latest=loss_all, pending=(None,) * ss.num_workers,
        staleness=staleness, cuts_a=a, cuts_b=b, cuts_c=c, cuts_ap=cuts_ap, cuts_lambda=_frozen(lam),
        cuts_below=below, cuts_added=ss.cuts_added + added, cuts_dropped=ss.cuts_dropped + dropped,
        last_h=h, last_update_info=info,
    )
    return new, [_update_for(new, v) for v in reporters]


def _update_cuts(
    cuts: tuple[np.ndarray, ...], p_all: np.ndarray, grad_all: np.ndarray, z: np.ndarray, rho: np.ndarray,
    cfg: AlgorithmConfig,
) -> tuple[tuple[np.ndarray, ...], int, int, float]:
    """Every ``delta`` iterations: drop inactive cuts, estimate ``phi``, add a tangent cut if needed."""
    a, b, c, lam, below = cuts
    # Active set: drop a cut whose dual was below gamma at this check and the previous one.
    now_below = lam < cfg.gamma
    keep = ~(now_below & below)
    dropped = int((~keep).sum())
    a, b, c, lam, below = a[keep], b[keep], c[keep], lam[keep], now_below[keep]

    # phi: K steps of the consensus augmented Lagrangian (Eqs. 11-13) from the current point, with
    # each worker's loss linearised by its latest reported policy gradient. The raw gradient is
    # RMS-normalised so the step has the size of the Adam-normalised step the workers take.
    r, m, n = p_all.shape
    rms = np.sqrt(np.mean(np.square(grad_all), axis=(1, 2), keepdims=True))
    g_hat = np.where(rms > 0, grad_all / np.where(rms > 0, rms, 1.0), 0.0)
    p_hat, z_hat, rho_hat = p_all.copy(), z.copy(), rho.copy()
    for _ in range(cfg.phi_steps):
        p_hat = project_simplex(p_hat - cfg.lr_p * (g_hat + rho_hat + cfg.mu * (p_hat - z_hat[None])))
        z_hat = project_simplex(z_hat - cfg.lr_z * (-rho_hat + cfg.mu * (z_hat[None] - p_hat)).mean(axis=0))
        rho_hat = rho_hat + cfg.lr_rho * (p_hat - z_hat[None])
    # h = ||[p, z] - phi||_1, divided by the number of simplex rows M (R + 1) so that epsilon is a
    # per-row tolerance independent of M and R (a positive rescaling of the paper's constraint).
    scale = 1.0 / (m * (r + 1))
    h = float((np.abs(p_all - p_hat).sum() + np.abs(z - z_hat).sum()) * scale)
    added = 0
    if h > cfg.epsilon and cfg.max_cuts > 0:
        if lam.size >= cfg.max_cuts:  # evict the weakest cut (lowest dual; oldest on ties)
            drop = int(np.argmin(lam))
            keep = np.arange(lam.size) != drop
            a, b, c, lam, below = a[keep], b[keep], c[keep], lam[keep], below[keep]
            dropped += 1
        a_new = np.sign(p_all - p_hat) * scale  # (R, M, N) subgradient of h w.r.t. each p_v
        b_new = np.sign(z - z_hat) * scale  # (M, N) subgradient of h w.r.t. z
        c_new = h - float(np.sum(a_new * p_all)) - float(np.sum(b_new * z)) - cfg.epsilon
        a = np.concatenate([a, a_new[None]])
        b = np.concatenate([b, b_new[None]])
        c = np.append(c, c_new)
        lam = np.append(lam, 0.0)
        below = np.append(below, False)
        added = 1
    return (a, b, c, lam, below), added, dropped, h


def best_shared_fragment(ss: ServerState) -> np.ndarray:
    """Return the most probable shared fragment ``argmax z`` per position, shape ``(M,)``."""
    return ss.z.argmax(axis=1).astype(np.int64) if ss.z.shape[0] else np.zeros(0, dtype=np.int64)


_ROW_FIELDS = ("rho", "p_latest", "grad_latest")


def server_state_to_dict(ss: ServerState) -> dict[str, Any]:
    """Serialise the server state to a JSON-able dict (lossless; pair it with the config)."""
    arrays = ("z", "rho_sum", "p_sum", "loss_latest", "staleness", "live", "cuts_a", "cuts_b", "cuts_c",
              "cuts_ap", "cuts_lambda", "cuts_below")
    scalars = ("num_workers", "seed", "min_reports", "tau", "iteration", "started", "cuts_added",
               "cuts_dropped", "last_h", "last_rejection", "duplicates_replaced", "failures")
    out: dict[str, Any] = {"type": "ServerState", "schema_version": SCHEMA_VERSION}
    out.update({k: getattr(ss, k) for k in scalars})
    out.update({k: encode_array(getattr(ss, k)) for k in arrays})
    out.update({k: encode_array(np.stack(getattr(ss, k))) for k in _ROW_FIELDS})
    out["pending"] = [None if r is None else r.to_dict() for r in ss.pending]
    out["rejected"] = dict(ss.rejected)
    out["last_update_info"] = None if ss.last_update_info is None else dict(ss.last_update_info)
    return out


def server_state_from_dict(d: Mapping[str, Any]) -> ServerState:
    """Rebuild a server state from :func:`server_state_to_dict` output."""
    if not isinstance(d, Mapping) or d.get("type") != "ServerState" or d.get("schema_version") != SCHEMA_VERSION:
        raise AlgorithmError("not a ServerState dict of schema version "
                             f"{SCHEMA_VERSION}; checkpoints from another version cannot be resumed")
    arr: dict[str, Any] = {k: decode_array(d[k]) for k in (
        "z", "rho_sum", "p_sum", "loss_latest", "staleness", "live", "cuts_a", "cuts_b", "cuts_c", "cuts_ap",
        "cuts_lambda", "cuts_below")}
    for k in ("z", "cuts_a", "cuts_lambda"):
        _frozen(arr[k])
    arr.update({k: tuple(_frozen(row.copy()) for row in decode_array(d[k])) for k in _ROW_FIELDS})
    return ServerState(
        num_workers=int(d["num_workers"]), seed=int(d["seed"]), min_reports=int(d["min_reports"]),
        tau=int(d["tau"]), iteration=int(d["iteration"]), started=bool(d["started"]),
        pending=tuple(None if r is None else WorkerReport.from_dict(r) for r in d["pending"]),
        cuts_added=int(d["cuts_added"]), cuts_dropped=int(d["cuts_dropped"]), last_h=float(d["last_h"]),
        rejected={str(k): int(v) for k, v in d["rejected"].items()}, last_rejection=str(d["last_rejection"]),
        duplicates_replaced=int(d["duplicates_replaced"]), failures=int(d["failures"]),
        last_update_info=d["last_update_info"], **arr,
    )
