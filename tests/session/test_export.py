"""The provenance an exported prompt carries names the model it was tuned on."""

from __future__ import annotations

from asyndbt.config import LLMConfig
from asyndbt.llm import DEFAULT_MODEL, resolve_model
from asyndbt.session._export import llm_provenance


def test_an_embedded_run_records_the_default_models_name_not_default():
    prov = llm_provenance(LLMConfig())
    assert prov["model"] == DEFAULT_MODEL  # predict loads exactly this, whatever a later default is
    assert resolve_model(prov["model"]) == resolve_model(None)
    assert llm_provenance(LLMConfig(model="smollm2-135m"))["model"] == "smollm2-135m"
