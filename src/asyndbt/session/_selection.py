"""Do-no-harm prompt selection: what a run exports, chosen on each worker's own validation data.

Why this exists. A tuned prompt is only worth exporting if it classifies better than the prompt the
user could have kept. So the untuned prompts (the manual prompt, which is also zero-shot, and a few
of the worker's random demonstration sets) are always candidates, and a tuned prompt replaces the
best of them only when it wins by more than noise on validation examples that played no part in
ranking the candidates (no winner's curse).

Protocol, per evaluation:

1. Each worker scores every candidate on its validation set (cached, so repeated candidates are
   free) and splits the set in two fixed parts: *rank* (every third example) and *check* (the rest).
   A worker whose rank part holds one class only (label skew) ranks nothing: it keeps the first
   candidate of each group, reports nothing to the pooled choices and does not veto them; if it
   keeps the zero-shot prompt, it calibrates it with that prompt's prior pooled over every worker's
   validation inputs, since its own is the mean answer over one class (docs/algorithm.md, departure 18).
2. Calibration on/off is shared, and chosen separately for the untuned and the tuned prompts (the
   tuner trains with the calibrated loss, so judging its prompts in the untuned prompts' mode could
   force them into a mode they were not trained for). Untuned: for each mode, every worker ranks its
   untuned candidates on the rank part and reports the winner's hits on its whole validation set.
   Tuned: the rank-part hits of its best tuned prompt in each mode. For each side the server keeps
   calibrated answers unless raw ones win a pooled paired test (``z > accept_z``), with each worker's
   examples reweighted to the federation's label mix: calibration is the better mode almost
   everywhere, a bare count let a one-hit edge switch it off, and unweighted hits let raw answers
   win by leaning to each skewed worker's own majority class (only counts, per-class counts and hit
   bits cross the wire; docs/algorithm.md, departure 20).
3. The fragment is shared: with the consensus fragment ``F*`` and without it, each worker ranks its
   tuned demonstration sets and reports per-example check-part correctness; the server keeps ``F*``
   only when a pooled paired test (in the tuned prompts' mode) says it helps (``z > accept_z``).
4. Training must show its worth (``beat_start``): each worker reports the check-part hits of its
   starting demonstration set (what the policy pointed to before training) beside those of its best
   tuned prompt. The incumbent is what the first round would keep: the starting sets if they beat
   the untuned prompts on the pooled test, else the untuned prompts. Where the starting sets are the
   incumbent, the trained prompts replace them only when a pooled paired test says they are better
   (else every worker exports its starting set, without the fragment); where the untuned prompts
   are, the trained ones must beat those, as in step 5. Do-no-harm over time: a run never trades
   the prompt its first round judged best for one that beat it by noise on the rank part.
5. Tuned or untuned is shared too: each worker picks its best tuned prompt ``T`` (in the tuned mode)
   on the rank part, and its untuned prompt ``U`` (in the untuned mode): the zero-shot prompt or its
   random set, as the server chooses (``pool_untuned``: more hits pooled over every worker's
   validation set, training queries and pool, reweighted to the federation's label mix; without it,
   the random set only where it ranks higher and beats the zero-shot prompt on a paired test on the
   worker's check part, ``test_untuned``), and reports both prompts' check-part hits; the server runs
   an exact paired (McNemar) test on the pooled bits, on ``b``, the examples only ``T`` gets right,
   against ``c``, those only ``U`` gets right (:func:`paired_z`). Workers export ``T`` when ``z >
   accept_z`` (pooling triples the examples behind the test, so a real gain of a few points is
   visible), except a worker whose own check part says ``T`` is worse (local ``z < -accept_z``),
   which keeps ``U``. Otherwise every worker keeps ``U``. Demonstrations never leave their worker.
6. The guarding paired tests (steps 4 and 5) count more than the check part (``pool_check``): each
   worker also scores the prompts they compare on its demonstration pool, minus every demonstration
   those prompts show, and appends those bits. No pool example is a query in training or ranking, so
   it is as fresh to a tuned prompt as the check part (docs/algorithm.md, departure 27).

The exported prompt is exactly the one scored, with the calibration prior estimated on the worker's
validation inputs; the record says which candidate won and by how much.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from asyndbt import algorithm as alg
from asyndbt.config import SelectionConfig
from asyndbt.evaluation._scoring import Scorer
from asyndbt.llm._types import LabelScores
from asyndbt.prompt._calibration import estimate_prior, predictions_and_losses
from asyndbt.prompt._tuned import TunedPrompt
from asyndbt.session._worker_env import WorkerEnv
from asyndbt.tasks._types import Example

MODES = ("raw", "cal")
ZERO_SHOT = "manual"  # the untuned candidate without demonstrations or fragment: the same prompt on every worker
START = "start"  # the tuned candidate the policy pointed to before training (see :func:`tuned_demo_sets`)


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


def worker_random_prompt(env: WorkerEnv, seed: int, index: int = 0) -> TunedPrompt:
    """The random demonstration set ``random-icl-<index>`` a worker's selection offers as an untuned prompt.

    Reports score the random-ICL baseline with this same set, so the row a user compares against is
    the prompt the run could have kept (and its answers are already in the score cache).
    """
    return env.prompt((), random_demo_ids(env.pool_sizes, seed, env.worker_id, index), method="random-icl")


def untuned_candidates(env: WorkerEnv, seed: int, settings: SelectionConfig) -> list[Candidate]:
    """The prompts a worker could keep without tuning: manual (zero-shot) and random demonstration sets."""
    out = [Candidate(ZERO_SHOT, (), (), tuned=False)]
    seen = {()}
    for r in range(settings.random_icl):
        ids = random_demo_ids(env.pool_sizes, seed, env.worker_id, r)
        if ids not in seen:
            seen.add(ids)
            out.append(Candidate(f"random-icl-{r}", (), ids, tuned=False))
    return out


def tuned_demo_sets(ws: alg.WorkerState, cfg: alg.AlgorithmConfig, *, final: bool,
                    keep_start: bool) -> list[tuple[str, tuple[int, ...]]]:
    """The tuner's demonstration sets for a selection round, distinct, in this order.

    The policy's argmax; in the final round the best sampled sets (elites); and, with ``keep_start``,
    the set the policy pointed to before training (what the first round judged), so a prompt the run
    once found best is never dropped from its last choice because the policy moved away from it.
    With ``keep_start`` the starting set is always named ``"start"``, wherever it comes in the list
    (the policy's argmax before training moves it): selection holds trained sets against it
    (``selection.beat_start``). Both runtimes build their candidates here, so the simulator and a
    Flower node choose among the same.
    """
    start = tuple(int(j) for j in alg.starting_prompt(ws, cfg)[1]) if keep_start else None
    named = [("argmax", alg.best_prompt(ws, cfg)[1])]
    if final:
        named += [(f"elite-{i}", e[2]) for i, e in enumerate(ws.elites)]
    if start is not None:
        named.append((START, start))
    out: list[tuple[str, tuple[int, ...]]] = []
    seen: set[tuple[int, ...]] = set()
    for name, ids in named:
        ids = tuple(int(j) for j in ids)
        if ids and ids not in seen:
            seen.add(ids)
            out.append((START if ids == start else name, ids))
    return out


def _rank_check(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed rank/check split of a validation set: every third example ranks, the other two thirds check.

    Ranking a handful of candidates needs fewer examples than the paired test that guards the export,
    whose power grows with the check part (both parts keep the set's label mix).
    """
    idx = np.arange(n)
    return idx[idx % 3 == 0], idx[idx % 3 != 0]


def paired_z(better: np.ndarray, base: np.ndarray) -> tuple[float, int, int]:
    """Exact McNemar statistic of ``better`` over ``base`` on paired 0/1 correctness vectors, as a z-score.

    ``b`` counts examples only ``better`` gets right, ``c`` those only ``base`` gets right. Under "no
    difference" the larger of them is Binomial(b + c, 1/2); its one-sided tail probability ``p`` is
    reported as the normal quantile ``z = sign(b - c) * Phi^-1(1 - p)`` (at least 0), so thresholds
    such as 1.645 keep their one-sided 5 % meaning. The normal approximation ``(b - c) / sqrt(b + c)``
    used until session 18 overstates the evidence when few examples disagree: 7 against 2 gives 1.67,
    a false "better" at 5 %, where the exact tail is 9 % (z = 1.34); with many discordant pairs the two agree.
    """
    b = int(np.sum(better & ~base))
    c = int(np.sum(~better & base))
    return exact_z(b, c), b, c


def exact_z(b: int, c: int) -> float:
    """The z-score of :func:`paired_z` from the discordant counts (0 when ``b == c``)."""
    if b == c:
        return 0.0
    n, k = b + c, max(b, c)
    tail = sum(math.comb(n, j) for j in range(k, n + 1)) / 2**n  # exact integers; float only at the end
    if tail <= 0.0:  # below float range: the normal approximation is accurate there
        z = abs(b - c) / math.sqrt(n)
    else:
        z = max(0.0, -NormalDist().inv_cdf(min(tail, 0.5)))
    return math.copysign(z, b - c)


@dataclass
class _Scored:
    """One candidate prompt's validation answers, raw and calibrated."""

    candidate: Candidate
    prompt: TunedPrompt
    prior: tuple[float, ...]
    correct: dict[str, np.ndarray]  # mode -> (n_val,) bool
    loss: dict[str, float]  # mode -> mean cross-entropy of the true label
    # untuned candidates under ``pool_untuned``: mode -> (n_extra,) bool on the worker's other labelled examples
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    # prompts the guarding paired tests compare, under ``pool_check``: mode -> (n_held,) bool on the held-out pool
    held: dict[str, np.ndarray] = field(default_factory=dict)


def _score(client: Scorer, env: WorkerEnv, cand: Candidate, *, method: str, purpose: str, orders: int) -> _Scored:
    prompt = env.prompt(cand.fragment_ids, cand.demo_ids, method=method).with_orders(orders)
    scores: list[LabelScores] = prompt.score(client, [e.texts for e in env.validation], worker=env.worker_id,
                                             purpose=purpose)
    labels = [e.label for e in env.validation]
    prior = estimate_prior(scores)
    correct, loss = {}, {}
    for mode in MODES:
        preds, losses = predictions_and_losses(scores, labels, prior if mode == "cal" else None)
        correct[mode] = np.array([p == y for p, y in zip(preds, labels, strict=True)], dtype=bool)
        loss[mode] = float(np.mean(losses)) if losses else float("nan")
    return _Scored(cand, prompt, prior, correct, loss)


def untuned_extra_examples(env: WorkerEnv, untuned: Sequence[Candidate]) -> tuple[Example, ...]:
    """The worker's labelled examples besides validation that the untuned prompts can be judged on.

    Its training queries and its demonstration pool, minus every demonstration an untuned candidate
    shows (a prompt is not judged on its own demonstrations). The untuned prompts are fixed by the seed
    before any answer is seen, so these examples are as fresh to them as validation is; the tuned
    prompts, trained on the queries and drawn from the pool, are never judged on them.
    """
    u_count = len(env.pools)
    shown = {(i % u_count, int(k)) for c in untuned for i, k in enumerate(c.demo_ids)}
    pool = tuple(ex for u, group in enumerate(env.pools) for k, ex in enumerate(group) if (u, k) not in shown)
    return tuple(env.train) + pool


def _score_extra(client: Scorer, env: WorkerEnv, scored: Sequence[_Scored], *, purpose: str) -> np.ndarray:
    """Score the untuned candidates on :func:`untuned_extra_examples`, in place; returns those examples' labels.

    Calibrated answers use the prior each prompt has on validation, the one it would be exported with.
    """
    extra = untuned_extra_examples(env, [s.candidate for s in scored])
    for s in scored:
        s.extra = _answer_bits(client, env, s, extra, purpose=purpose)
    return np.array([e.label for e in extra], dtype=int)


def _answer_bits(client: Scorer, env: WorkerEnv, s: _Scored, examples: Sequence[Example], *,
                 purpose: str) -> dict[str, np.ndarray]:
    """Per mode, which of ``examples`` the prompt gets right (calibrated with its validation prior)."""
    answers = s.prompt.score(client, [e.texts for e in examples], worker=env.worker_id, purpose=purpose) if examples else []
    labels = [e.label for e in examples]
    out = {}
    for mode in MODES:
        preds, _ = predictions_and_losses(answers, None, s.prior if mode == "cal" else None)
        out[mode] = np.array([p == y for p, y in zip(preds, labels, strict=True)], dtype=bool)
    return out


def held_out_pool(env: WorkerEnv, prompts: Sequence[_Scored]) -> tuple[Example, ...]:
    """The worker's pool examples that none of ``prompts`` shows as a demonstration.

    No pool example is ever a query, neither in training (which draws the training queries) nor in
    ranking (the rank part of validation), so each is as fresh to a tuned prompt as the check part:
    the guarding paired tests may count them (``pool_check``, session 27). Leaving out every
    demonstration of every compared prompt keeps the tests paired on one example set.
    """
    u_count = len(env.pools)
    shown = {(i % u_count, int(k)) for s in prompts for i, k in enumerate(s.candidate.demo_ids)}
    return tuple(ex for u, group in enumerate(env.pools) for k, ex in enumerate(group) if (u, k) not in shown)


def _paired_prompts(wc: WorkerCandidates) -> list[_Scored]:
    """Every prompt :func:`report_counts` puts into a guarding paired test, distinct, in a fixed order.

    The untuned candidates, the starting set and, per mode, the best tuned prompt with and without the
    shared fragment: exactly the choices :func:`report_counts` and :func:`choose` make.
    """
    out: list[_Scored] = list(wc.groups["untuned"])
    start = _start(wc)
    if start is not None:
        out.append(start)
    for mode in wc.modes:
        for use_fragment in (False, True):
            t = _best(_tuned_pool(wc, use_fragment), mode, wc.ranking)
            if t is not None:
                out.append(t)
    return list({id(s): s for s in out}.values())


def _score_held(client: Scorer, env: WorkerEnv, wc: WorkerCandidates, *, purpose: str) -> None:
    """``pool_check``: score the paired prompts on the held-out pool, in place (see :func:`held_out_pool`)."""
    prompts = _paired_prompts(wc)
    held = held_out_pool(env, prompts)
    wc.held_labels = np.array([e.label for e in held], dtype=int)
    for s in prompts:
        s.held = _answer_bits(client, env, s, held, purpose=purpose)


def _best(scored: Sequence[_Scored], mode: str, rank: np.ndarray) -> _Scored | None:
    """The candidate with the most rank-part hits (ties: the earlier, i.e. simpler, candidate)."""
    if not scored:
        return None
    return max(scored, key=lambda s: (int(s.correct[mode][rank].sum()), -scored.index(s)))


@dataclass
class WorkerCandidates:
    """A worker's scored candidates and its fixed rank/check parts. Never leaves the worker."""

    groups: dict[str, list[_Scored]]  # untuned | plain (tuned demos) | fragment (with the shared fragment)
    rank: np.ndarray
    check: np.ndarray
    modes: tuple[str, ...]
    can_rank: bool = True  # False: the validation set holds one class only (see :func:`score_candidates`)
    labels: np.ndarray | None = None  # validation labels (they stay on the worker; only counts are reported)
    # a random demonstration set replaces the zero-shot prompt as the untuned incumbent only when it beats it
    # on the check part by this paired z (None: the best untuned prompt on the rank part, as before session 19)
    untuned_z: float | None = None
    # labels of the untuned prompts' extra examples (see _score_extra); None: no pool_untuned scoring was done
    extra_labels: np.ndarray | None = None
    # labels of the held-out pool the guarding paired tests also count (see _score_held); None: check part only
    held_labels: np.ndarray | None = None

    @property
    def pool_untuned(self) -> bool:
        """The server chooses zero-shot or random set from pooled hits (``SelectionConfig.pool_untuned``)."""
        return self.extra_labels is not None

    @property
    def ranking(self) -> np.ndarray:
        """The examples candidates are ranked on: none when they cannot tell classifiers apart."""
        return self.rank if self.can_rank else self.rank[:0]


@dataclass(frozen=True)
class SelectionReport:
    """What a worker reports for the shared choices: counts and check-part hit bits, no text, no ids."""

    mode_hits: dict[str, int]  # per mode: check-part hits of the worker's best untuned (else tuned) prompt
    fragment_hits: dict[str, tuple[bool, ...]]  # per mode: check-part hits of its best prompt with the fragment
    plain_hits: dict[str, tuple[bool, ...]]  # per mode: ... and of its best prompt without it
    # per "<mode>/<fragment kept: 0|1>": check-part hits of the best tuned and the best untuned prompt
    tuned_hits: dict[str, tuple[bool, ...]] = field(default_factory=dict)
    untuned_hits: dict[str, tuple[bool, ...]] = field(default_factory=dict)
    tuned_mode_hits: dict[str, int] = field(default_factory=dict)  # per mode: rank-part hits of the best tuned prompt
    # the same two choices as bits, for the paired tests that let raw answers replace calibrated ones
    mode_bits: dict[str, tuple[bool, ...]] = field(default_factory=dict)  # per mode: whole validation set
    tuned_mode_bits: dict[str, tuple[bool, ...]] = field(default_factory=dict)  # per mode: rank part
    # per mode: check-part hits of the starting demonstration set, which trained sets must beat (beat_start)
    start_hits: dict[str, tuple[bool, ...]] = field(default_factory=dict)
    # the zero-shot prompt's label probabilities summed over the worker's validation inputs, and their number:
    # that prompt is the same on every worker, so the server can pool its calibration prior (no labels sent)
    zero_shot_sum: tuple[float, ...] = ()
    zero_shot_n: int = 0
    # the raw-vs-calibrated tests per class, for reweighting to the federation's label mix (see _choose_mode):
    # label_counts[y] validation examples of class y; mode_split[side][y] = [raw only right, calibrated only right]
    label_counts: tuple[int, ...] = ()
    mode_split: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    # pool_untuned: per mode and class y, (zero-shot hits, random-set hits, examples) over validation and the
    # extra examples; and under the same keys as untuned_hits, the random set's check-part hits
    untuned_choice: dict[str, tuple[tuple[int, int, int], ...]] = field(default_factory=dict)
    random_hits: dict[str, tuple[bool, ...]] = field(default_factory=dict)

    _BITS = ("fragment_hits", "plain_hits", "tuned_hits", "untuned_hits", "mode_bits", "tuned_mode_bits",
             "start_hits", "random_hits")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (for a runtime that moves it over the wire)."""
        return {"mode_hits": self.mode_hits, "tuned_mode_hits": self.tuned_mode_hits,
                "zero_shot_sum": list(self.zero_shot_sum), "zero_shot_n": self.zero_shot_n,
                "label_counts": list(self.label_counts),
                "mode_split": {k: [list(bc) for bc in v] for k, v in self.mode_split.items()},
                "untuned_choice": {k: [list(t) for t in v] for k, v in self.untuned_choice.items()},
                **{name: {k: list(v) for k, v in getattr(self, name).items()} for name in self._BITS}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SelectionReport:
        """Inverse of :meth:`to_dict`."""
        bits = {name: {str(k): tuple(bool(x) for x in v) for k, v in d.get(name, {}).items()} for name in cls._BITS}
        return cls({str(m): int(v) for m, v in d["mode_hits"].items()}, **bits,
                   tuned_mode_hits={str(m): int(v) for m, v in d.get("tuned_mode_hits", {}).items()},
                   zero_shot_sum=tuple(float(x) for x in d.get("zero_shot_sum", ())),
                   zero_shot_n=int(d.get("zero_shot_n", 0)),
                   label_counts=tuple(int(x) for x in d.get("label_counts", ())),
                   mode_split={str(k): tuple((int(b), int(c)) for b, c in v)
                               for k, v in d.get("mode_split", {}).items()},
                   untuned_choice={str(k): tuple((int(a), int(b), int(n)) for a, b, n in v)
                                   for k, v in d.get("untuned_choice", {}).items()})


@dataclass(frozen=True)
class SharedDecision:
    """The server's choice of the shared parts: calibration mode, the fragment, tuned or untuned."""

    use_fragment: bool
    record: dict[str, Any]
    use_tuned: bool  # do-no-harm off, or the pooled paired test found the tuned prompts better
    tuned_mode: str
    untuned_mode: str
    zero_shot_prior: tuple[float, ...] = ()  # the zero-shot prompt's prior over every worker's validation inputs
    use_start: bool = False  # trained sets did not beat the starting set on the pooled check parts: keep it
    # pool_untuned: the untuned incumbent is each worker's random set (True) or the zero-shot prompt (False);
    # None: each worker chooses its own (test_untuned)
    untuned_random: bool | None = None

    @property
    def mode(self) -> str:
        """The exported prompts' mode: the tuned prompts' when they are used, else the untuned prompts'."""
        return self.tuned_mode if self.use_tuned else self.untuned_mode

    @property
    def modes(self) -> tuple[str, str]:
        """(mode of the tuned prompts, mode of the untuned prompts)."""
        return self.tuned_mode, self.untuned_mode

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the server sends it back to the workers)."""
        return {"use_fragment": self.use_fragment, "use_tuned": self.use_tuned, "tuned_mode": self.tuned_mode,
                "untuned_mode": self.untuned_mode, "zero_shot_prior": list(self.zero_shot_prior),
                "use_start": self.use_start, "untuned_random": self.untuned_random, "record": self.record}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SharedDecision:
        """Inverse of :meth:`to_dict`."""
        return cls(bool(d["use_fragment"]), dict(d.get("record", {})), bool(d["use_tuned"]), str(d["tuned_mode"]),
                   str(d["untuned_mode"]), tuple(float(x) for x in d.get("zero_shot_prior", ())),
                   bool(d.get("use_start", False)),
                   None if d.get("untuned_random") is None else bool(d["untuned_random"]))


def _key(mode: str, use_fragment: bool) -> str:
    return f"{mode}/{int(use_fragment)}"


def score_candidates(
    client: Scorer, env: WorkerEnv, *, tuned: Sequence[tuple[str, tuple[int, ...]]], shared_fragment: Sequence[int],
    settings: SelectionConfig, seed: int, method: str, purpose: str = "validation",
) -> WorkerCandidates:
    """Worker side, step 1: score every candidate on this worker's validation set (raw and calibrated)."""
    frag = tuple(int(j) for j in shared_fragment)
    has_fragment = bool(env.prompt(frag, ()).fragment_words)
    groups: dict[str, list[_Scored]] = {"untuned": [], "plain": [], "fragment": []}

    def score(c: Candidate) -> _Scored:
        return _score(client, env, c, method=method, purpose=purpose, orders=settings.demo_orders)

    extra_labels = None
    if settings.do_no_harm:
        groups["untuned"] = [score(c) for c in untuned_candidates(env, seed, settings)]
        if settings.pool_untuned and len(groups["untuned"]) > 1:
            extra_labels = _score_extra(client, env, groups["untuned"], purpose=purpose)
    for i, (name, ids) in enumerate(tuned):
        groups["plain"].append(score(Candidate(name, (), ids, True)))
        if has_fragment and i == 0:  # the fragment is tried with the policy's own demonstrations only
            groups["fragment"].append(score(Candidate(name + "+fragment", frag, ids, True)))
    if has_fragment and settings.do_no_harm:  # the fragment alone on the zero-shot prompt
        groups["fragment"].append(score(Candidate("manual+fragment", frag, (), True)))
    rank, check = _rank_check(len(env.validation))
    # Under label skew a worker can hold one class only (Dirichlet 0.5, 3 workers: 0 and 20 validation
    # examples). Hits on such a set reward leaning to that class, not classifying: on SUBJ the worker picked
    # a random set that scored 53.3 % on test where the manual prompt it passed over scored 61.3 %. Such a
    # worker ranks nothing, so every choice falls to the first candidate of its group (the manual prompt,
    # the policy's argmax), it reports nothing to the pooled choices (:func:`report_counts`), and its
    # check part cannot veto them.
    can_rank = len({env.validation[int(i)].label for i in rank}) >= 2
    labels = np.array([e.label for e in env.validation], dtype=int)
    wc = WorkerCandidates(groups, rank, check, MODES if settings.calibrate else ("raw",), can_rank, labels,
                          settings.accept_z if settings.test_untuned else None, extra_labels)
    if settings.pool_check and settings.do_no_harm and can_rank:  # a worker that cannot rank reports no bits
        _score_held(client, env, wc, purpose=purpose)
    return wc


