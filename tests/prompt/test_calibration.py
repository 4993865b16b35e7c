import math

import pytest

from asyndbt.llm import LabelScores
from asyndbt.prompt import TunedPrompt, join_fragment
from asyndbt.prompt._calibration import calibrated_logprobs, estimate_prior, predictions_and_losses
from asyndbt.prompt._vocab import mine_label_words
from asyndbt.tasks import Example, get_task


def scores(*p_yes):
    return [LabelScores((math.log(1 - p), math.log(p))) for p in p_yes]


def test_prior_is_the_mean_label_distribution():
    assert estimate_prior(scores(0.9, 0.7)) == pytest.approx((0.2, 0.8))


def test_calibration_removes_a_constant_bias():
    batch = scores(0.95, 0.85, 0.9, 0.8)  # always "yes", but relatively less for the last two
    raw, _ = predictions_and_losses(batch, None, None)
    cal, _ = predictions_and_losses(batch, None, estimate_prior(batch))
    assert raw == [1, 1, 1, 1]
    assert cal == [1, 0, 1, 0]
    assert math.isclose(sum(math.exp(x) for x in calibrated_logprobs(batch[0].logprobs, (0.5, 0.5))), 1.0)


def test_tuned_prompt_round_trips_calibration_and_placement(tmp_path):
    task = get_task("sst2")
    demo = Example("d", ("a fine film",), 1)
    p = TunedPrompt(task, ("vivid",), (demo,), method="asyndbt", calibration=(0.3, 0.7), placement="query",
                    provenance={"model": "gemma3-270m"})
    p.save(tmp_path / "p.json")
    q = TunedPrompt.load(tmp_path / "p.json")
    assert q == p and q.provenance == {"model": "gemma3-270m"}
    req = q.requests([("a test",)])[0]
    assert "Note: vivid." in req.suffix and "Note:" not in req.prefix  # fragment once, in the query


def test_paper_placement_repeats_the_fragment():
    task = get_task("sst2")
    demo = Example("d", ("a fine film",), 1)
    req = TunedPrompt(task, ("vivid",), (demo,), placement="every").requests([("x",)])[0]
    assert "Note: vivid." in req.prefix and "Note: vivid." in req.suffix


def test_join_fragment_drops_empty_and_repeated_words():
    assert join_fragment(["", "film", "film", "", "plot"]) == "film plot"
    assert join_fragment(["", ""]) == ""


def test_label_words_are_readable_and_class_specific():
    texts = ["great fun film", "great acting film", "dull boring film", "boring plot film", "a b c", "x 12 y"]
    words = mine_label_words(texts, [1, 1, 0, 0, 0, 1], size=6)
    assert words[:2] == ["boring", "great"]
    assert all(w.isalpha() and len(w) >= 3 for w in words)
