"""Do-no-harm prompt selection: what a run exports, chosen on each worker's own validation data.

Why this exists. A tuned prompt is only worth exporting if it classifies better than the prompt the
user could have kept. So the untuned prompts (the manual prompt, which is also zero-shot, and a few
of the worker's random demonstration sets) are always candidates, and a tuned prompt replaces the
best of them only when it wins by more than noise on validation examples that played no part in
ranking the candidates (no winner's curse).

Protocol, per evaluation:

1. Each worker scores every candidate on its validation set (cached, so repeated candidates are
   free) and splits the set in two fixed halves: *rank* and *check*.
2. Calibration on/off is shared: for each mode, every worker ranks its untuned candidates on the rank
   half and reports the check-half correct count of the winner; the server keeps the mode with the
   larger pooled count (only counts cross the wire).
3. The fragment is shared: with the consensus fragment ``F*`` and without it, each worker ranks its
   tuned demonstration sets and reports per-example check-half correctness; the server keeps ``F*``
   only when a pooled paired test says it helps (``z > accept_z``).
4. Each worker compares its best tuned prompt ``T`` with its best untuned prompt ``U`` (both picked
   on the rank half) on the check half with a paired test, ``z = (b - c) / sqrt(b + c)`` where ``b``
   counts examples only ``T`` gets right and ``c`` those only ``U`` gets right. ``T`` is exported
   when ``z > accept_z``; otherwise ``U`` is. Demonstrations never leave their worker.

The exported prompt is exactly the one scored, with the calibration prior estimated on the worker's
validation inputs; the record says which candidate won and by how much.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from asyndbt.config import SelectionConfig
from asyndbt.evaluation._scoring import Scorer
from asyndbt.llm._types import LabelScores
from asyndbt.prompt._calibration import estimate_prior, predictions_and_losses
from asyndbt.prompt._tuned import TunedPrompt
from asyndbt.session._worker_env import WorkerEnv

MODES = ("raw", "cal")


@dataclass(frozen=True)
class Candidate:
    """One prompt a worker may export: vocabulary ids of the fragment, pool ids of the demonstrations."""

    name: str
    fragment_ids: tuple[int, ...]
    demo_ids: tuple[int, ...]
    tuned: bool


@dataclass
class WorkerChoice:
    """What one worker exports and why."""

    prompt: TunedPrompt
    candidate: str
    mode: str
    val_accuracy: float
    val_loss: float
    record: dict[str, Any] = field(default_factory=dict)


@dataclass
class Selection:
    """The outcome of one selection round over all workers."""

    choices: list[WorkerChoice]
    mode: str
    fragment: tuple[int, ...]
    record: dict[str, Any]

    @property
    def val_accuracy_mean(self) -> float:
        """Mean over workers of the exported prompts' accuracy on their full validation sets."""
        return float(np.mean([c.val_accuracy for c in self.choices]))


def random_demo_ids(pool_sizes: Sequence[int], seed: int, worker: int, index: int) -> tuple[int, ...]:
    """A seeded random demonstration set (one per class) from a worker's own pool."""
    rng = np.random.default_rng([seed, worker, 7919, index])
    return tuple(int(rng.integers(v)) for v in pool_sizes)


def untuned_candidates(env: WorkerEnv, seed: int, settings: SelectionConfig) -> list[Candidate]:
    """The prompts a worker could keep without tuning: manual (zero-shot) and random demonstration sets."""
    out = [Candidate("manual", (), (), tuned=False)]
    seen = {()}
    for r in range(settings.random_icl):
        ids = random_demo_ids(env.pool_sizes, seed, env.worker_id, r)
        if ids not in seen:
            seen.add(ids)
            out.append(Candidate(f"random-icl-{r}", (), ids, tuned=False))
    return out


