"""The embedded backend: label log-probabilities from a GGUF model through llama.cpp.

Scoring rule. For a request with prompt tokens ``P`` and a label with tokens ``L = (l_1, ..., l_k)``::

    seq_logprob(label) = sum_t log p(l_t | P, l_1 .. l_{t-1})

with each log-probability a float64 log-softmax over the whole vocabulary. Tokens are always built as
``tokenize(prefix, add_bos=True) + tokenize(suffix, add_bos=False)`` and labels as
``tokenize(label, add_bos=False)``, with special-token parsing off (text such as ``<eos>`` in a
sentence stays plain text). Prefix reuse and from-scratch scoring therefore run the *same* token
sequence by construction; only the floating-point order of the matrix products differs.

Prefix reuse. The backend remembers which tokens sit in the KV cache (sequence 0). Before evaluating a
token sequence it keeps the longest common prefix with the cache (also across calls), removes the
rest, and decodes only the new tail. Requests are grouped by prefix, so each distinct prefix
(instruction + demonstrations) is evaluated once, and the groups run in token order, so prefixes
that share a head run back to back. Multi-token labels branch off the prompt: the cache
is cut back to the prompt and ``L[:-1]`` is decoded with logits at every position.

Aligned blocks. llama.cpp's CPU kernels give slightly different numbers for the same token depending
on how the batch it was decoded in was cut (matrix-kernel choice and accumulation order by batch
shape). For SmolLM2 this was invisible, but Gemma 3 270M amplifies it: one 57-token prompt decoded
in one batch, or split in two at various positions, gave label log-probabilities up to 0.19 nats
apart. So tokens are
always decoded in blocks aligned to multiples of ``block_size`` (positions ``[k*B, (k+1)*B)``), and a
reused cache is cut back to the start of the block where reuse ends. A score is then a function of
the token sequence alone: identical with and without prefix reuse, and independent of request order
and of what earlier calls left in the cache. The price is re-decoding fewer than ``block_size``
tokens per prompt.

llama-cpp-python keeps logits in ``Llama.scores`` only with ``logits_all=True``, which would store a
``n_ctx x n_vocab`` float array (Gemma's vocabulary is 262k). We drive ``llama_decode`` ourselves with
a batch that asks for logits only where we need them, and read them with ``llama_get_logits_ith``.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from asyndbt.errors import LLMConfigError, LLMServerError
from asyndbt.llm._models import weights_sha256
from asyndbt.llm._types import LabelScores, ScoreRequest

SCORING_MODE = "label-sequence-logprob/v1"


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise LLMConfigError(
            "the embedded backend needs llama-cpp-python; install it with "
            '`CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install "llama-cpp-python>=0.3.16,<0.4"`',
            backend="llama.cpp",
        ) from exc
    return llama_cpp


@contextlib.contextmanager
def _quiet_llama(llama_cpp: Any) -> Iterator[None]:
    """Silence llama.cpp's load-time chatter (it logs some notices at level NONE, shown as CRITICAL).

    ``Llama.__init__`` resets the level itself (``set_verbose(False)`` means ERROR, which still lets
    the NONE-level notices through, e.g. "using full-size SWA cache"), so that call is redirected too.
    """
    logger = logging.getLogger("llama-cpp-python")
    old = logger.level
    module = getattr(llama_cpp, "llama", None)
    old_set = getattr(module, "set_verbose", None)
    logger.setLevel(logging.CRITICAL + 10)
    if old_set is not None:
        module.set_verbose = lambda verbose: logger.setLevel(logging.DEBUG if verbose else logging.CRITICAL + 10)
    try:
        yield
    finally:
        if old_set is not None:
            module.set_verbose = old_set
        logger.setLevel(old)


def _common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _load_llama(llama_cpp: Any, path: Path, **kwargs: Any) -> Any:
    if not path.is_file():
        raise LLMConfigError(
            f"model file {str(path)!r} does not exist; pass --model with an existing .gguf file or an embedded model name",
            backend="llama.cpp",
            model=path.name,
        )
    try:
        with _quiet_llama(llama_cpp):
            return llama_cpp.Llama(model_path=str(path), verbose=False, **kwargs)
    except ValueError as exc:
        raise LLMConfigError(
            f"llama.cpp could not load {str(path)!r} ({exc}); check that it is a GGUF model file "
            "supported by the installed llama-cpp-python",
            backend="llama.cpp",
            model=path.name,
        ) from exc


class LlamaCppBackend:
    """Score label continuations with a local GGUF model (implements :class:`~asyndbt.llm.Backend`).

    Not thread-safe on its own (one llama.cpp context); calls are serialised with a lock.

    Args:
        model_path: path of the GGUF file (see :func:`~asyndbt.llm.resolve_model`).
        n_ctx: context length in tokens; a prompt plus its longest label must fit.
        n_threads: CPU threads for llama.cpp (``None``: all cores).
        n_batch: llama.cpp's logical/micro batch size (an upper bound for ``block_size``).
        block_size: decode block in tokens; blocks are aligned to multiples of it (see module doc).
        seed: llama.cpp seed (scoring is deterministic; kept for completeness).
        reuse_prefix: reuse the KV cache across requests (fast); ``False`` scores every request from
            an empty cache (slow, for tests and benchmarks).

    Example:
        >>> from asyndbt.llm import LlamaCppBackend, ScoreRequest, resolve_model  # doctest: +SKIP
        >>> be = LlamaCppBackend(resolve_model("smollm2-135m"), n_threads=2)  # doctest: +SKIP
        >>> be.score([ScoreRequest("", "Is water wet? Answer:", (" Yes", " No"))])[0].probs  # doctest: +SKIP
    """

    kind = "llama.cpp"

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        n_batch: int = 512,
        seed: int = 0,
        reuse_prefix: bool = True,
        block_size: int = 16,
    ) -> None:
        if block_size < 1 or block_size > n_batch:
            raise LLMConfigError(
                f"block_size={block_size} must be between 1 and n_batch={n_batch}; use e.g. block_size=16",
                backend=self.kind,
            )
        self.block_size = int(block_size)
        self.model_path = Path(model_path)
        self.n_ctx = int(n_ctx)
        self.n_threads = n_threads
        self.n_batch = int(n_batch)
        self.seed = int(seed)
        self.reuse_prefix = bool(reuse_prefix)
        self._llama_cpp = _import_llama_cpp()
        threads = n_threads or os.cpu_count() or 1
        # swa_full: Gemma 3 uses sliding-window attention; with the default small SWA cache, positions
        # we may roll back to can already be evicted, so prefix reuse needs the full-size cache.
        self._llm = _load_llama(
            self._llama_cpp,
            self.model_path,
            n_ctx=self.n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            n_batch=self.n_batch,
            n_ubatch=self.n_batch,
            seed=self.seed,
            logits_all=False,
            swa_full=True,
        )
        self.n_ctx = int(self._llm.n_ctx())
        self.n_batch = min(self.n_batch, self.n_ctx)
        self.n_vocab = int(self._llm.n_vocab())
        self._ctx = self._llm.ctx
        self._memory = self._llama_cpp.llama_get_memory(self._ctx)
        self.block_size = min(self.block_size, self.n_batch)
        self._batch = self._llama_cpp.llama_batch_init(self.block_size, 0, 1)
        self._kv_tokens: list[int] = []  # tokens now held in the KV cache, positions 0..len-1
        self._lock = threading.Lock()
        self._identity: dict[str, Any] | None = None

    # -- identity and tokens ------------------------------------------------------------------------

    def identity(self) -> dict[str, Any]:
        """Return everything that determines the scores (part of every cache key)."""
        if self._identity is None:
            self._identity = {
                "kind": self.kind,
                "model": self.model_path.name,
                "weights_sha256": weights_sha256(self.model_path),
                "n_ctx": self.n_ctx,
                "scoring": SCORING_MODE,
                "block_size": self.block_size,
                "llama_cpp": str(getattr(self._llama_cpp, "__version__", "unknown")),
            }
        return dict(self._identity)

    def tokenize(self, text: str, *, add_bos: bool) -> list[int]:
        """Tokenise ``text``; ``add_bos`` adds the model's BOS only where its vocabulary asks for one."""
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=False))

    def count_tokens(self, text: str, *, add_bos: bool = False) -> int:
        """Number of tokens of ``text`` (as a prompt start when ``add_bos``)."""
        return len(self.tokenize(text, add_bos=add_bos))

    def prompt_tokens(self, request: ScoreRequest) -> tuple[list[int], int]:
        """The request's prompt tokens and how many of them belong to the prefix."""
        prefix = self.tokenize(request.prefix, add_bos=True)
        return prefix + self.tokenize(request.suffix, add_bos=False), len(prefix)

    # -- scoring -------------------------------------------------------------------------------------

    def score(self, requests: Sequence[ScoreRequest]) -> list[LabelScores]:
        """Score a batch of requests; results come back in request order."""
        return self._score(requests, reuse_prefix=self.reuse_prefix)

    def score_from_scratch(self, requests: Sequence[ScoreRequest]) -> list[LabelScores]:
        """Score every request from an empty KV cache (reference path for tests and benchmarks)."""
        return self._score(requests, reuse_prefix=False)

    def _score(self, requests: Sequence[ScoreRequest], *, reuse_prefix: bool) -> list[LabelScores]:
        # Tokenise and validate everything before touching the model, so a bad request fails fast.
        prepared = []
        for req in requests:
            tokens, n_prefix = self.prompt_tokens(req)
            labels = [self._label_tokens(label) for label in req.labels]
            self._check_fits(tokens, labels)
            prepared.append((tokens, n_prefix, labels))
        # Group by prefix, keep request order inside each group, and visit the groups in the order of
        # their prefix tokens: prefixes that share a head (e.g. KATE's per-query demonstrations, or
        # sampled sets with the same first demonstration) then follow each other and reuse it. Scores
        # do not depend on the order (aligned blocks), only the decoding work does.
        groups: dict[str, list[int]] = {}
        for i, req in enumerate(requests):
            groups.setdefault(req.prefix, []).append(i)
        order = sorted(groups.values(), key=lambda idxs: prepared[idxs[0]][0][:prepared[idxs[0]][1]])
        out: list[LabelScores | None] = [None] * len(requests)
        with self._lock:
            try:
                for idxs in order:
                    for i in idxs:
                        out[i] = self._score_one(*prepared[i], reuse_prefix=reuse_prefix)
            except BaseException:
                self._reset_kv()  # the cache content is unknown after a failed decode
                raise
        return [s for s in out if s is not None]

    def _label_tokens(self, label: str) -> list[int]:
        toks = self.tokenize(label, add_bos=False)
        if not toks:
            raise LLMConfigError(
                f"label {label!r} tokenises to nothing; use a non-empty label word",
                backend=self.kind,
                model=self.model_path.name,
            )
        return toks

    def _check_fits(self, tokens: list[int], labels: list[list[int]]) -> None:
        if not tokens:
            raise LLMConfigError(
                "empty prompt: the model adds no BOS token, so prefix + suffix must contain text",
                backend=self.kind,
                model=self.model_path.name,
            )
        longest = max(len(t) for t in labels)
        needed = len(tokens) + longest - 1
        if needed > self.n_ctx:
            raise LLMConfigError(
                f"prompt has {len(tokens)} tokens (+{longest - 1} label tokens to evaluate) but n_ctx is "
                f"{self.n_ctx}; raise n_ctx (LlamaCppBackend(n_ctx=...) / --n-ctx) or shorten the prompt "
                "(fewer or shorter demonstrations)",
                backend=self.kind,
                model=self.model_path.name,
            )

    def _score_one(self, tokens: list[int], n_prefix: int, labels: list[list[int]], *, reuse_prefix: bool) -> LabelScores:
        if not reuse_prefix:
            self._reset_kv()
        n = len(tokens)
        first_row, evaluated = self._eval(tokens, logits_from=n - 1)
        first = first_row[0]
        seq = []
        for lab in labels:
            total = float(first[lab[0]])
            if len(lab) > 1:
                rows, ev = self._eval(tokens + lab[:-1], logits_from=n)
                evaluated += ev
                total += float(sum(row[t] for row, t in zip(rows, lab[1:], strict=True)))
            seq.append(total)
        return LabelScores(
            seq_logprobs=tuple(seq),
            prompt_tokens=n,
            prefix_tokens=n_prefix,
            label_tokens=tuple(len(t) for t in labels),
            evaluated_tokens=evaluated,
        )

    def _reset_kv(self) -> None:
        self._llama_cpp.llama_memory_clear(self._memory, True)
        self._kv_tokens = []

    def _eval(self, tokens: list[int], *, logits_from: int) -> tuple[list[np.ndarray], int]:
        """Bring the KV cache to ``tokens``; return float64 log-softmax rows for positions >= logits_from.

        Returns the rows (one per position ``logits_from .. len(tokens)-1``) and the number of tokens
        decoded.
        """
        bs = self.block_size
        keep = min(_common_prefix_len(self._kv_tokens, tokens), logits_from)
        keep -= keep % bs  # restart at the block boundary (see "Aligned blocks" in the module doc)
        if keep < len(self._kv_tokens):
            ok = self._llama_cpp.llama_memory_seq_rm(self._memory, 0, keep, -1)
            if not ok:  # this cache type cannot cut a tail: start over
                self._reset_kv()
                keep = 0
            else:
                del self._kv_tokens[keep:]
        rows: list[np.ndarray] = []
        batch = self._batch
        pos = keep
        while pos < len(tokens):
            chunk = tokens[pos : pos + bs]
            batch.n_tokens = len(chunk)
            for j, tok in enumerate(chunk):
                batch.token[j] = tok
                batch.pos[j] = pos + j
                batch.n_seq_id[j] = 1
                batch.seq_id[j][0] = 0
                batch.logits[j] = pos + j >= logits_from
            rc = self._llama_cpp.llama_decode(self._ctx, batch)
            if rc != 0:
                raise LLMServerError(
                    f"llama_decode returned {rc} at position {pos} (n_ctx={self.n_ctx}); lower n_batch or raise n_ctx",
                    backend=self.kind,
                    model=self.model_path.name,
                )
            self._kv_tokens.extend(chunk)
            for j in range(len(chunk)):
                if pos + j >= logits_from:
                    rows.append(self._logsoftmax_ith(j))
            pos += len(chunk)
        return rows, len(tokens) - keep

    def _logsoftmax_ith(self, i: int) -> np.ndarray:
        ptr = self._llama_cpp.llama_get_logits_ith(self._ctx, i)
        if not ptr:
            raise LLMServerError(
                f"llama.cpp returned no logits for batch position {i}",
                backend=self.kind,
                model=self.model_path.name,
            )
        x = np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(self.n_vocab,))
        x = x.astype(np.float64)
        m = x.max()
        return x - (m + np.log(np.exp(x - m).sum()))

    def close(self) -> None:
        """Free the llama.cpp batch, context and model."""
        if getattr(self, "_batch", None) is not None:
            self._llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        if getattr(self, "_llm", None) is not None:
            with _quiet_llama(self._llama_cpp):
                self._llm.close()
            self._llm = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


