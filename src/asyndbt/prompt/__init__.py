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
from asyndbt.prompt._vocab import (
    GENERIC_WORDS,
    STOP_WORDS,
    merge_vocabularies,
    mine_vocabulary,
    mine_vocabulary_with_note,
    tokenize,
)

__all__ = [
    "GENERIC_WORDS",
    "STOP_WORDS",
    "TunedPrompt",
    "build_requests",
    "join_fragment",
    "label_continuations",
    "merge_vocabularies",
    "mine_vocabulary",
    "mine_vocabulary_with_note",
    "render_demonstration",
    "render_prefix",
    "render_question",
    "tokenize",
]