def report_counts(wc: WorkerCandidates) -> SelectionReport:
    """Worker side, step 2: what the server needs for the shared choices.

    The calibration mode is a two-way choice between prompts the user could keep untuned, so it is
    judged on the whole validation set (more data, a negligible winner's curse); the fragment, a tuned
    part, only on the check part. A worker whose validation holds one class reports no hits: they
    reward leaning to that class (e.g. raw answers over calibrated ones), not classifying, so they
    must not sway the pooled choices any more than its own ranking (docs/algorithm.md, departure 18).
    Every worker reports its zero-shot prompt's answers summed over its validation inputs (|Y| numbers
    and a count), from which the server pools that shared prompt's calibration prior.
    """
    zero_shot = _zero_shot(wc)
    n_val = len(wc.rank) + len(wc.check)
    pooled_prior: dict[str, Any] = ({"zero_shot_sum": tuple(p * n_val for p in zero_shot.prior), "zero_shot_n": n_val}
                                    if zero_shot is not None else {})
    # the class count from any scored prompt: reweighting must not depend on do-no-harm's untuned candidates
    scored = next((s for group in wc.groups.values() for s in group), None)
    num_classes = len(scored.prior) if scored is not None else None
    if wc.labels is not None and num_classes:
        pooled_prior["label_counts"] = tuple(int(x) for x in np.bincount(wc.labels, minlength=num_classes))
    if not wc.can_rank:
        return SelectionReport(mode_hits={}, fragment_hits={}, plain_hits={}, **pooled_prior)
    mode_hits, frag_hits, plain_hits, tuned_hits, untuned_hits, tuned_mode_hits = {}, {}, {}, {}, {}, {}
    random_hits: dict[str, tuple[bool, ...]] = {}
    untuned_choice: dict[str, tuple[tuple[int, int, int], ...]] = {}
    mode_bits: dict[str, tuple[bool, ...]] = {}
    tuned_mode_bits: dict[str, tuple[bool, ...]] = {}
    start_hits: dict[str, tuple[bool, ...]] = {}
    g = wc.groups
    start = _start(wc)

    def bits(s: _Scored, mode: str, part: np.ndarray | None = None) -> tuple[bool, ...]:
        return tuple(bool(x) for x in s.correct[mode][wc.check if part is None else part])

    def test_bits(s: _Scored, mode: str) -> tuple[bool, ...]:
        """Bits for the guarding paired tests: the check part, then the held-out pool (``pool_check``)."""
        if wc.held_labels is None:
            return bits(s, mode)
        if mode not in s.held:
            raise ValueError(f"{s.candidate.name} was not scored on the held-out pool; score it in score_candidates")
        return bits(s, mode) + tuple(bool(x) for x in s.held[mode])

    every = np.arange(len(wc.rank) + len(wc.check))
    for mode in wc.modes:
        best = _best(g["untuned"] or g["plain"], mode, wc.ranking)
        mode_hits[mode] = int(best.correct[mode].sum()) if best else 0
        if best is not None:
            mode_bits[mode] = bits(best, mode, every)
        a, b = _best(g["fragment"], mode, wc.ranking), _best(g["plain"] or g["untuned"], mode, wc.ranking)
        if a is not None and b is not None:
            frag_hits[mode], plain_hits[mode] = bits(a, mode), bits(b, mode)
        # pool_untuned: report the zero-shot prompt's bits and the random set's; the server picks one of them
        u = _untuned(wc, mode, False if wc.pool_untuned else None)
        r = _untuned(wc, mode, True) if wc.pool_untuned else None
        if r is not None and u is not None and r is not u and num_classes:
            untuned_choice[mode] = _choice_counts(wc, u, r, mode, num_classes)
        if start is not None:
            start_hits[mode] = test_bits(start, mode)
        for use_fragment in (False, True):
            t = _best(_tuned_pool(wc, use_fragment), mode, wc.ranking)
            if t is not None and not use_fragment:  # the mode's count: the best tuned prompt without the fragment
                tuned_mode_hits[mode] = int(t.correct[mode][wc.ranking].sum())
                tuned_mode_bits[mode] = bits(t, mode, wc.ranking)
            if t is not None:  # also without untuned candidates (do-no-harm off): the start test pairs these
                tuned_hits[_key(mode, use_fragment)] = test_bits(t, mode)
            if t is not None and u is not None:
                untuned_hits[_key(mode, use_fragment)] = test_bits(u, mode)
            if t is not None and r is not None:
                random_hits[_key(mode, use_fragment)] = test_bits(r, mode)
    if "label_counts" in pooled_prior:
        split: dict[str, tuple[tuple[int, int], ...]] = {}
        for side, by_mode, labels in (("untuned", mode_bits, wc.labels), ("tuned", tuned_mode_bits, wc.labels[wc.ranking])):
            if "raw" in by_mode and "cal" in by_mode:
                split[side] = _split_by_class(by_mode["raw"], by_mode["cal"], labels, len(pooled_prior["label_counts"]))
        pooled_prior["mode_split"] = split
    return SelectionReport(mode_hits, frag_hits, plain_hits, tuned_hits, untuned_hits, tuned_mode_hits, mode_bits,
                           tuned_mode_bits, start_hits, **pooled_prior, untuned_choice=untuned_choice,
                           random_hits=random_hits)


