"""Writing the prompt a worker exports: one format and one provenance record, whichever runtime ran.

The simulator's driver and a Flower node both call :func:`export_prompt`, so the same job gives the
same file byte for byte (the parity test compares them).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from asyndbt.config import LLMConfig
from asyndbt.llm._models import DEFAULT_MODEL
from asyndbt.prompt._tuned import TunedPrompt


def llm_provenance(llm: LLMConfig) -> dict[str, Any]:
    """What a prompt was tuned with: ``predict`` compares it with the LLM it is given.

    An embedded run without ``llm.model`` records the default model's name, not "default": a later
    version may ship another default, and ``predict`` must still load the model the prompt was tuned on.
    """
    model = llm.model or (DEFAULT_MODEL if llm.backend == "llama.cpp" else "default")
    return {"backend": llm.backend, "model": model, "base_url": llm.base_url, "mode": llm.mode}


def export_prompt(prompt: TunedPrompt, record: dict[str, Any] | None, llm: LLMConfig | None,
                  path: str | Path) -> TunedPrompt:
    """Save ``prompt`` with its provenance (the LLM and why the selection chose it) and return it.

    ``record`` is the worker's selection record; the per-candidate scores are left out of the file.
    """
    selection = {k: v for k, v in record.items() if k != "candidates"} if record is not None else None
    out = replace(prompt, provenance={**(llm_provenance(llm) if llm else {}), "selection": selection})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    out.save(path)
    return out