def tuned_demo_sets(argmax_demos: Sequence[int], elites: Sequence[Sequence[int]]) -> list[tuple[str, tuple[int, ...]]]:
    """The tuner's demonstration sets: the policy's argmax, then the best sampled ones (distinct)."""
    out: list[tuple[str, tuple[int, ...]]] = []
    seen: set[tuple[int, ...]] = set()
    for name, ids in [("argmax", tuple(argmax_demos)), *((f"elite-{i}", tuple(e)) for i, e in enumerate(elites))]:
        ids = tuple(int(j) for j in ids)
        if ids and ids not in seen:
            seen.add(ids)
            out.append((name, ids))
    return out


def _halves(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed rank/check split of a validation set (alternate examples; both halves keep its label mix)."""
    idx = np.arange(n)
    return idx[idx % 2 == 0], idx[idx % 2 == 1]


def paired_z(better: np.ndarray, base: np.ndarray) -> tuple[float, int, int]:
    """McNemar-style statistic of ``better`` over ``base`` on paired 0/1 correctness vectors."""
    b = int(np.sum(better & ~base))
    c = int(np.sum(~better & base))
    if b + c == 0:
        return 0.0, b, c
    return (b - c) / math.sqrt(b + c), b, c


@dataclass
class _Scored:
    """One candidate prompt's validation answers, raw and calibrated."""

    candidate: Candidate
    prompt: TunedPrompt
    prior: tuple[float, ...]
    correct: dict[str, np.ndarray]  # mode -> (n_val,) bool
    loss: dict[str, float]  # mode -> mean cross-entropy of the true label


def _score(client: Scorer, env: WorkerEnv, cand: Candidate, *, method: str, purpose: str) -> _Scored:
    prompt = env.prompt(cand.fragment_ids, cand.demo_ids, method=method)
    scores: list[LabelScores] = client.score(prompt.requests([e.texts for e in env.validation]),
                                             worker=env.worker_id, purpose=purpose)
    labels = [e.label for e in env.validation]
    prior = estimate_prior(scores)
    correct, loss = {}, {}
    for mode in MODES:
        preds, losses = predictions_and_losses(scores, labels, prior if mode == "cal" else None)
        correct[mode] = np.array([p == y for p, y in zip(preds, labels, strict=True)], dtype=bool)
        loss[mode] = float(np.mean(losses)) if losses else float("nan")
    return _Scored(cand, prompt, prior, correct, loss)


def _best(scored: Sequence[_Scored], mode: str, rank: np.ndarray) -> _Scored | None:
    """The candidate with the most rank-half hits (ties: the earlier, i.e. simpler, candidate)."""
    if not scored:
        return None
    return max(scored, key=lambda s: (int(s.correct[mode][rank].sum()), -scored.index(s)))


def select_prompts(
    client: Scorer,
    envs: Sequence[WorkerEnv],
    *,
    tuned: Sequence[Sequence[tuple[str, tuple[int, ...]]]],
    shared_fragment: Sequence[int],
    settings: SelectionConfig,
    seed: int,
    method: str,
    purpose: str = "validation",
) -> Selection:
    """Run the do-no-harm selection (module docstring) and return each worker's exported prompt.

    Args:
        client: The run's LLM client (every call goes through its cache and ledger).
        envs: The workers' local environments (validation data stays there).
        tuned: Per worker, the tuner's demonstration sets as ``(name, pool ids)``.
        shared_fragment: Vocabulary ids of the consensus fragment (empty words are dropped).
        settings: The selection settings.
        seed: Run seed (fixes the random demonstration sets).
        method: Method name written into the exported prompts.
        purpose: Ledger purpose of the validation calls.
    """
    modes = MODES if settings.calibrate else ("raw",)
    frag = tuple(int(j) for j in shared_fragment)
    has_fragment = bool(envs and envs[0].prompt(frag, ()).fragment_words)
    per_worker: list[dict[str, list[_Scored]]] = []
    for env, sets in zip(envs, tuned, strict=True):
        groups: dict[str, list[_Scored]] = {"untuned": [], "plain": [], "fragment": []}
        if settings.do_no_harm:
            groups["untuned"] = [_score(client, env, c, method=method, purpose=purpose)
                                 for c in untuned_candidates(env, seed, settings)]
        for name, ids in sets:
            groups["plain"].append(_score(client, env, Candidate(name, (), ids, True), method=method, purpose=purpose))
            if has_fragment:
                groups["fragment"].append(_score(client, env, Candidate(name + "+fragment", frag, ids, True),
                                                 method=method, purpose=purpose))
        if has_fragment and settings.do_no_harm:  # the fragment alone on the zero-shot prompt
            groups["fragment"].append(_score(client, env, Candidate("manual+fragment", frag, (), True),
                                             method=method, purpose=purpose))
        per_worker.append(groups)

    halves = [_halves(len(env.validation)) for env in envs]

    # 2. shared calibration mode, from pooled check-half counts of each worker's best untuned (or tuned) prompt
    def pooled(group: str, mode: str) -> int:
        total = 0
        for g, (rank, check) in zip(per_worker, halves, strict=True):
            best = _best(g[group] or g["plain"], mode, rank)
            total += int(best.correct[mode][check].sum()) if best else 0
        return total

    basis = "untuned" if settings.do_no_harm else "plain"
    mode_counts = {m: pooled(basis, m) for m in modes}
    mode = max(modes, key=lambda m: (mode_counts[m], -modes.index(m)))

    # 3. shared fragment: kept only when a pooled paired test on the check halves says it helps
    use_fragment, frag_stat = False, {"z": 0.0, "b": 0, "c": 0}
    if has_fragment and any(g["fragment"] for g in per_worker):
        with_f, without_f = [], []
        for g, (rank, check) in zip(per_worker, halves, strict=True):
            a, b = _best(g["fragment"], mode, rank), _best(g["plain"] or g["untuned"], mode, rank)
            if a is None or b is None:
                continue
            with_f.append(a.correct[mode][check])
            without_f.append(b.correct[mode][check])
        if with_f:
            z, nb, nc = paired_z(np.concatenate(with_f), np.concatenate(without_f))
            frag_stat = {"z": z, "b": nb, "c": nc}
            use_fragment = z > settings.accept_z

    # 4. per worker: best tuned vs best untuned on the check half
    choices: list[WorkerChoice] = []
    for g, (rank, check) in zip(per_worker, halves, strict=True):
        tuned_pool = g["plain"] + (g["fragment"] if use_fragment else [])
        t, u = _best(tuned_pool, mode, rank), _best(g["untuned"], mode, rank)
        rec: dict[str, Any] = {"candidates": {s.candidate.name: {m: float(s.correct[m].mean()) for m in modes}
                                              for s in [*g["untuned"], *g["plain"], *g["fragment"]]}}
        if u is None:  # do-no-harm off: the best tuned prompt on the rank half
            winner, why = t, "best tuned on the rank half (do-no-harm off)"
        elif t is None:
            winner, why = u, "no tuned candidate"
        else:
            z, nb, nc = paired_z(t.correct[mode][check], u.correct[mode][check])
            rec.update(tuned=t.candidate.name, untuned=u.candidate.name, z=z, b=nb, c=nc,
                       tuned_check=float(t.correct[mode][check].mean()), untuned_check=float(u.correct[mode][check].mean()))
            winner = t if z > settings.accept_z else u
            why = (f"tuned {t.candidate.name} beat untuned {u.candidate.name} on the check half (z={z:.2f})"
                   if winner is t else f"kept untuned {u.candidate.name}: tuned {t.candidate.name} z={z:.2f} "
                   f"<= {settings.accept_z}")
        assert winner is not None  # at least one group is non-empty by construction
        prompt = winner.prompt.with_calibration(winner.prior if mode == "cal" else None)
        rec.update(winner=winner.candidate.name, tuned_won=winner.candidate.tuned, why=why)
        choices.append(WorkerChoice(prompt, winner.candidate.name, mode, float(winner.correct[mode].mean()),
                                    winner.loss[mode], rec))
    record = {"mode": mode, "mode_counts": mode_counts, "fragment_kept": use_fragment, "fragment_test": frag_stat,
              "fragment": list(envs[0].prompt(frag, ()).fragment_words) if envs else []}
    return Selection(choices, mode, frag if use_fragment else (), record)