def _choice_counts(wc: WorkerCandidates, zero: _Scored, rnd: _Scored, mode: str,
                   num_classes: int) -> tuple[tuple[int, int, int], ...]:
    """Per class: (zero-shot hits, random-set hits, examples) over validation plus the extra examples."""
    labels = np.concatenate([wc.labels if wc.labels is not None else np.zeros(0, dtype=int),
                             wc.extra_labels if wc.extra_labels is not None else np.zeros(0, dtype=int)])
    a = np.concatenate([zero.correct[mode], zero.extra.get(mode, np.zeros(0, dtype=bool))])
    b = np.concatenate([rnd.correct[mode], rnd.extra.get(mode, np.zeros(0, dtype=bool))])
    if not (len(labels) == len(a) == len(b)):
        raise ValueError("untuned candidates were scored on different examples; score them in one score_candidates")
    return tuple((int(np.sum(a & (labels == y))), int(np.sum(b & (labels == y))), int(np.sum(labels == y)))
                 for y in range(num_classes))


def _split_by_class(raw: Sequence[bool], cal: Sequence[bool], labels: np.ndarray,
                    num_classes: int) -> tuple[tuple[int, int], ...]:
    """Per class: (examples only the raw answers get right, examples only the calibrated ones get right)."""
    r, c = np.array(raw, dtype=bool), np.array(cal, dtype=bool)
    return tuple((int(np.sum(r & ~c & (labels == y))), int(np.sum(~r & c & (labels == y)))) for y in range(num_classes))


