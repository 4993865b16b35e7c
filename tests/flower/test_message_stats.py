"""The server's messaging breakdown: round trip minus handler work, split into process start, preparation, rest."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from asyndbt.runtime.flower._server import FlowerServer


def _stats(rows):
    return FlowerServer.message_stats(SimpleNamespace(step_seconds=rows, messages={"pushed": 4, "pulled": 4}))


def test_overhead_is_split_into_process_preparation_and_transport():
    rows = [(2.0, 1.0, 0.2, 0.1), (3.0, 1.5, 0.4, 0.1)]  # round trip, handler, process age, preparation
    s = _stats(rows)
    assert s["pushed"] == 4
    assert s["train_round_trip_s_mean"] == pytest.approx(2.5)
    assert s["train_handler_s_mean"] == pytest.approx(1.25)
    assert s["overhead_per_step_s_mean"] == pytest.approx(1.25)
    assert s["clientapp_process_s_mean"] == pytest.approx(0.3)
    assert s["node_prepare_s_mean"] == pytest.approx(0.1)
    assert s["polling_transport_s_mean"] == pytest.approx(1.25 - 0.3 - 0.1)


def test_nodes_that_do_not_report_the_split_get_no_breakdown():
    nan = math.nan
    s = _stats([(2.0, 1.0, nan, nan)])
    assert s["overhead_per_step_s_mean"] == pytest.approx(1.0)
    assert "clientapp_process_s_mean" not in s
    assert _stats([]) == {"pushed": 4, "pulled": 4}
