"""Demonstration-order ensembles: a prompt may average its answers over several orders of its demonstrations.

Scoring here goes through a deterministic fake scorer (named as such) whose answer depends on the order
of the demonstrations in the prefix, so the averaging is checked exactly; the real model path is covered
by tests/test_end_to_end.py.
"""

from __future__ import annotations

import math

import pytest

from asyndbt.errors import DataError
from asyndbt.llm import LabelScores
from asyndbt.prompt import TunedPrompt
from asyndbt.prompt._tuned import average_answers, demonstration_orders
from asyndbt.tasks import Example, get_task

TASK = get_task("sst2")
DEMOS = (Example("a", ("one",), 0), Example("b", ("two",), 1), Example("c", ("three",), 0))


class OrderSensitiveFakeScorer:
    """Deterministic fake LLM: p(second label) depends on where demonstrations "one" and "two" sit in the prefix."""

    def __init__(self) -> None:
        self.requests = []

    def score(self, requests, **kw):
        self.requests.extend(requests)
        out = []
        for r in requests:
            where = (r.prefix.index('"one"') + 2 * r.prefix.index('"two"')) / (3 * len(r.prefix))
            p = 0.2 + 0.4 * where + (0.1 if "good" in r.suffix else 0.0)
            out.append(LabelScores((math.log(1 - p), math.log(p)), prompt_tokens=10, prefix_tokens=6,
                                   label_tokens=(1, 1)))
        return out


def test_orders_start_as_listed_are_distinct_and_capped_by_the_permutations():
    orders = demonstration_orders(3, 5)
    assert orders[0] == (0, 1, 2) and len(orders) == 5 and len(set(orders)) == 5
    assert all(sorted(o) == [0, 1, 2] for o in orders)
    assert len(demonstration_orders(3, 24)) == 6  # only 3! orders exist
    assert demonstration_orders(1, 5) == () and demonstration_orders(4, 1) == ()
    assert demonstration_orders(8, 5) == demonstration_orders(8, 5)  # the same orders in every run


def test_a_prompt_with_orders_scores_each_order_and_averages_the_label_distributions():
    prompt = TunedPrompt(TASK, (), DEMOS).with_orders(3)
    fake = OrderSensitiveFakeScorer()
    answers = prompt.score(fake, [("good",), ("bad",)])
    assert len(fake.requests) == 6 and len(answers) == 2  # three orders of two queries
    assert len({r.prefix for r in fake.requests}) == 3  # each order its own shared prefix
    first_query = [fake.score([fake.requests[o * 2]])[0].probs[1] for o in range(3)]  # order-major requests
    assert len(set(first_query)) == 3  # the fake's answer really depends on the order
    assert answers[0].probs[1] == pytest.approx(sum(first_query) / 3)
    assert answers[0].prompt_tokens == 30  # token counts add up, so the ledger's cost stays true


def test_one_order_is_the_plain_prompt():
    plain = TunedPrompt(TASK, (), DEMOS)
    assert plain.with_orders(1) == plain and plain.with_orders(1).requests([("x",)]) == plain.requests([("x",)])


def test_orders_survive_export_and_a_bad_order_is_refused(tmp_path):
    prompt = TunedPrompt(TASK, ("vivid",), DEMOS, calibration=(0.4, 0.6)).with_orders(4)
    prompt.save(tmp_path / "p.json")
    assert TunedPrompt.load(tmp_path / "p.json").orders == prompt.orders
    with pytest.raises(DataError, match="not a permutation"):
        TunedPrompt(TASK, (), DEMOS, orders=((0, 1, 1),))


def test_answers_refuse_a_short_list():
    with pytest.raises(DataError, match="3 demonstration orders"):
        TunedPrompt(TASK, (), DEMOS).with_orders(3).answers([LabelScores((0.0, 0.0))] * 4)


def test_average_of_identical_answers_is_the_answer():
    s = LabelScores((math.log(0.3), math.log(0.7)))
    assert average_answers([s, s]).probs == pytest.approx(s.probs)