def _pooled_zero_shot_prior(reports: Sequence[SelectionReport]) -> tuple[float, ...]:
    """The zero-shot prompt's mean label distribution over every reporting worker's validation inputs."""
    sums = [r.zero_shot_sum for r in reports if r.zero_shot_n > 0]
    if not sums or len({len(x) for x in sums}) != 1:
        return ()
    n = sum(r.zero_shot_n for r in reports if r.zero_shot_n > 0)
    return tuple(float(sum(col)) / n for col in zip(*sums, strict=True))


def _tuned_pool(wc: WorkerCandidates, use_fragment: bool) -> list[_Scored]:
    return wc.groups["plain"] + (wc.groups["fragment"] if use_fragment else [])


def _untuned(wc: WorkerCandidates, mode: str, use_random: bool | None = None) -> _Scored | None:
    """The worker's untuned incumbent ``U``: the zero-shot prompt, unless its random set beats it (``test_untuned``).

    The random set is picked on the rank part; alone, that choice is a coin toss between two prompts on
    about 27 examples (cenDBT SUBJ seed 1 kept a 1-shot set that scored 50.0 % on test over the manual
    prompt). It replaces the zero-shot prompt only when a paired test on the check part says it is better.
    ``use_random`` (``pool_untuned``: the server's choice, or one side of it for the report): the best
    random set on the rank part (True; None when there is none) or the zero-shot prompt (False). A worker
    that cannot rank keeps the zero-shot prompt either way: its own prior would calibrate a random set to
    one class.
    """
    zero = _zero_shot(wc)
    if use_random is not None:
        if not use_random or not wc.can_rank:
            return zero
        return _best([s for s in wc.groups["untuned"] if s is not zero], mode, wc.ranking)
    best = _best(wc.groups["untuned"], mode, wc.ranking)
    if wc.untuned_z is None or best is None or zero is None or best is zero:
        return best
    z, _, _ = paired_z(best.correct[mode][wc.check], zero.correct[mode][wc.check])
    return best if z > wc.untuned_z else zero


