"""Prompt assembly and prompt-fragment vocabulary mining."""

from asyndbt.prompt._assemble import (
    build_requests,
    join_fragment,
    label_continuations,
    render_demonstration,
    render_prefix,
    render_question,
)
from asyndbt.prompt._tuned import TunedPrompt

__all__ = [
    "TunedPrompt",
    "build_requests",
    "join_fragment",
    "label_continuations",
    "render_demonstration",
    "render_prefix",
    "render_question",
]
