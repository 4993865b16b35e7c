"""The do-no-harm selection protocol, driven by a deterministic FAKE scorer (not a language model).

The fake answers from markers in the prompt text, so each test knows exactly which candidate is
better and by how much; behaviour of the real model is measured in bench/fidelity.py.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from asyndbt.config import SelectionConfig
from asyndbt.llm import LabelScores
from asyndbt.session import WorkerEnv, paired_z, select_prompts
from asyndbt.session._selection import SelectionReport, SharedDecision, decide_shared, random_demo_ids
from asyndbt.tasks import Example, TaskSpec

TASK = TaskSpec("fake", 'Is "{text_a}" positive? Respond ONLY with "No" or "Yes".', ("No", "Yes"))


class MarkerScorer:
    """FAKE scorer. Without the GOLD demonstration it answers "Yes" with p=0.8 whatever the input (label
    bias); with it, it answers the right label for every query whose text does not contain "hard".
    """

    def __init__(self, weak_signal: bool = False) -> None:
        self.requests = 0
        self.weak_signal = weak_signal  # without GOLD: "Yes" always, but slightly more for true positives

    def score(self, requests, *, worker=None, step=None, purpose=None):
        self.requests += len(requests)
        out = []
        for r in requests:
            label = 1 if "zzpos" in r.suffix else 0
            if "GOLD" in r.prefix and "hard" not in r.suffix:
                p_yes = 0.9 if label == 1 else 0.1
            else:
                p_yes = 0.8 + (0.1 * label if self.weak_signal else 0.0)
            out.append(LabelScores((math.log(1 - p_yes), math.log(p_yes))))
        return out


def env(worker: int = 0, n_val: int = 80, skew: float = 0.5, gold_index: int = 3) -> WorkerEnv:
    rng = np.random.default_rng(worker)
    val = tuple(Example(f"v{i}", (("zzpos" if rng.random() < skew else "zzneg") + f" {i}",), 0) for i in range(n_val))
    val = tuple(Example(e.uid, e.texts, int(e.texts[0].startswith("zzpos"))) for e in val)
    pools = tuple(tuple(Example(f"p{c}-{j}", ("GOLD" if j == gold_index else f"plain {c} {j}",), c)
                        for j in range(6)) for c in range(2))
    train = (Example("t0", ("zzpos t 0",), 1),)
    return WorkerEnv(worker, TASK, train, val, val, pools, ("", "alpha", "beta"))


def run(envs, tuned_ids, weak_signal=False, **kw):
    settings = SelectionConfig(**kw)
    return select_prompts(MarkerScorer(weak_signal), envs, tuned=[[("argmax", ids)] for ids in tuned_ids], shared_fragment=[0, 0],
                          settings=settings, seed=0, method="asyndbt")


def test_better_tuned_prompt_replaces_the_untuned_one():
    envs = [env(w) for w in range(2)]
    sel = run(envs, [(3, 3), (3, 3)])
    assert [c.candidate for c in sel.choices] == ["argmax", "argmax"]
    assert all(c.record["tuned_won"] and c.record["z"] > 1.0 for c in sel.choices)
    # the exported prompt is exactly the scored one, with its calibration decision recorded
    assert all(c.prompt.demonstrations[0].texts == ("GOLD",) for c in sel.choices)


def test_tuned_prompt_no_better_than_untuned_is_not_exported():
    envs = [env(w) for w in range(2)]
    sel = run(envs, [(1, 2), (1, 2)])  # plain demos: no better than the untuned candidates
    assert all(not c.record["tuned_won"] for c in sel.choices)
    assert all(c.candidate in ("manual", "random-icl-0", "random-icl-1") for c in sel.choices)


def test_skewed_validation_keeps_the_raw_majority_answer():
    # 90 % "Yes": the biased raw answers score 0.9; dividing out the bias would lose to them
    envs = [env(w, skew=0.9) for w in range(2)]
    sel = run(envs, [(1, 2), (1, 2)])
    assert sel.mode == "raw"
    assert all(c.prompt.calibration is None and c.val_accuracy > 0.8 for c in sel.choices)


def test_calibration_can_be_switched_off_and_do_no_harm_off_exports_tuned():
    envs = [env(0)]
    sel = run(envs, [(1, 2)], calibrate=False, do_no_harm=False)
    assert sel.mode == "raw" and sel.choices[0].candidate == "argmax"
    assert set(sel.choices[0].record["candidates"]) == {"argmax"}


def test_calibrated_choice_stores_its_prior():
    # a model biased to "Yes" that still ranks positives higher: calibration turns 50 % into ~100 %
    sel = run([env(0, skew=0.5), env(1, skew=0.5)], [(1, 2), (1, 2)], weak_signal=True)
    assert sel.mode == "cal" and sel.record["mode_counts"]["cal"] > sel.record["mode_counts"]["raw"]
    for choice in sel.choices:
        assert choice.prompt.calibration is not None and math.isclose(sum(choice.prompt.calibration), 1.0)
        assert choice.val_accuracy > 0.9


def test_paired_z_counts_discordant_pairs():
    a = np.array([1, 1, 1, 0, 1], dtype=bool)
    b = np.array([0, 0, 1, 1, 1], dtype=bool)
    z, nb, nc = paired_z(a, b)
    assert (nb, nc) == (2, 1) and z == 0.0  # P(X >= 2 | Bin(3, 1/2)) = 1/2: no evidence at all
    assert paired_z(a, a)[0] == 0.0 and paired_z(b, a)[0] == 0.0


def test_the_paired_test_is_exact_where_few_examples_disagree():
    from asyndbt.session._selection import exact_z

    # 7 against 2: the normal approximation (1.67) would pass the one-sided 5 % bar; the exact tail is 46/512
    assert (7 - 2) / math.sqrt(9) > 1.645 > exact_z(7, 2)
    assert exact_z(7, 2) == pytest.approx(-NormalDist().inv_cdf(46 / 512))
    assert exact_z(2, 7) == -exact_z(7, 2)  # symmetric, so a local veto (z < -accept_z) means the same
    assert exact_z(9, 0) > 1.645  # p = 1/512
    # many discordant pairs: close to the normal approximation (slightly below it: the exact tail is wider)
    assert 0 < (60 - 30) / math.sqrt(90) - exact_z(60, 30) < 0.2
    assert exact_z(5000, 3000) > 20  # a tail below float range falls back to the approximation, not an error


def test_random_demo_sets_are_seeded_and_in_range():
    ids = random_demo_ids((4, 7), seed=3, worker=1, index=0)
    assert ids == random_demo_ids((4, 7), seed=3, worker=1, index=0)
    assert 0 <= ids[0] < 4 and 0 <= ids[1] < 7


def test_the_shared_choice_needs_only_the_reports():
    # the distributed form: workers score locally, report counts, the server decides, workers choose
    from asyndbt.session._selection import choose, decide_shared, report_counts, score_candidates

    envs = [env(w) for w in range(2)]
    settings = SelectionConfig()
    local = [score_candidates(MarkerScorer(), e, tuned=[("argmax", (3, 3))], shared_fragment=[0, 0], settings=settings,
                              seed=0, method="asyndbt") for e in envs]
    reports = [report_counts(wc) for wc in local]
    assert all(set(r.to_dict()) == {"mode_hits", "tuned_mode_hits", "fragment_hits", "plain_hits", "tuned_hits",
                                    "untuned_hits", "mode_bits", "tuned_mode_bits", "zero_shot_sum", "zero_shot_n",
                                    "label_counts", "mode_split", "start_hits", "untuned_choice",
                                    "random_hits"}
               for r in reports)  # counts, bits, per-class counts, the zero-shot prompt's summed answers: no text, no ids
    assert all(SelectionReport.from_dict(r.to_dict()) == r for r in reports)
    decision = decide_shared(reports, settings)
    together = run(envs, [(3, 3), (3, 3)])
    assert decision.mode == together.mode
    assert [choose(wc, decision, settings).candidate for wc in local] == [c.candidate for c in together.choices]


def _report(tuned: list[bool], untuned: list[bool]) -> SelectionReport:
    bits = {"cal/0": tuple(tuned)}, {"cal/0": tuple(untuned)}
    return SelectionReport({"raw": 0, "cal": 1}, {}, {}, *bits)


def test_pooled_test_accepts_a_gain_no_single_worker_shows():
    # each worker: tuned right on 3 examples untuned misses, wrong on 1 it gets: P = 5/16, no evidence
    one = _report([True] * 3 + [False] + [True] * 6, [False] * 3 + [True] + [True] * 6)
    settings = SelectionConfig()
    alone = decide_shared([one], settings)
    assert alone.mode == "cal" and not alone.use_tuned and alone.record["tuned_test"]["z"] < 1.0
    assert not decide_shared([one] * 3, settings).use_tuned  # 9 vs 3: P = 299/4096 = 7 %, not below 5 %
    pooled = decide_shared([one] * 4, settings)  # 12 vs 4 discordant pairs: P = 2517/65536 = 3.8 %
    assert pooled.use_tuned and pooled.record["tuned_test"]["z"] == pytest.approx(-NormalDist().inv_cdf(2517 / 65536))
    assert SharedDecision.from_dict(pooled.to_dict()) == pooled
    # do-no-harm off: tuned prompts are exported without a test
    assert decide_shared([one], SelectionConfig(do_no_harm=False)).use_tuned


def test_tuned_prompts_are_judged_in_their_own_calibration_mode():
    # the untuned prompts do best raw, the (calibration-trained) tuned ones calibrated: the paired test
    # compares each in its own mode, and the exported mode follows the winner
    tuned_cal = [True] * 8 + [False] * 2
    untuned_raw = [True] * 4 + [False] * 6
    report = SelectionReport({"raw": 30, "cal": 27}, {}, {}, {"cal/0": tuple(tuned_cal), "raw/0": (False,) * 10},
                             {"cal/0": (False,) * 10, "raw/0": tuple(untuned_raw)}, {"raw": 2, "cal": 9})
    decision = decide_shared([report] * 3, SelectionConfig())
    assert decision.modes == ("cal", "raw") and decision.use_tuned and decision.mode == "cal"
    assert SharedDecision.from_dict(decision.to_dict()) == decision
    assert SelectionReport.from_dict(report.to_dict()) == report
    # the same tuned bits no better than the untuned ones: keep the untuned prompts, in their mode
    worse = SelectionReport({"raw": 30, "cal": 27}, {}, {}, {"cal/0": tuple(untuned_raw)},
                            {"raw/0": tuple(untuned_raw)}, {"raw": 2, "cal": 9})
    kept = decide_shared([worse] * 3, SelectionConfig())
    assert not kept.use_tuned and kept.mode == "raw"


def test_raw_answers_replace_calibrated_ones_only_on_evidence():
    # SUBJ seed 1: raw answers one hit ahead on validation switched calibration off and cost 12.7 test
    # points; now raw must win a pooled paired test, like every other change the selection makes
    close_raw, close_cal = (True,) * 6 + (False,) * 4, (True,) * 5 + (False,) * 5  # raw: 1 discordant pair ahead
    close = SelectionReport({"raw": 6, "cal": 5}, {}, {}, {}, {}, {"raw": 6, "cal": 5},
                            {"raw": close_raw, "cal": close_cal}, {"raw": close_raw, "cal": close_cal})
    assert decide_shared([close] * 3, SelectionConfig()).modes == ("cal", "cal")  # 3 vs 0: P = 1/8
    d = decide_shared([close] * 5, SelectionConfig())  # 5 vs 0 discordant pairs pooled: P = 1/32
    assert d.modes == ("raw", "raw") and d.record["mode_test"]["z"] == pytest.approx(-NormalDist().inv_cdf(1 / 32))
    alone = decide_shared([close], SelectionConfig())  # one worker, 1 vs 0: no evidence: calibrated
    assert alone.modes == ("cal", "cal") and alone.record["mode_test"]["b"] == 1
    tie = SelectionReport({"raw": 5, "cal": 5}, {}, {}, {}, {}, {"raw": 5, "cal": 5},
                          {"raw": close_cal, "cal": close_cal}, {"raw": close_cal, "cal": close_cal})
    assert decide_shared([tie] * 3, SelectionConfig()).modes == ("cal", "cal")
    assert decide_shared([tie], SelectionConfig(calibrate=False)).modes == ("raw", "raw")
    assert SelectionReport.from_dict(close.to_dict()) == close


class DemoLeaningScorer:
    """FAKE scorer: with no demonstrations it answers "No" (p=0.7), with any it answers "Yes" (p=0.8)."""

    def score(self, requests, *, worker=None, step=None, purpose=None):
        return [LabelScores((math.log(0.2), math.log(0.8)) if r.prefix else (math.log(0.7), math.log(0.3)))
                for r in requests]


def test_a_worker_whose_validation_holds_one_class_ranks_nothing():
    # label skew can leave a worker one class only: its hits reward leaning to that class, not classifying
    one_class, mixed = env(0, skew=1.0), env(1, skew=0.5)
    assert {e.label for e in one_class.validation} == {1}
    sel = select_prompts(DemoLeaningScorer(), [one_class, mixed], tuned=[[("argmax", (1, 2))]] * 2,
                         shared_fragment=[0, 0], settings=SelectionConfig(), seed=0, method="asyndbt")
    lone = sel.choices[0]
    raw = {name: acc["raw"] for name, acc in lone.record["candidates"].items()}
    assert raw["random-icl-0"] == 1.0 and raw["manual"] == 0.0  # by its own hits it would take the leaning set
    assert lone.candidate == "manual" and lone.record["can_rank"] is False
    assert "one class" in lone.record["why"]
    assert sel.choices[1].record["can_rank"] is True


class ClassLeaningScorer:
    """FAKE scorer: always leans to "No" (raw answers are all "No"), more so for "zzneg" texts (most for odd
    ids), so dividing by the mean answer (calibration) tells the classes apart on mixed inputs."""

    def score(self, requests, *, worker=None, step=None, purpose=None):
        out = []
        for r in requests:
            words = r.suffix.replace('"', " ").split()
            i = next((int(w) for w in reversed(words) if w.isdigit()), 0)  # pool texts such as "GOLD": none
            p_no = (0.95 if i % 2 else 0.85) if "zzneg" in r.suffix else 0.6
            out.append(LabelScores((math.log(p_no), math.log(1 - p_no))))
        return out


def test_a_one_class_worker_does_not_sway_the_pooled_choice_of_raw_or_calibrated_answers():
    # On one class, raw answers that always say that class score 100 %; calibrated ones do not. Those hits
    # reward leaning, and they must not outvote the mixed worker, where calibration is what classifies.
    one_class, mixed = env(0, n_val=200, skew=0.0), env(1, n_val=40, skew=0.5)
    assert {e.label for e in one_class.validation} == {0}
    sel = select_prompts(ClassLeaningScorer(), [one_class, mixed], tuned=[[("argmax", (1, 2))]] * 2,
                         shared_fragment=[0, 0], settings=SelectionConfig(), seed=0, method="asyndbt")
    lone = sel.choices[0].record["candidates"]["manual"]
    assert lone["raw"] == 1.0 and lone["cal"] < 0.75  # by its own hits raw answers would win
    assert sel.record["untuned_mode"] == "cal" and sel.record["mode"] == "cal"
    alone = select_prompts(ClassLeaningScorer(), [mixed], tuned=[[("argmax", (1, 2))]],
                           shared_fragment=[0, 0], settings=SelectionConfig(), seed=0, method="asyndbt")
    assert sel.record["mode_counts"] == alone.record["mode_counts"]


def test_a_one_class_worker_calibrates_the_zero_shot_prompt_with_the_prior_pooled_over_every_worker():
    # Its own prior is the mean answer over one class (here p(No) = 0.6 or so): dividing by it removes
    # that class's signal, not the prompt's bias. The zero-shot prompt is the same on every worker, so
    # the server pools its prior over all validation inputs (sums and counts, no labels) and hands it back.
    one_class, mixed = env(0, n_val=200, skew=0.0), env(1, n_val=40, skew=0.5)
    scorer = ClassLeaningScorer()
    sel = select_prompts(scorer, [one_class, mixed], tuned=[[("argmax", (1, 2))]] * 2,
                         shared_fragment=[0, 0], settings=SelectionConfig(), seed=0, method="asyndbt")
    lone, other = sel.choices
    assert lone.candidate == "manual" and lone.mode == "cal"

    def mean_answer(envs):
        probs = [s.probs for e in envs for s in e.prompt((), ()).score(scorer, [x.texts for x in e.validation])]
        return tuple(np.mean(probs, axis=0))

    assert lone.prompt.calibration == pytest.approx(mean_answer([one_class, mixed]))
    assert lone.prompt.calibration != pytest.approx(mean_answer([one_class]))
    assert "pooled" in lone.record["why"]
    # a worker that can rank keeps the prior of its own inputs
    if other.candidate == "manual" and other.mode == "cal":
        assert other.prompt.calibration == pytest.approx(mean_answer([mixed]))


def test_the_zero_shot_prior_sums_travel_in_the_selection_messages():
    report = SelectionReport({"cal": 3}, {}, {}, zero_shot_sum=(1.5, 0.5), zero_shot_n=2)
    assert SelectionReport.from_dict(report.to_dict()) == report
    decision = decide_shared([report, SelectionReport({}, {}, {}, zero_shot_sum=(0.5, 1.5), zero_shot_n=2)],
                             SelectionConfig())
    assert decision.zero_shot_prior == pytest.approx((0.5, 0.5))
    assert SharedDecision.from_dict(decision.to_dict()) == decision


def test_raw_answers_that_win_only_by_leaning_to_each_workers_majority_class_do_not_switch_calibration_off():
    # Two workers skewed opposite ways: each one's raw answers lean to its own majority class and win on its
    # own validation (raw only right on the majority class, calibrated only right on the minority class).
    # Over the federation's label mix (50:50) the calibrated answers are better, so they stay.
    skewed = [SelectionReport({}, {}, {}, mode_bits={"raw": (True,), "cal": (False,)}, label_counts=(80, 20),
                              mode_split={"untuned": ((30, 0), (0, 12))}),
              SelectionReport({}, {}, {}, mode_bits={"raw": (True,), "cal": (False,)}, label_counts=(20, 80),
                              mode_split={"untuned": ((0, 12), (30, 0))})]
    plain = sum(b - c for r in skewed for b, c in r.mode_split["untuned"]) / math.sqrt(
        sum(b + c for r in skewed for b, c in r.mode_split["untuned"]))
    assert plain > 1.0  # unweighted, raw answers would win the pooled test
    decision = decide_shared(skewed, SelectionConfig())
    assert decision.untuned_mode == "cal"
    assert decision.record["mode_test"]["reweighted"] is True and decision.record["mode_test"]["z"] < 0
    # the same counts from two workers with the federation's own mix: raw answers win, as before
    level = [SelectionReport({}, {}, {}, mode_bits={"raw": (True,), "cal": (False,)}, label_counts=(50, 50),
                             mode_split={"untuned": ((30, 0), (0, 12))})] * 2
    assert decide_shared(level, SelectionConfig()).untuned_mode == "raw"
    assert SelectionReport.from_dict(skewed[0].to_dict()) == skewed[0]


def test_workers_report_their_label_mix_with_do_no_harm_switched_off():
    # The raw-or-calibrated reweighting needs each worker's label counts; they must not depend on the
    # untuned candidates (absent when do-no-harm is off, as in that ablation).
    from asyndbt.session._selection import report_counts, score_candidates

    e = env(0, skew=0.8)
    wc = score_candidates(MarkerScorer(), e, tuned=[("argmax", (1, 2))], shared_fragment=[0, 0],
                          settings=SelectionConfig(do_no_harm=False), seed=0, method="asyndbt")
    assert not wc.groups["untuned"]
    report = report_counts(wc)
    positives = sum(x.label for x in e.validation)
    assert report.label_counts == (len(e.validation) - positives, positives)
    assert "tuned" in report.mode_split and len(report.mode_split["tuned"]) == 2


def test_the_final_round_keeps_the_set_the_policy_started_from():
    """A policy that drifts away from a good starting set must not take it out of the final choice."""
    import dataclasses

    from asyndbt import algorithm as alg
    from asyndbt.session._selection import tuned_demo_sets

    cfg = alg.AlgorithmConfig(num_classes=2, vocab_size=3, fragment_length=2, shots=1, num_elites=1)
    ws = alg.init_worker(cfg, 0, pool_sizes=(6, 6), train_size=1, seed=0)
    start = tuple(int(j) for j in alg.starting_prompt(ws, cfg)[1])
    assert start == (0, 0)  # a uniform policy's argmax: the lowest ids
    drifted = dataclasses.replace(ws, q=(np.eye(6)[4] * 0.9 + 0.1 / 6, np.eye(6)[5] * 0.9 + 0.1 / 6),
                                  elites=((0.1, (0, 0), (2, 3)),))
    assert alg.starting_prompt(drifted, cfg)[1].tolist() == [0, 0]  # recomputed from the seed, not the current q
    final = tuned_demo_sets(drifted, cfg, final=True, keep_start=True)
    assert final == [("argmax", (4, 5)), ("elite-0", (2, 3)), ("start", (0, 0))]
    assert tuned_demo_sets(drifted, cfg, final=False, keep_start=True) == [("argmax", (4, 5)), ("start", (0, 0))]
    assert ("start", (0, 0)) not in tuned_demo_sets(drifted, cfg, final=True, keep_start=False)
    assert tuned_demo_sets(ws, cfg, final=True, keep_start=True) == [("start", (0, 0))]  # no duplicate before training moved q
    assert tuned_demo_sets(ws, cfg, final=True, keep_start=False) == [("argmax", (0, 0))]

    # with GOLD (pool item 0 of each class here) only in the starting set, selection exports it
    envs = [env(w, gold_index=0) for w in range(3)]
    sets = [tuned_demo_sets(drifted, cfg, final=True, keep_start=True) for _ in envs]
    sel = select_prompts(MarkerScorer(), envs, tuned=sets, shared_fragment=[0, 0], settings=SelectionConfig(),
                         seed=0, method="asyndbt")
    assert [c.candidate for c in sel.choices] == ["start"] * 3


def test_a_trained_set_replaces_the_starting_set_only_when_the_pooled_check_parts_say_it_is_better():
    """beat_start: a trained set no better than the start (here: answers identical) leaves the start exported."""
    envs = [env(w) for w in range(3)]  # GOLD is pool item 3 of each class

    def sets(trained):
        return [[("argmax", trained), ("start", (0, 0))] for _ in envs]

    def select(trained, **kw):
        return select_prompts(MarkerScorer(), envs, tuned=sets(trained), shared_fragment=[0, 0],
                              settings=SelectionConfig(do_no_harm=False, **kw), seed=0, method="asyndbt")

    tie = select((1, 2))  # neither set holds GOLD: the rank part ties, and ties go to the earlier, trained set
    assert tie.record["start_kept"] and [c.candidate for c in tie.choices] == ["start"] * 3
    assert tie.record["start_test"]["b"] == tie.record["start_test"]["c"] == 0
    assert [c.candidate for c in select((1, 2), beat_start=False).choices] == ["argmax"] * 3
    gain = select((3, 3))  # GOLD: better on every worker's check part
    assert not gain.record["start_kept"] and gain.record["start_test"]["z"] > 1.645
    assert [c.candidate for c in gain.choices] == ["argmax"] * 3
    assert all(c.prompt.demonstrations[0].texts == ("GOLD",) for c in gain.choices)

    # the decision travels with the flag (a Flower node applies it)
    decision = decide_shared([report_counts_of(e, sets((1, 2))[0]) for e in envs], SelectionConfig(do_no_harm=False))
    assert decision.use_start and SharedDecision.from_dict(decision.to_dict()).use_start


def _three_way(untuned: int, start: int, trained: int, n: int = 60) -> SelectionReport:
    """One worker's check-part bits, nested: the untuned prompt right on the first ``untuned`` examples,
    the starting set on those and ``start`` more, the trained set on those and ``trained`` more."""
    def bits(k: int) -> tuple[bool, ...]:
        return tuple(i < k for i in range(n))
    u, s, t = untuned, untuned + start, untuned + start + trained
    return SelectionReport({"raw": 0, "cal": 1}, {}, {}, {"cal/0": bits(t)}, {"cal/0": bits(u)}, start_hits={"cal": bits(s)})


def test_the_incumbent_is_what_the_first_round_would_keep():
    """Trained sets must beat the starting set only where the starting set beat the untuned prompts."""
    settings = SelectionConfig()
    # cenDBT SST-2 seed 0: the start edges the untuned prompt (4 vs 0, P = 1/16), the trained set edges the
    # start (4 vs 0): neither step is evidence, but trained vs untuned is (8 vs 0, P = 1/256)
    d = decide_shared([_three_way(30, 4, 4)], settings)
    assert not d.use_start and d.use_tuned and d.record["tuned_test"]["b"] == 8
    assert not d.record["start_vs_untuned_test"]["z"] > settings.accept_z
    # TREC seed 1: the start beats the untuned prompt (10 vs 0); the trained set only edges it (3 vs 0)
    d = decide_shared([_three_way(30, 10, 3)], settings)
    assert d.use_start and d.use_tuned and d.record["tuned_test"]["b"] == 10
    # the trained set beats the start (10 vs 0): it is exported
    d = decide_shared([_three_way(30, 10, 10)], settings)
    assert not d.use_start and d.use_tuned and d.record["start_test"]["b"] == 10
    # nothing beats the untuned prompt: it stays
    d = decide_shared([_three_way(30, 2, 2)], settings)
    assert not d.use_start and not d.use_tuned


def report_counts_of(e: WorkerEnv, tuned) -> SelectionReport:
    from asyndbt.session._selection import report_counts, score_candidates

    wc = score_candidates(MarkerScorer(), e, tuned=tuned, shared_fragment=[0, 0], settings=SelectionConfig(), seed=0,
                          method="asyndbt")
    return SelectionReport.from_dict(report_counts(wc).to_dict())


class RankPartLuckScorer:
    """FAKE scorer: every prompt answers the examples with an even id right and the others wrong, except
    that a prompt with demonstrations also answers the rank part right (every third example), or, with
    ``real_gain``, every example."""

    def __init__(self, real_gain: bool) -> None:
        self.real_gain = real_gain

    def score(self, requests, *, worker=None, step=None, purpose=None):
        out = []
        for r in requests:
            words = r.suffix.replace('"', " ").split()
            i = next(int(w) for w in reversed(words) if w.isdigit())
            label = 1 if "zzpos" in r.suffix else 0
            right = i % 2 == 0 or (bool(r.prefix) and (self.real_gain or i % 3 == 0))
            p_yes = 0.9 if (label == 1) == right else 0.1
            out.append(LabelScores((math.log(1 - p_yes), math.log(p_yes))))
        return out


def test_a_random_set_replaces_the_zero_shot_prompt_only_when_the_check_part_says_it_is_better():
    """test_untuned: cenDBT SUBJ seed 1 kept a 1-shot random set that won the rank part by luck (50.0 % on test)."""
    envs = [env(0)]

    def select(real_gain: bool, **kw):
        # the tuned set answers as the random set does: never better than it on the check part
        return select_prompts(RankPartLuckScorer(real_gain), envs, tuned=[[("argmax", (1, 2))]], shared_fragment=[],
                              settings=SelectionConfig(**{"pool_untuned": False, "pool_check": False, **kw}), seed=0,
                              method="asyndbt")

    lucky = select(False)
    assert lucky.choices[0].candidate == "manual" and lucky.choices[0].record["untuned"] == "manual"
    assert select(False, test_untuned=False).choices[0].candidate == "random-icl-0"  # the old rule takes the lucky set
    better = select(True)  # the random set is right everywhere: it beats the zero-shot prompt on the check part
    assert better.choices[0].record["untuned"] == "random-icl-0"
    assert better.choices[0].candidate in ("random-icl-0", "argmax")


class ExtraSignalScorer:
    """FAKE scorer: the zero-shot prompt says "Yes" (p=0.8) to everything; a prompt with demonstrations does
    too on validation texts, but answers training and pool texts ("xtra" in them) right. So validation cannot
    tell the two untuned prompts apart and the worker's other labelled examples can."""

    def __init__(self) -> None:
        self.texts: list[tuple[int | None, str]] = []  # (worker, query part) of every request

    def score(self, requests, *, worker=None, step=None, purpose=None):
        out = []
        for r in requests:
            self.texts.append((worker, r.suffix))
            label = 1 if "zzpos" in r.suffix else 0
            p_yes = (0.9 if label else 0.1) if r.prefix and "xtra" in r.suffix else 0.8
            out.append(LabelScores((math.log(1 - p_yes), math.log(p_yes))))
        return out