def _zero_shot(wc: WorkerCandidates) -> _Scored | None:
    """The zero-shot (manual) prompt among the worker's untuned candidates (None with do-no-harm off)."""
    return next((s for s in wc.groups["untuned"] if s.candidate.name == ZERO_SHOT), None)


def _start(wc: WorkerCandidates) -> _Scored | None:
    """The starting demonstration set among the worker's tuned candidates (None without ``keep_start``)."""
    return next((s for s in wc.groups["plain"] if s.candidate.name == START), None)


def _pooled_test(better: Sequence[dict[str, tuple[bool, ...]]], base: Sequence[dict[str, tuple[bool, ...]]], key: str,
                 accept_z: float, base_key: str | None = None) -> tuple[bool, dict[str, Any]]:
    """Paired test of ``better`` (bits under ``key``) over ``base`` (under ``base_key``, default ``key``), pooled.

    Returns whether ``z > accept_z`` (False when no worker reported bits) and the statistic.
    """
    bk = key if base_key is None else base_key
    pairs = [(a[key], b[bk]) for a, b in zip(better, base, strict=True) if key in a and bk in b]
    a = [np.array(x, dtype=bool) for x, _ in pairs]
    b = [np.array(y, dtype=bool) for _, y in pairs]
    if not a:
        return False, {"z": 0.0, "b": 0, "c": 0}
    z, nb, nc = paired_z(np.concatenate(a), np.concatenate(b))
    return z > accept_z, {"z": z, "b": nb, "c": nc}


