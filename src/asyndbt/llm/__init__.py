"""The LLM layer: one scoring interface, backends behind it, and the client that wraps them."""

from asyndbt.llm._types import Backend, LabelScores, ScoreRequest

__all__ = ["Backend", "LabelScores", "ScoreRequest"]