def extra_env(worker: int, n_val: int = 30, skew: float = 0.5) -> WorkerEnv:
    """A worker whose training queries and pool carry the "xtra" marker ExtraSignalScorer answers on."""
    base = env(worker, n_val=n_val, skew=skew)
    pools = tuple(tuple(Example(f"p{c}-{j}", (f"{'zzpos' if c else 'zzneg'} xtra pool {j}",), c) for j in range(6))
                  for c in range(2))
    train = tuple(Example(f"t{i}", (f"{'zzpos' if i % 2 else 'zzneg'} xtra train {i}",), i % 2) for i in range(10))
    return WorkerEnv(worker, TASK, train, base.validation, base.test, pools, base.vocab)


def test_the_server_chooses_zero_shot_or_random_set_from_hits_pooled_over_every_workers_labelled_examples():
    """pool_untuned (session 26): on ~53 check-part examples a worker could not see that its random set beat the
    zero-shot prompt by 5-9 points (SST-5, QNLI); its training queries and pool, pooled over workers, can."""
    from asyndbt.session._selection import untuned_candidates, untuned_extra_examples, worker_random_prompt

    envs = [extra_env(w) for w in range(3)]

    def select(**kw):
        scorer = ExtraSignalScorer()
        sel = select_prompts(scorer, envs, tuned=[[("argmax", (1, 2))]] * 3, shared_fragment=[],
                             settings=SelectionConfig(**kw), seed=0, method="asyndbt")
        return sel, scorer

    pooled, scorer = select()
    assert pooled.record["untuned_choice"]["random_kept"] is True
    assert pooled.record["untuned_choice"]["random_hits"] > pooled.record["untuned_choice"]["zero_shot_hits"]
    assert [c.record["untuned"] for c in pooled.choices] == ["random-icl-0"] * 3
    # the report's random-icl baseline is the very set each worker could keep (and exported here)
    for w, choice in enumerate(pooled.choices):
        assert choice.candidate == "random-icl-0"
        assert worker_random_prompt(envs[w], 0).demonstrations == choice.prompt.demonstrations
    assert worker_random_prompt(envs[0], 0).demonstrations != worker_random_prompt(envs[0], 1).demonstrations
    # judged on training queries and pool, never on the random set's own demonstrations
    cands = untuned_candidates(envs[0], 0, SelectionConfig())
    extra = untuned_extra_examples(envs[0], cands)
    shown = {envs[0].pools[i % 2][k].texts[0] for c in cands for i, k in enumerate(c.demo_ids)}
    assert len(shown) == 2 and len(extra) == 10 + 12 - 2 and not shown & {e.texts[0] for e in extra}
    queries = [q for w, q in scorer.texts if w == 0]
    assert any("xtra train" in q for q in queries) and any("xtra pool" in q for q in queries)
    assert not any(t in q for t in shown for q in queries)  # no query is one of its own random set's demonstrations
    # the per-worker check-part test sees nothing (validation ties) and keeps the zero-shot prompt
    local, _ = select(pool_untuned=False)
    assert [c.record["untuned"] for c in local.choices] == ["manual"] * 3 and local.record["untuned_choice"] == {}


