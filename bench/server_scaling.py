"""Time and memory of one AsynDBT server update as the number of workers R grows (issue 6, item 3).

Run: ``python -m bench.server_scaling``. Fragment M = 75, vocabulary N = 100 (the paper's sizes),
S = max(1, R // 10) reports per update, psi > 0 (robust terms on) and psi = 0. Pure numpy, no LLM.
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc

import numpy as np

from asyndbt import algorithm as alg
from asyndbt.optim import project_simplex
from bench._common import RESULTS, machine_info


def _report(cfg, v: int, step: int, rng: np.random.Generator) -> alg.WorkerReport:
    p = project_simplex(rng.random((cfg.fragment_length, cfg.vocab_size)))
    return alg.WorkerReport(worker=v, step=step, based_on_server_step=0, p=p, p_prev=p,
                            grad_p=rng.standard_normal(p.shape), loss_mean=0.5, loss_std=0.1, n_scored=8)


def measure(r: int, psi: float, repeats: int = 5) -> dict:
    s = max(1, r // 10)
    cfg = alg.AlgorithmConfig(fragment_length=75, vocab_size=100, min_reports=s, tau=10**6, psi=psi,
                              cut_every=10**6).validate()
    rng = np.random.default_rng(0)
    tracemalloc.start()
    ss = alg.init_server(cfg, num_workers=r, seed=0)
    ss, _ = alg.server_start(ss, cfg)
    state_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    times = []
    for rep in range(repeats):
        reports = [_report(cfg, (rep * s + i) % r, rep, rng) for i in range(s)]
        for x in reports[:-1]:
            ss, _ = alg.server_on_report(ss, x, cfg)
        t0 = time.perf_counter()
        ss, updates = alg.server_on_report(ss, reports[-1], cfg)  # this one triggers the update
        times.append(time.perf_counter() - t0)
        assert len(updates) == s
    return {"workers": r, "reports_per_update": s, "psi": psi, "update_ms_median": 1000 * float(np.median(times)),
            "update_ms_min": 1000 * float(np.min(times)), "state_mb": state_bytes / 2**20}


def main(argv: list[str] | None = None) -> None:
    rows = [measure(r, psi) for psi in (0.01, 0.0) for r in (10, 100, 1000)]
    out = {"meta": {"machine": machine_info(), "command": "python -m bench.server_scaling " + " ".join(argv or sys.argv[1:]),
                    "fragment_length": 75, "vocab_size": 100, "target": "<= 5 ms per update at 1,000 workers"},
           "rows": rows}
    (RESULTS / "server_scaling.json").write_text(json.dumps(out, indent=1) + "\n")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
