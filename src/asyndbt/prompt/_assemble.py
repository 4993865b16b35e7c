"""Turn (task, demonstrations, fragment, query) into the text the LLM scores.

Default layout (``placement="query"``): the fragment is placed once, in the instruction of the
question being answered::

    Question: <instruction filled with demo 1>
    Answer: <label word of demo 1>

    Question: <instruction filled with demo 2>
    Answer: <label word of demo 2>

    Question: <instruction filled with the query> Note: <fragment>.
    Answer:

The paper's layout (``placement="every"``, §1) repeats ``Note: <fragment>.`` after every
demonstration too. We measured that repetition as noise on small models (docs/algorithm.md); it
stays available for the ablation. With ``placement="query"`` the prefix (the demonstrations) does not
depend on the fragment, so fragment samples that share demonstrations share one KV-cached prefix.

Everything before the query's ``Question:`` is the request *prefix*, shared by every query scored
with the same demonstrations; backends reuse its KV cache.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from asyndbt.llm._types import ScoreRequest
from asyndbt.tasks._types import Example, TaskSpec

DEMO_SEPARATOR = "\n\n"
PLACEMENTS = ("query", "every")


def render_question(task: TaskSpec, texts: tuple[str, ...], fragment: str = "") -> str:
    r"""Render one question block up to and including ``Answer:``.

    Example:
        >>> from asyndbt.tasks import TaskSpec
        >>> t = TaskSpec("demo", 'Is "{text_a}" good? Respond ONLY with "Yes" or "No".', ("Yes", "No"))
        >>> render_question(t, ("cake",), "be brief")
        'Question: Is "cake" good? Respond ONLY with "Yes" or "No". Note: be brief.\\nAnswer:'
    """
    note = f" Note: {fragment}." if fragment else ""
    return f"Question: {task.render_instruction(texts)}{note}\nAnswer:"


def render_demonstration(task: TaskSpec, example: Example, fragment: str = "") -> str:
    """Render a solved demonstration: the question block followed by its label word."""
    return f"{render_question(task, example.texts, fragment)} {task.label_words[example.label]}"


def render_prefix(task: TaskSpec, demonstrations: Sequence[Example], fragment: str = "",
                  placement: str = "query") -> str:
    """Render the shared prefix: all demonstrations, each followed by a blank line.

    The fragment appears in the demonstrations only with ``placement="every"`` (the paper's layout).
    """
    demo_fragment = fragment if placement == "every" else ""
    return "".join(render_demonstration(task, d, demo_fragment) + DEMO_SEPARATOR for d in demonstrations)


def label_continuations(task: TaskSpec) -> tuple[str, ...]:
    """The continuations scored after ``Answer:`` (a space, then the label word)."""
    return tuple(" " + w for w in task.label_words)


def build_requests(
    task: TaskSpec,
    queries: Sequence[tuple[str, ...]],
    *,
    demonstrations: Sequence[Example] = (),
    fragment: str = "",
    placement: str = "query",
) -> list[ScoreRequest]:
    """Build one request per query text tuple, all sharing one prefix."""
    if placement not in PLACEMENTS:
        raise ValueError(f"placement={placement!r}; use one of {PLACEMENTS}")
    prefix = render_prefix(task, demonstrations, fragment, placement)
    labels = label_continuations(task)
    return [ScoreRequest(prefix, render_question(task, q, fragment), labels) for q in queries]


def clean_fragment(words: Iterable[str]) -> tuple[str, ...]:
    """The fragment's words as rendered: empty words dropped, a repeated word kept once.

    Empty words are the vocabulary's "no word" choice, so an all-empty fragment is no fragment at all
    (the untuned prompt), and "film film film" is never rendered.

    Example:
        >>> clean_fragment(["", "vivid", "", "vivid", "plot"])
        ('vivid', 'plot')
    """
    return tuple(dict.fromkeys(w for w in words if w))


def join_fragment(words: Sequence[str]) -> str:
    """Join fragment words/n-grams into the text placed after ``Note:`` (see :func:`clean_fragment`).

    Example:
        >>> join_fragment(["", "vivid", "", "vivid", "plot"])
        'vivid plot'
    """
    return " ".join(clean_fragment(words))