def test_the_untuned_choice_weighs_each_worker_to_the_federations_label_mix_and_travels_in_the_messages():
    from asyndbt.session._selection import SelectionReport, decide_shared

    # two workers skewed opposite ways; each one's random set wins only on its own majority class, by leaning
    skewed = [SelectionReport({"cal": 1}, {}, {}, untuned_choice={"cal": ((40, 70, 80), (15, 5, 20))}),
              SelectionReport({"cal": 1}, {}, {}, untuned_choice={"cal": ((15, 5, 20), (40, 70, 80))})]
    assert sum(b - a for r in skewed for a, b, _ in r.untuned_choice["cal"]) > 0  # unweighted: random would win
    d = decide_shared(skewed, SelectionConfig())
    assert d.untuned_random is False and d.record["untuned_choice"]["random_kept"] is False
    level = [SelectionReport({"cal": 1}, {}, {}, untuned_choice={"cal": ((40, 70, 80), (15, 5, 20))})] * 2
    assert decide_shared(level, SelectionConfig()).untuned_random is True  # the same mix everywhere: more hits win
    tie = [SelectionReport({"cal": 1}, {}, {}, untuned_choice={"cal": ((10, 10, 20), (10, 10, 20))})]
    assert decide_shared(tie, SelectionConfig()).untuned_random is False  # ties keep the zero-shot prompt
    assert decide_shared([SelectionReport({"cal": 1}, {}, {})], SelectionConfig()).untuned_random is None  # nothing reported
    assert SelectionReport.from_dict(skewed[0].to_dict()) == skewed[0]
    assert SharedDecision.from_dict(d.to_dict()) == d


