"""Byzantine workers for robustness studies: adversarial reports and label-poisoned local data.

A federated tuner has to be tested against parties that lie. These functions turn an honest
worker's report (or local data) into an attacker's; the simulator applies them to the workers named
in ``simulation.byzantine``. Every corrupted report is a valid message (shapes right, rows on the
simplex), so the server's input checks cannot catch it: only the algorithm's robustness can.

Attacks:

* ``sign_flip``: move the policy the opposite way, ``scale`` times as far
  (``p' = proj(p_prev - scale (p - p_prev))``, ``grad' = -scale grad``).
* ``random``: a random point of the simplex per row (Dirichlet(1)) and a random gradient.
* ``target_fragment``: always report the one-hot policy of a fixed fragment (word ids drawn once
  from the run seed), pulling the consensus towards the attacker's words.
* ``label_poison``: honest algorithm on poisoned data: every training label is shifted to the next
  class and the demonstration pools are rotated the same way.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from asyndbt.algorithm import WorkerReport
from asyndbt.config import REPORT_ATTACKS
from asyndbt.optim import project_simplex
from asyndbt.session._worker_env import WorkerEnv

SIGN_FLIP_SCALE = 4.0


def target_fragment_ids(seed: int, num_positions: int, vocab_size: int) -> np.ndarray:
    """The fixed fragment a ``target_fragment`` attacker pushes (same for the whole run)."""
    return np.random.default_rng([seed, 0xB7]).integers(vocab_size, size=num_positions)


def corrupt_report(report: WorkerReport, attack: str, *, seed: int) -> WorkerReport:
    """Replace an honest report's policy and gradient by the attacker's (counter-seeded by worker and step)."""
    p, p_prev, grad = np.asarray(report.p), np.asarray(report.p_prev), np.asarray(report.grad_p)
    m, n = p.shape
    if attack == "sign_flip":
        new_p = project_simplex(p_prev - SIGN_FLIP_SCALE * (p - p_prev)) if m else p
        new_grad = -SIGN_FLIP_SCALE * grad
    elif attack == "random":
        rng = np.random.default_rng([seed, 0xB1, report.worker, report.step])
        new_p = rng.dirichlet(np.ones(n), size=m) if m else p
        new_grad = rng.standard_normal((m, n))
    elif attack == "target_fragment":
        onehot = np.zeros((m, n))
        onehot[np.arange(m), target_fragment_ids(seed, m, n)] = 1.0
        new_p, new_grad = onehot, -(onehot - 1.0 / n)
    else:
        raise ValueError(f"{attack!r} is not a report attack; use one of {', '.join(REPORT_ATTACKS)}")
    return dataclasses.replace(report, p=new_p, grad_p=new_grad)


def poison_env(env: WorkerEnv) -> WorkerEnv:
    """The ``label_poison`` attacker's local data: labels shifted by one class, pools rotated to match."""
    c = env.task.num_classes
    train = tuple(dataclasses.replace(ex, label=(ex.label + 1) % c) for ex in env.train)
    pools = tuple(env.pools[(u - 1) % c] for u in range(c))  # demos shown as class u come from class u-1
    return dataclasses.replace(env, train=train, pools=pools)
