"""A worker's local side: its data, its vocabulary, and turning a ScoreBatch into LLM requests.

This is the only place where the algorithm's integer choices (fragment word ids, demonstration
ids, query ids) meet text. It stays on the worker: nothing here is ever sent to the server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from asyndbt.errors import DataError
from asyndbt.llm._types import LabelScores, ScoreRequest
from asyndbt.prompt._assemble import clean_fragment
from asyndbt.prompt._calibration import estimate_prior, predictions_and_losses
from asyndbt.prompt._tuned import TunedPrompt
from asyndbt.tasks._types import Example, TaskSpec


@dataclass(frozen=True)
class WorkerEnv:
    """Everything a worker holds locally."""

    worker_id: int
    task: TaskSpec
    train: tuple[Example, ...]
    validation: tuple[Example, ...]
    test: tuple[Example, ...]
    pools: tuple[tuple[Example, ...], ...]  # demonstration candidates, one tuple per class
    vocab: tuple[str, ...]  # fragment vocabulary shared by all workers (server-merged); "" = no word
    placement: str = "query"  # where the fragment goes (see asyndbt.prompt._assemble)
    calibrate: bool = True  # training loss under the shared calibration function

    def __post_init__(self) -> None:
        if len(self.pools) != self.task.num_classes or any(not p for p in self.pools):
            sizes = [len(p) for p in self.pools]
            raise DataError(
                f"worker {self.worker_id} has demonstration pools of sizes {sizes} for "
                f"{self.task.num_classes} classes; every class needs at least one candidate"
            )
        if not self.train:
            raise DataError(f"worker {self.worker_id} has no training examples; use fewer workers")

    @property
    def pool_sizes(self) -> tuple[int, ...]:
        """Number of candidates per class (the sizes of the q simplices)."""
        return tuple(len(p) for p in self.pools)

    def prompt(self, fragment_ids: Sequence[int], demo_ids: Sequence[int], *, method: str = "") -> TunedPrompt:
        """The concrete prompt for one (fragment, demonstrations) choice; no demo ids: no demonstrations.

        ``demo_ids[i]`` indexes the pool of class ``i % U``. Empty and repeated words are dropped from
        the fragment and a repeated demonstration is shown once, so the prompt is exactly what is scored.
        """
        words = clean_fragment(self.vocab[int(j)] for j in fragment_ids)
        u_count = len(self.pools)  # slot i holds class i % U (classes alternate, see interleave_shots)
        picks = dict.fromkeys((i % u_count, int(k)) for i, k in enumerate(demo_ids))  # a repeat is shown once
        demos = tuple(self.pools[u][k] for u, k in picks)
        return TunedPrompt(self.task, words, demos, method=method, worker=self.worker_id, placement=self.placement)

    def requests(self, fragments: np.ndarray, demos: np.ndarray, queries: np.ndarray) -> list[ScoreRequest]:
        """Requests for every (sample, query) pair, sample-major: index = k * B + b."""
        texts = [self.train[int(i)].texts for i in queries]
        out: list[ScoreRequest] = []
        for k in range(fragments.shape[0]):
            out.extend(self.prompt(fragments[k], demos[k]).requests(texts))
        return out

    def losses(self, scores: Sequence[LabelScores], queries: np.ndarray, num_samples: int) -> np.ndarray:
        """Cross-entropy of the true label, shape (I, B).

        With ``calibrate`` each sample's answers are first divided by that sample's mean label
        distribution over the batch (the shared calibration function), so the policy is trained on
        the same calibrated answers that validation, selection and the exported prompt use.
        """
        labels = [self.train[int(i)].label for i in queries]
        b = len(labels)
        out = np.empty((num_samples, b))
        for k in range(num_samples):
            batch = scores[k * b:(k + 1) * b]
            prior = estimate_prior(batch) if self.calibrate else None
            out[k] = predictions_and_losses(batch, labels, prior)[1]
        return out


def work_tokens(scores: Sequence[LabelScores], batch_size: int) -> int:
    """Tokens a prefix-reusing backend evaluates for one sample-major batch (deterministic cost).

    Each sample's prefix is evaluated once; each query's suffix and every label token but the last
    are evaluated per request.
    """
    total = 0
    for i, s in enumerate(scores):
        if i % batch_size == 0:
            total += s.prefix_tokens
        total += s.prompt_tokens - s.prefix_tokens + sum(max(n - 1, 0) for n in s.label_tokens)
    return total
