"""Build the configured LLM client (backend + cache + ledger) from an ``LLMConfig``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from asyndbt.errors import LLMConfigError
from asyndbt.llm._cache import ScoreCache
from asyndbt.llm._client import LLMClient
from asyndbt.llm._ledger import Ledger


def make_backend(llm_cfg: Any) -> Any:
    """The raw backend named by ``llm_cfg.backend``."""
    if llm_cfg.backend == "llama.cpp":
        from asyndbt.llm._llamacpp import LlamaCppBackend
        from asyndbt.llm._models import resolve_model

        return LlamaCppBackend(resolve_model(llm_cfg.model), n_ctx=llm_cfg.n_ctx, n_threads=llm_cfg.threads)
    raise LLMConfigError(
        f"llm.backend={llm_cfg.backend!r} is not available in this version; use llama.cpp",
        backend=str(llm_cfg.backend),
    )


def make_llm_client(llm_cfg: Any, *, cache_path: str | Path | None, ledger_path: str | Path | None) -> LLMClient:
    """One client for the whole run: every worker, evaluation and baseline goes through it."""
    cache = None
    if getattr(llm_cfg, "cache", True):
        if cache_path is not None:
            Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
        cache = ScoreCache(cache_path)
    return LLMClient(make_backend(llm_cfg), cache=cache, ledger=Ledger(ledger_path))