def _choose_mode(bits: Sequence[dict[str, tuple[bool, ...]]], counts: dict[str, int], modes: tuple[str, ...],
                 accept_z: float, tie: str | None = None,
                 reweighted: tuple[float, dict[str, Any]] | None = None) -> tuple[str, dict[str, Any]]:
    """Calibrated answers unless raw ones are better by a pooled paired test (``z > accept_z``).

    Calibration is the default because it is the better mode almost everywhere on the embedded model
    (docs/algorithm.md, departure 17), while validation is small: on SUBJ seed 1 raw answers won the
    old plain count by 139 to 138 hits and the exported prompts fell 12.7 points below the calibrated
    manual prompt on test. With ``reweighted`` (see :func:`_reweighted_mode_z`) that statistic decides.
    Reports without bits (older peers) fall back to that count, whose ties go to ``tie`` (else to the
    first mode).
    """
    if modes == ("raw",):
        return "raw", {"z": 0.0, "b": 0, "c": 0}
    if reweighted is not None:
        z, stat = reweighted
        return ("raw" if z > accept_z else "cal"), stat
    if any(bits) and all("raw" in b and "cal" in b for b in bits if b):
        raw_better, stat = _pooled_test(bits, bits, "raw", accept_z, base_key="cal")
        return ("raw" if raw_better else "cal"), stat
    mode = max(modes, key=lambda m: (counts[m], m == tie, -modes.index(m)))
    return mode, {"z": 0.0, "b": 0, "c": 0}


