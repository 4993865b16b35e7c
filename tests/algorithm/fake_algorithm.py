"""A deterministic FAKE loss and a tiny discrete-event driver for algorithm tests (no LLM)."""

from __future__ import annotations

import numpy as np

from asyndbt.algorithm import (
    AlgorithmConfig,
    init_server,
    init_worker,
    server_on_report,
    server_start,
    worker_on_scores,
    worker_on_update,
    worker_plan,
)


class FakeLoss:
    """loss = fraction of fragment words outside a target set + quality of the chosen demos + query noise.

    Deterministic: the same (fragment, demos, query) always gives the same loss.
    """

    def __init__(self, vocab_size: int, pool_sizes: tuple[int, ...], *, seed: int = 0) -> None:
        rng = np.random.default_rng([seed, 999])
        self.target = np.zeros(vocab_size, dtype=bool)
        self.target[rng.choice(vocab_size, max(1, vocab_size // 5), replace=False)] = True
        # demo_quality[u][j] in [0, 1]: one good candidate per class, the rest mediocre
        self.demo_quality = [rng.uniform(0.4, 1.0, v) for v in pool_sizes]
        for u, v in enumerate(pool_sizes):
            self.demo_quality[u][rng.integers(v)] = 0.0
        self.query_noise = rng.uniform(0.0, 0.1, 10_000)

    def per_sample(self, fragments: np.ndarray, demos: np.ndarray) -> np.ndarray:
        frag = 1.0 - self.target[fragments].mean(axis=1) if fragments.shape[1] else np.zeros(len(fragments))
        u_count = len(self.demo_quality)  # slot i holds class i % U
        demo = np.mean([[self.demo_quality[i % u_count][d[i]] for i in range(demos.shape[1])] for d in demos], axis=1)
        return frag + demo

    def __call__(self, batch) -> np.ndarray:  # noqa: ANN001
        base = self.per_sample(batch.fragments, batch.demos)
        return base[:, None] + self.query_noise[batch.queries][None, :]

    def expected(self, ws) -> float:  # noqa: ANN001
        """Expected loss (without query noise) under the worker's policies, one draw per class.

        Exact for one shot per class; with more shots (draws without replacement) it is the same
        monotone proxy: it falls as the policies move mass to the good candidates.
        """
        frag = 1.0 - float((ws.p @ self.target.astype(float)).mean()) if ws.p.shape[0] else 0.0
        demo = float(np.mean([q @ qual for q, qual in zip(ws.q, self.demo_quality, strict=True)]))
        return frag + demo


def run_fake(cfg: AlgorithmConfig, *, num_workers: int, events: int, seed: int = 0, order_seed: int = 0,
             pool_sizes: tuple[int, ...] = (6, 6), train_size: int = 40, speeds=None):  # noqa: ANN001
    """Simulate: workers with different speeds report in an order drawn from order_seed.

    Returns (server state, worker states, list of server update infos, fake loss).
    """
    fake = FakeLoss(cfg.vocab_size, pool_sizes, seed=seed)
    ss = init_server(cfg, num_workers=num_workers, seed=seed)
    ss, ups = server_start(ss, cfg)
    ws = [init_worker(cfg, v, pool_sizes=pool_sizes, train_size=train_size, seed=seed)
          for v in range(num_workers)]
    for u in ups:
        ws[u.worker] = worker_on_update(ws[u.worker], u, cfg)
    order_rng = np.random.default_rng([order_seed, 7])
    speeds = np.asarray(speeds if speeds is not None else np.linspace(1.0, 3.0, num_workers))
    # each worker is either "computing" (report ready at time t) or "waiting" for a server reply
    next_time = {v: float(order_rng.exponential(speeds[v])) for v in range(num_workers)}
    infos = []
    for _ in range(events):
        if not next_time:
            break
        v = min(next_time, key=lambda k: (next_time[k], k))
        now = next_time.pop(v)
        batch = worker_plan(ws[v], cfg)
        ws[v], report = worker_on_scores(ws[v], batch, fake(batch), cfg)
        ss, ups = server_on_report(ss, report, cfg)
        if ups:
            infos.append(ss.last_update_info)
        for u in ups:
            ws[u.worker] = worker_on_update(ws[u.worker], u, cfg)
            next_time[u.worker] = now + float(order_rng.exponential(speeds[u.worker]))
    return ss, ws, infos, fake
