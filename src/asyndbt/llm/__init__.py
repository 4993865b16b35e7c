"""The LLM layer: one scoring interface, backends behind it, and the client that wraps them.

Everything above this layer calls :class:`LLMClient.score`. The embedded backend
(:class:`LlamaCppBackend`) and its embedder import ``llama_cpp`` only when constructed, and the HTTP
backend (:class:`OpenAICompatibleBackend`) imports ``httpx`` only when constructed, so
``import asyndbt.llm`` stays cheap. See docs/llm.md.
"""

from asyndbt.llm._budget import Budget, Prices
from asyndbt.llm._cache import CACHE_SCHEMA_VERSION, ScoreCache, cache_key
from asyndbt.llm._client import LLMClient, NoRetry, RetryPolicy
from asyndbt.llm._estimate import estimate_calls
from asyndbt.llm._factory import make_backend, make_llm_client
from asyndbt.llm._http import OpenAICompatibleBackend
from asyndbt.llm._ledger import LEDGER_SCHEMA_VERSION, Ledger, LedgerRecord, phase_of
from asyndbt.llm._limits import RateLimiter, TokenBucket
from asyndbt.llm._llamacpp import LlamaCppBackend, LlamaCppEmbedder
from asyndbt.llm._models import (
    DEFAULT_MODEL,
    EMBEDDED_MODELS,
    EmbeddedModel,
    cache_dir,
    resolve_model,
    weights_sha256,
)
from asyndbt.llm._retry import ExponentialBackoff
from asyndbt.llm._served import SocketBackend, serve_backend
from asyndbt.llm._types import Backend, LabelScores, ScoreRequest

__all__ = [
    "CACHE_SCHEMA_VERSION",
    "DEFAULT_MODEL",
    "EMBEDDED_MODELS",
    "LEDGER_SCHEMA_VERSION",
    "Backend",
    "Budget",
    "EmbeddedModel",
    "ExponentialBackoff",
    "LLMClient",
    "LabelScores",
    "Ledger",
    "LedgerRecord",
    "phase_of",
    "LlamaCppBackend",
    "LlamaCppEmbedder",
    "NoRetry",
    "OpenAICompatibleBackend",
    "Prices",
    "RateLimiter",
    "RetryPolicy",
    "ScoreCache",
    "ScoreRequest",
    "SocketBackend",
    "TokenBucket",
    "cache_dir",
    "cache_key",
    "estimate_calls",
    "make_backend",
    "make_llm_client",
    "resolve_model",
    "serve_backend",
    "weights_sha256",
]
