"""Our wire dataclasses survive the trip through Flower records; payloads hold only numbers and counters."""

from __future__ import annotations

import numpy as np

from asyndbt import algorithm as alg
from asyndbt.runtime.flower import from_record, to_record


def test_server_update_round_trip_with_no_cuts():
    # Prepare
    rng = np.random.default_rng(0)
    u = alg.ServerUpdate(2, 7, rng.random((3, 5)), rng.random((3, 5)), np.zeros((0, 3, 5)), np.zeros((0,)))
    # Execute
    back = from_record(to_record(u))
    # Assert
    assert back.to_dict() == u.to_dict()


def test_worker_report_round_trip_is_lossless():
    rng = np.random.default_rng(1)
    r = alg.WorkerReport(1, 4, 3, rng.random((2, 4)), rng.random((2, 4)), rng.standard_normal((2, 4)), 0.123456789,
                         0.5, 8)
    rec = to_record(r)
    assert set(rec) == {"arrays", "metrics", "meta"}
    assert all(isinstance(v, int | str) for v in rec["meta"].values())
    assert from_record(rec).to_dict() == r.to_dict()