class PoolSignalScorer:
    """FAKE scorer: on validation every prompt answers the examples with an even id right and the others wrong
    (no prompt beats another there); on pool texts a prompt showing four demonstrations answers right and any
    other prompt wrong. So only the held-out pool can tell the 4-shot tuned set from the untuned prompts."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []  # (prefix, query part) of every pool query

    def score(self, requests, *, worker=None, step=None, purpose=None):
        out = []
        for r in requests:
            label = 1 if "zzpos" in r.suffix else 0
            if "xtra pool" in r.suffix:
                self.seen.append((r.prefix, r.suffix))
                right = r.prefix.count("xtra pool") >= 4
            else:
                i = next(int(w) for w in reversed(r.suffix.replace('"', " ").split()) if w.isdigit())
                right = i % 2 == 0
            p_yes = 0.9 if (label == 1) == right else 0.1
            out.append(LabelScores((math.log(1 - p_yes), math.log(p_yes))))
        return out


def test_the_guarding_tests_count_the_held_out_pool_and_never_a_prompts_own_demonstrations():
    """pool_check (session 27): the check part alone could not confirm a 4-shot set against a lucky random set
    (IID SST-2 seed 0: 77.9 -> 64.7 % on test); the pool, which no prompt ever answers as a query, can."""
    from asyndbt.session._selection import held_out_pool, score_candidates

    envs = [extra_env(w) for w in range(3)]
    tuned = [("argmax", (0, 1, 2, 3))]  # two per class: pool items 0 and 2 of class 0, 1 and 3 of class 1

    def select(**kw):
        scorer = PoolSignalScorer()
        sel = select_prompts(scorer, envs, tuned=[tuned] * 3, shared_fragment=[], settings=SelectionConfig(**kw),
                             seed=0, method="asyndbt")
        return sel, scorer

    with_pool, scorer = select()
    assert with_pool.record["tuned_kept"] is True and [c.candidate for c in with_pool.choices] == ["argmax"] * 3
    assert with_pool.record["tuned_test"]["c"] == 0 and with_pool.record["tuned_test"]["z"] > 1.645
    check_only, _ = select(pool_check=False)
    assert check_only.record["tuned_kept"] is False  # validation ties, so the untuned incumbent stays
    assert check_only.record["tuned_test"]["b"] == check_only.record["tuned_test"]["c"] == 0
    # the held-out pool leaves out every demonstration any compared prompt shows, so no prompt answers its own
    for prefix, query in scorer.seen:
        assert query.split('"')[1] not in prefix
    wc = score_candidates(PoolSignalScorer(), envs[0], tuned=tuned, shared_fragment=[], settings=SelectionConfig(),
                          seed=0, method="asyndbt")
    paired = [s for g in wc.groups.values() for s in g]
    held = held_out_pool(envs[0], paired)
    assert len(held) == len(wc.held_labels) == 12 - len({(i % 2, k) for s in paired for i, k in enumerate(s.candidate.demo_ids)})
    assert all(len(s.held["cal"]) == len(held) for s in paired)