def _mix_weights(mix: np.ndarray, own_counts: Sequence[float]) -> np.ndarray:
    """Per class ``y``, ``g_y / l_y``: the federation's label mix over a worker's own (0 for a class it lacks).

    Weighting a worker's class-y examples by it gives its examples the federation's label mix, so a
    skewed worker's majority class does not decide a pooled choice.
    """
    own = np.asarray(own_counts, dtype=float)
    own = own / max(1.0, own.sum())
    return np.divide(mix, own, out=np.zeros_like(own), where=own > 0)


def _reweighted_mode_z(reports: Sequence[SelectionReport], side: str) -> tuple[float, dict[str, Any]] | None:
    """Pooled paired z of raw over calibrated answers, each worker's examples reweighted to the federation's label mix.

    Under label skew a worker's raw answers can win on its own validation by leaning to its majority
    class (non-IID SUBJ seed 2: workers with 84:21 and 31:88 validation examples each kept the prompt
    leaning their way, raw answers won the pooled test and scored 50.6 % on the shared test, where the
    calibrated manual prompt scores 62.3 %). The task is the federation's, so each worker's class-y
    examples count ``g_y / l_y`` (``g``: the pooled label mix over every worker, ``l``: the worker's
    own); with no skew every weight is about 1 and the test is the plain one. Only per-class counts
    cross the wire. None when some worker that reported bits sent no per-class counts (older peers).
    """
    totals = [r.label_counts for r in reports if r.label_counts]
    if not totals or len({len(t) for t in totals}) != 1:
        return None
    pooled = np.sum(np.array(totals, dtype=float), axis=0)
    mix = pooled / pooled.sum()
    num = var = 0.0
    used = 0
    bits = [r.mode_bits if side == "untuned" else r.tuned_mode_bits for r in reports]
    for r, b in zip(reports, bits, strict=True):
        if not b:
            continue
        if side not in r.mode_split or not r.label_counts:
            return None
        weights = _mix_weights(mix, r.label_counts)
        for w, (nb, nc) in zip(weights, r.mode_split[side], strict=True):
            num += w * (nb - nc)
            var += w * w * (nb + nc)
        used += 1
    if not used:
        return None
    z = num / math.sqrt(var) if var > 0 else 0.0
    return z, {"z": z, "reweighted": True, "label_mix": [round(float(x), 4) for x in mix]}


def decide_shared(reports: Sequence[SelectionReport], settings: SelectionConfig) -> SharedDecision:
    """Server side: pick the shared parts from the workers' reports.

    Calibrated answers unless raw ones win a pooled paired test, for the untuned and the tuned prompts
    separately; the fragment only when a pooled paired test says it helps (``z > accept_z``).
    """
    modes = MODES if settings.calibrate else ("raw",)
    mode_counts = {m: sum(r.mode_hits.get(m, 0) for r in reports) for m in modes}
    tuned_counts = {m: sum(r.tuned_mode_hits.get(m, 0) for r in reports) for m in modes}
    untuned_mode, mode_stat = _choose_mode([r.mode_bits for r in reports], mode_counts, modes, settings.accept_z,
                                           reweighted=_reweighted_mode_z(reports, "untuned"))
    tuned_mode, tuned_mode_stat = _choose_mode([r.tuned_mode_bits for r in reports], tuned_counts, modes,
                                               settings.accept_z, tie=untuned_mode,
                                               reweighted=_reweighted_mode_z(reports, "tuned"))
    use_fragment, frag_stat = _pooled_test([r.fragment_hits for r in reports], [r.plain_hits for r in reports],
                                           tuned_mode, settings.accept_z)
    tuned_key, untuned_key = _key(tuned_mode, use_fragment), _key(untuned_mode, use_fragment)
    untuned_random, choice_stat = _choose_untuned(reports, untuned_mode)
    untuned_bits = [r.random_hits if untuned_random and r.random_hits else r.untuned_hits for r in reports]
    # the incumbent: what the first round would keep, the starting sets if they beat the untuned prompts
    start_bits = [{tuned_key: r.start_hits[tuned_mode]} if tuned_mode in r.start_hits else {} for r in reports]
    start_ok, start_vs_untuned = False, {}
    if settings.beat_start and any(start_bits):
        start_ok, start_vs_untuned = (_pooled_test(start_bits, untuned_bits, tuned_key, settings.accept_z,
                                                   base_key=untuned_key) if settings.do_no_harm else (True, {}))
    use_start, start_stat = False, {}
    if start_ok:  # each worker's best tuned prompt against its starting set (the same prompt adds no discordant pair)
        trained_better, start_stat = _pooled_test([r.tuned_hits for r in reports], start_bits, tuned_key,
                                                  settings.accept_z)
        use_start = not trained_better
    if use_start:  # the starting sets are the incumbent and the trained ones did not beat them
        use_fragment, use_tuned, tuned_stat = False, True, start_vs_untuned
    elif settings.do_no_harm:  # the trained prompts beat the starting sets, or the untuned prompts are the incumbent
        use_tuned, tuned_stat = _pooled_test([r.tuned_hits for r in reports], untuned_bits, tuned_key,
                                             settings.accept_z, base_key=untuned_key)
    else:
        use_tuned, tuned_stat = True, {"z": 0.0, "b": 0, "c": 0}
    record = {"mode": tuned_mode if use_tuned else untuned_mode, "mode_counts": mode_counts, "tuned_mode": tuned_mode,
              "tuned_mode_counts": tuned_counts, "untuned_mode": untuned_mode, "mode_test": mode_stat,
              "tuned_mode_test": tuned_mode_stat, "fragment_kept": use_fragment,
              "fragment_test": frag_stat, "start_kept": use_start, "start_test": start_stat,
              "start_vs_untuned_test": start_vs_untuned,
              "tuned_kept": use_tuned, "tuned_test": tuned_stat, "untuned_choice": choice_stat}
    return SharedDecision(use_fragment, record, use_tuned, tuned_mode, untuned_mode, _pooled_zero_shot_prior(reports),
                          use_start, untuned_random)


