"""The one typed configuration of the algorithm layer, validated in one place."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from asyndbt.errors import ConfigError

# Default staleness bound, in a worker's own steps (see ``AlgorithmConfig.staleness_bound``).
TAU_PER_ROUND = 2.5
METHODS = ("asyndbt", "sync-dbt", "cendbt", "bdpl", "demos-only", "fragment-only", "random-search", "fedavg")
OPTIMIZERS = ("eg", "projected-adam")

# The values the paper reports (NOTES.md §3d, §5): M=75 words from N=100 candidates, V=50 demos per
# class, Adam with lr 1e-4 for the policies and 1e-1 for the Lagrangian duals. The paper does not
# give mu, psi, epsilon, K, delta, tau, gamma, S, I or B; those keep our defaults.
PAPER_PRESET: dict[str, Any] = {
    "fragment_length": 75,
    "vocab_size": 100,
    "lr_p": 1e-4,
    "lr_q": 1e-4,
    "lr_rho": 0.1,
    "lr_lambda": 0.1,
    "use_adam": True,
    "shots": 1,
}


@dataclass(frozen=True)
class AlgorithmConfig:
    """Hyperparameters of AsynDBT and its variants (see docs/algorithm.md for every symbol).

    The defaults are tuned to *move* within 20-50 worker steps of ``I = 4`` samples, which the
    paper's Adam lr of 1e-4 cannot do (``PAPER_PRESET`` keeps the paper's values).

    Attributes:
        method: One of ``METHODS``. ``sync-dbt`` forces ``S = R`` and ``tau = 1``; ``cendbt`` and
            ``bdpl`` run one worker without consensus terms; ``bdpl`` and ``fragment-only`` freeze the
            demonstrations at a seeded random choice; ``demos-only`` tunes no fragment (``M`` is
            treated as 0 whatever ``fragment_length`` says). ``fedavg`` is FedAvg-style synchronous
            prompt tuning, a baseline from federated learning rather than from the paper: every round
            waits for all workers, the server averages their fragment policies, each worker restarts
            from that average, and there are no consensus duals or cuts (demonstrations stay local).
        fragment_length: ``M``, words in the prompt fragment.
        vocab_size: ``N``, candidate words/n-grams per fragment position.
        num_classes: ``U``, the number of classes (demonstration pools).
        shots: ``D``, demonstrations per class in every prompt (``D * U`` in all, classes alternating).
            The paper uses 1. With the embedded model, random sets of 4 per class beat 2 per class by
            4-12 points on SST-2 and TREC (docs/algorithm.md, departure 16). A pool smaller than ``D``
            contributes all it has.
        samples_per_step: ``I``, (fragment, demonstrations) samples scored per worker step (>= 2).
        batch_size: ``B``, training queries per worker step.
        lr_p: ``eta_p``, step size of the fragment policy (after Adam).
        lr_q: ``eta_q``, step size of the demonstration policies (after Adam).
        lr_z: ``eta_z``, server step size of the consensus variable ``z``.
        lr_rho: ``eta_rho``, server step size of the consensus duals ``rho``.
        lr_lambda: ``eta_lambda``, server step size of the cut duals ``lambda``.
        mu: ``mu``, augmented-Lagrangian consensus penalty.
        psi: ``psi``, weight of the robust ``sign`` consensus terms (0 disables them).
        epsilon: ``epsilon``, tolerance of the relaxed constraint ``h <= epsilon`` (``h`` is the mean
            l1 distance per simplex row, see docs).
        cut_every: ``delta``, server iterations between cutting-plane updates.
        phi_steps: ``K``, steps of the consensus augmented Lagrangian used to estimate ``phi``.
        gamma: ``gamma``, a cut whose dual stays below this at two consecutive checks is dropped.
        max_cuts: Maximum number of live cuts (the weakest is replaced when full).
        tau: ``tau``, staleness bound: no live worker may miss ``tau`` consecutive server iterations.
            ``None`` (default): :meth:`staleness_bound`, which scales with ``R / S``.
        min_reports: ``S``, reports needed for a server update (capped by the live workers).
        dual_reg: ``c1``, regulariser of the cut-dual ascent ``lambda += eta(cut - c1 lambda)``.
        use_adam: Precondition the policy gradients with Adam (paper: yes).
        adam_b1: Adam's first-moment decay.
        adam_b2: Adam's second-moment decay.
        grad_clip: Global-norm clip of each raw policy gradient (BDPL uses 3); ``None`` disables it.
            Used by ``projected-adam`` only.
        score_eps: Floor on sampled probabilities inside the score function.
        optimizer: ``eg`` (default): exponentiated-gradient steps on the logits with normalised,
            clipped advantages and a uniform floor, so no candidate dies from one bad sample;
            ``projected-adam``: the reconstruction's Adam + Euclidean simplex projection (ablation).
        floor: ``eg`` only: share of uniform probability mixed into every policy row after each step.
        empty_word_prior: Initial probability of vocabulary entry 0 at every fragment position. The
            run's vocabulary starts with the empty word (no word), so a positive value starts the
            search near "change nothing"; 0 starts uniform.
        num_elites: Best sampled prompts (lowest training loss) a worker remembers as candidates
            for the final selection.
    """

    method: str = "asyndbt"
    fragment_length: int = 3
    vocab_size: int = 50
    num_classes: int = 2
    shots: int = 4
    samples_per_step: int = 4
    batch_size: int = 8
    lr_p: float = 1.0
    lr_q: float = 1.0
    lr_z: float = 0.5
    lr_rho: float = 0.1
    lr_lambda: float = 0.1
    mu: float = 2.0
    psi: float = 0.01
    epsilon: float = 0.05
    cut_every: int = 5
    phi_steps: int = 2
    gamma: float = 1e-3
    max_cuts: int = 8
    tau: int | None = None
    min_reports: int = 2
    dual_reg: float = 0.01
    use_adam: bool = True
    adam_b1: float = 0.9
    adam_b2: float = 0.999
    grad_clip: float | None = 3.0
    score_eps: float = 1e-6
    optimizer: str = "eg"
    floor: float = 0.01
    empty_word_prior: float = 0.5
    num_elites: int = 4

    # ---- derived switches (one place that says what each method does) ----

    @property
    def learns_fragment(self) -> bool:
        """Whether the fragment policy ``p`` is tuned (``random-search`` samples but never learns)."""
        return self.method not in ("demos-only", "random-search")

    @property
    def learns_demos(self) -> bool:
        """Whether the demonstration policies ``q`` are tuned."""
        return self.method in ("asyndbt", "sync-dbt", "cendbt", "demos-only", "fedavg")

    @property
    def samples_demos(self) -> bool:
        """Whether demonstrations are drawn from ``q`` (else frozen at a seeded one-hot: BDPL, fragment-only)."""
        return self.learns_demos or self.method == "random-search"

    @property
    def uses_consensus(self) -> bool:
        """Whether workers and server run the consensus/cut terms (federated methods)."""
        return self.method not in ("cendbt", "bdpl", "random-search", "fedavg")

    @property
    def averages_fragment(self) -> bool:
        """Whether each worker restarts from the server's average policy on every update (FedAvg)."""
        return self.method == "fedavg"

    @property
    def shares_fragment(self) -> bool:
        """Whether the workers end with one shared fragment (the argmax of the server's ``z``)."""
        return self.uses_consensus or self.averages_fragment

    @property
    def synchronous(self) -> bool:
        """Whether every server update waits for all workers (``S = R``, ``tau = 1``)."""
        return self.method in ("sync-dbt", "fedavg") or self.centralised

    @property
    def centralised(self) -> bool:
        """Whether the method runs on exactly one worker holding the pooled data."""
        return self.method in ("cendbt", "bdpl")

    def staleness_bound(self, num_workers: int) -> int:
        """``tau`` for a run of ``num_workers``: the one set, or ``ceil(TAU_PER_ROUND * R / S)``.

        A worker's own step spans about ``R / S`` server iterations (every iteration consumes ``S`` of
        the ``R`` workers' reports), so a bound counted in iterations must grow with ``R / S``, or a
        larger federation turns synchronous: with a fixed ``tau = 4``, 8 workers and ``S = 2`` may
        lag barely one step of their own. The default lets a worker fall about 2.5 of its own steps
        behind the average pace, which is ``tau = 4`` for the default 3 workers and ``S = 2``.
        """
        if self.tau is not None:
            return self.tau
        r = max(1, int(num_workers))
        return max(1, math.ceil(TAU_PER_ROUND * r / min(self.min_reports, r)))

    @property
    def num_positions(self) -> int:
        """Effective ``M``: 0 for ``demos-only``, else ``fragment_length``."""
        return 0 if self.method == "demos-only" else self.fragment_length

    def validate(self) -> AlgorithmConfig:
        """Check every field; return ``self`` so calls can be chained.

        Raises:
            ConfigError: Naming the first bad field, its value and the fix.
        """
        if self.method not in METHODS:
            raise ConfigError(f"method={self.method!r} is not supported; use one of {', '.join(METHODS)}")
        ints = {
            "fragment_length": 0 if self.method == "demos-only" else 1,
            "vocab_size": 1,
            "num_classes": 1,
            "shots": 1,
            "samples_per_step": 2,
            "batch_size": 1,
            "cut_every": 1,
            "phi_steps": 0,
            "max_cuts": 0,
            "num_elites": 0,
            "tau": 1,
            "min_reports": 1,
        }
        if self.tau is None:
            ints.pop("tau")
        for name, low in ints.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                hint = " (the policy-gradient baseline needs two samples)" if name == "samples_per_step" else ""
                raise ConfigError(f"{name}={value!r} must be an integer >= {low}{hint}")
        nonneg = ("lr_p", "lr_q", "lr_z", "lr_rho", "lr_lambda", "mu", "psi", "gamma", "dual_reg")
        for name in nonneg:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                    or value < 0:
                raise ConfigError(f"{name}={value!r} must be a finite number >= 0")
        if self.lr_z > 1.0:
            raise ConfigError(f"lr_z={self.lr_z} > 1 overshoots the consensus average (the z step uses the "
                              "mean over workers); use a value in (0, 1]")
        for name in ("epsilon", "score_eps"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"{name}={value!r} must be a finite number > 0")
        for name in ("adam_b1", "adam_b2"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= value < 1.0:
                raise ConfigError(f"{name}={value!r} must lie in [0, 1)")
        if self.grad_clip is not None and (not isinstance(self.grad_clip, int | float) or not self.grad_clip > 0):
            raise ConfigError(f"grad_clip={self.grad_clip!r} must be > 0, or None to disable clipping")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer={self.optimizer!r} is unknown; use one of {', '.join(OPTIMIZERS)}")
        for name in ("floor", "empty_word_prior"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1.0:
                raise ConfigError(f"{name}={value!r} must lie in [0, 1)")
        if not isinstance(self.use_adam, bool):
            raise ConfigError(f"use_adam={self.use_adam!r} must be True or False")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AlgorithmConfig:
        """Build from a dict, rejecting unknown keys (typos must not pass silently)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown algorithm config keys {unknown}; valid keys are {sorted(known)}")
        return cls(**d)

    @classmethod
    def paper(cls, **overrides: Any) -> AlgorithmConfig:
        """Return the config with ``PAPER_PRESET`` applied, then ``overrides``."""
        return cls(**{**PAPER_PRESET, **overrides})