class LlamaCppEmbedder:
    """Sentence embeddings from a GGUF model: mean-pooled last hidden states, L2-normalised.

    Used by the KATE baseline (k nearest demonstrations). The paper's KATE uses RoBERTa; offline we
    embed with the same small GGUF model that scores (``resolve_model(None)`` unless told otherwise),
    run by llama.cpp in embedding mode with mean pooling. Expect weaker neighbours than a trained
    sentence encoder; reports should say which model embedded.

    Args:
        model_path: path of the GGUF file.
        n_ctx: context length (a text longer than this is truncated by llama.cpp).
        n_threads: CPU threads (``None``: all cores).
        n_batch: tokens per decode call.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        n_ctx: int = 512,
        n_threads: int | None = None,
        n_batch: int = 512,
    ) -> None:
        self.model_path = Path(model_path)
        self._llama_cpp = _import_llama_cpp()
        threads = n_threads or os.cpu_count() or 1
        self._llm = _load_llama(
            self._llama_cpp,
            self.model_path,
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            n_batch=n_batch,
            n_ubatch=n_batch,
            embedding=True,
            pooling_type=self._llama_cpp.LLAMA_POOLING_TYPE_MEAN,
        )
        self.dim = int(self._llm.n_embd())

    def identity(self) -> dict[str, Any]:
        """What determines the embeddings (for caches and reports)."""
        return {
            "kind": "llama.cpp-embedding",
            "model": self.model_path.name,
            "weights_sha256": weights_sha256(self.model_path),
            "pooling": "mean",
            "normalised": "l2",
        }

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts; returns a float64 array of shape ``(len(texts), dim)`` with unit-norm rows."""
        if not texts:
            return np.zeros((0, self.dim))
        raw = self._llm.embed(list(texts), normalize=False, truncate=True)
        arr = np.asarray(raw, dtype=np.float64).reshape(len(texts), self.dim)
        norms = np.linalg.norm(arr, axis=1, keepdims=True)
        return arr / np.where(norms > 0, norms, 1.0)

    def close(self) -> None:
        """Free the model."""
        if getattr(self, "_llm", None) is not None:
            with _quiet_llama(self._llama_cpp):
                self._llm.close()
            self._llm = None