def _choose_untuned(reports: Sequence[SelectionReport], mode: str) -> tuple[bool | None, dict[str, Any]]:
    """``pool_untuned``: keep the workers' random sets (True) or the zero-shot prompt (False), by pooled hits.

    Each worker's class-y examples count ``g_y / l_y`` (:func:`_mix_weights`, as in
    :func:`_reweighted_mode_z`), so a skewed worker's majority class does not decide. The more hits
    win, ties to the zero-shot prompt: both prompts are untuned, so neither needs a margin over the other.
    None (each worker chooses its own) when no worker reported the counts.
    """
    rows = [r.untuned_choice[mode] for r in reports if mode in r.untuned_choice]
    if not rows or len({len(x) for x in rows}) != 1:
        return None, {}
    counts = np.array([[n for _, _, n in row] for row in rows], dtype=float)
    mix = counts.sum(axis=0) / max(1.0, counts.sum())
    zero = rnd = 0.0
    for row, own_n in zip(rows, counts, strict=True):
        for w, (a, b, _) in zip(_mix_weights(mix, own_n), row, strict=True):
            zero, rnd = zero + w * a, rnd + w * b
    use_random = bool(rnd > zero)
    return use_random, {"mode": mode, "zero_shot_hits": round(zero, 3), "random_hits": round(rnd, 3),
                        "examples": int(counts.sum()), "workers": len(rows), "random_kept": use_random}


def choose(wc: WorkerCandidates, decision: SharedDecision, settings: SelectionConfig) -> WorkerChoice:
    """Worker side, step 3: its best tuned prompt if the pooled test accepted tuning, else its best untuned one."""
    g, rank, check = wc.groups, wc.ranking, wc.check
    tmode, umode = decision.modes
    start = _start(wc) if decision.use_start else None
    t = start if start is not None else _best(_tuned_pool(wc, decision.use_fragment), tmode, rank)
    u = _untuned(wc, umode, decision.untuned_random if wc.pool_untuned else None)
    rec: dict[str, Any] = {"candidates": {s.candidate.name: {m: float(s.correct[m].mean()) for m in wc.modes}
                                          for s in [*g["untuned"], *g["plain"], *g["fragment"]]}}
    if u is None:  # do-no-harm off: the best tuned prompt on the rank part
        winner, why = t, "best tuned on the rank part (do-no-harm off)"
    elif t is None:
        winner, why = u, "no tuned candidate"
    else:
        z, nb, nc = paired_z(t.correct[tmode][check], u.correct[umode][check])
        rec.update(tuned=t.candidate.name, untuned=u.candidate.name, z=z, b=nb, c=nc,
                   tuned_check=float(t.correct[tmode][check].mean()), untuned_check=float(u.correct[umode][check].mean()))
        pooled = float(decision.record.get("tuned_test", {}).get("z", 0.0))
        winner = t if decision.use_tuned and (z >= -settings.accept_z or not wc.can_rank) else u
        rec["can_rank"] = wc.can_rank
        if winner is t and start is not None:
            why = (f"tuned prompts beat untuned ones on the pooled check parts (z={pooled:.2f}), trained ones did "
                   f"not beat the starting sets; here start vs {u.candidate.name} z={z:.2f}")
        elif winner is t:
            why = (f"tuned prompts beat untuned ones on the pooled check parts (z={pooled:.2f}); here "
                   f"{t.candidate.name} vs {u.candidate.name} z={z:.2f}")
        elif decision.use_tuned:
            why = f"kept untuned {u.candidate.name}: here tuned {t.candidate.name} is worse (z={z:.2f})"
        else:
            why = (f"kept untuned {u.candidate.name}: tuned prompts did not beat untuned ones on the pooled "
                   f"check parts (z={pooled:.2f} <= {settings.accept_z})")
    if winner is None:
        raise ValueError("no candidate to select: give the worker tuned demonstration sets or keep do_no_harm on")
    mode = tmode if winner is t else umode
    prior = winner.prior
    if not wc.can_rank:
        why += "; this worker's validation holds one class, so it ranked nothing and kept the first candidate"
        # Its own prior is the mean answer over one class: mostly that class's signal, not the prompt's bias
        # (non-IID SUBJ seed 1: 57.0 % on test, 63.3 % with the prior pooled over every worker's inputs). The
        # zero-shot prompt is the same everywhere, so its pooled prior is used instead; a prompt with the
        # worker's own demonstrations has no pooled prior and keeps its own.
        if winner.candidate.name == ZERO_SHOT and decision.zero_shot_prior and mode == "cal":
            prior = decision.zero_shot_prior
            why += " (calibrated with the zero-shot prior pooled over every worker's validation inputs)"
    prompt = winner.prompt.with_calibration(prior if mode == "cal" else None)
    rec.update(winner=winner.candidate.name, tuned_won=winner.candidate.tuned, why=why, mode=mode)
    return WorkerChoice(prompt, winner.candidate.name, mode, float(winner.correct[mode].mean()), winner.loss[mode], rec)


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
    """Run the do-no-harm selection (module docstring) in one process and return each worker's prompt.

    The same three steps a distributed runtime runs with one round trip: :func:`score_candidates` and
    :func:`report_counts` on each worker, :func:`decide_shared` on the server, :func:`choose` on each
    worker.

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
    local = [score_candidates(client, env, tuned=sets, shared_fragment=shared_fragment, settings=settings, seed=seed,
                              method=method, purpose=purpose) for env, sets in zip(envs, tuned, strict=True)]
    decision = decide_shared([report_counts(wc) for wc in local], settings)
    choices = [choose(wc, decision, settings) for wc in local]
    frag = tuple(int(j) for j in shared_fragment)
    record = {**decision.record, "fragment": list(envs[0].prompt(frag, ()).fragment_words) if envs else []}
    return Selection(choices, decision.mode, frag if decision.use_fragment else (), record)
