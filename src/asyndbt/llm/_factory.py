"""Build the configured LLM client (backend + cache + ledger + limits + budgets) from an ``LLMConfig``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from asyndbt.errors import LLMConfigError
from asyndbt.llm._budget import Budget, Prices
from asyndbt.llm._cache import ScoreCache
from asyndbt.llm._client import LLMClient
from asyndbt.llm._ledger import Ledger
from asyndbt.llm._limits import RateLimiter
from asyndbt.llm._retry import ExponentialBackoff


def _api_key(llm_cfg: Any) -> str | None:
    from asyndbt.llm._http import API_KEY_ENV, api_key_from_env

    name = getattr(llm_cfg, "api_key_env", None)
    return api_key_from_env((name,) if name else API_KEY_ENV)


def make_backend(llm_cfg: Any) -> Any:
    """The raw backend named by ``llm_cfg.backend`` (``llama.cpp`` or ``openai``)."""
    if llm_cfg.backend == "llama.cpp":
        from asyndbt.llm._llamacpp import LlamaCppBackend
        from asyndbt.llm._models import resolve_model

        return LlamaCppBackend(resolve_model(llm_cfg.model), n_ctx=llm_cfg.n_ctx, n_threads=llm_cfg.threads)
    if llm_cfg.backend == "openai":
        from asyndbt.llm._http import BASE_URL_ENV, OpenAICompatibleBackend

        base_url = getattr(llm_cfg, "base_url", None) or next(
            (os.environ[n] for n in BASE_URL_ENV if os.environ.get(n)), None
        )
        if not base_url:
            raise LLMConfigError(
                "llm.backend=openai needs a server URL: set llm.base_url (e.g. http://127.0.0.1:8000/v1) "
                "or the ASYNDBT_BASE_URL environment variable",
                backend="openai",
            )
        return OpenAICompatibleBackend(
            base_url,
            llm_cfg.model,
            api_key=_api_key(llm_cfg),
            mode=llm_cfg.mode,
            echo=llm_cfg.echo,
            top_logprobs=llm_cfg.top_logprobs,
            text_max_tokens=llm_cfg.text_max_tokens,
            text_smoothing=llm_cfg.text_smoothing,
            timeout=llm_cfg.timeout_s,
            max_concurrency=llm_cfg.max_concurrency,
        )
    raise LLMConfigError(
        f"llm.backend={llm_cfg.backend!r} is not available; use llama.cpp or openai",
        backend=str(llm_cfg.backend),
    )


def make_llm_client(
    llm_cfg: Any, *, cache_path: str | Path | None, ledger_path: str | Path | None, backend: Any | None = None
) -> LLMClient:
    """One client for the whole run: every worker, evaluation and baseline goes through it.

    Fields missing from ``llm_cfg`` (older configs, ad-hoc objects) take the ``LLMConfig`` defaults.
    ``backend`` overrides the configured one (tests wrap a real backend to count its calls).
    """
    def get(name: str, default: Any) -> Any:
        return getattr(llm_cfg, name, default)

    cache = None
    if get("cache", True):
        if cache_path is not None:
            Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
        cache = ScoreCache(cache_path)
    backend = backend if backend is not None else make_backend(llm_cfg)
    retry = None
    if backend.kind == "openai":  # the embedded backend's failures are not transient network trouble
        retry = ExponentialBackoff(get("max_retries", 3), get("retry_base_s", 0.5), get("retry_max_delay_s", 30.0),
                                   get("retry_jitter", 0.1))
    limiter = None
    if get("requests_per_s", None) is not None or get("tokens_per_min", None) is not None:
        limiter = RateLimiter(requests_per_s=get("requests_per_s", None), tokens_per_min=get("tokens_per_min", None))
    return LLMClient(
        backend,
        cache=cache,
        ledger=Ledger(ledger_path),
        retry=retry,
        limiter=limiter,
        budget=Budget(get("max_requests", None), get("max_tokens", None), get("max_cost", None)),
        worker_budget=Budget(get("worker_max_requests", None), get("worker_max_tokens", None),
                             get("worker_max_cost", None)),
        prices=Prices(get("price_prompt_per_1k", 0.0), get("price_completion_per_1k", 0.0)),
    )
