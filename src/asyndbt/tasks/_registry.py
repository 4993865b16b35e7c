"""Built-in task definitions (paper Table 1) and name lookup.

Templates reproduce the wording of the paper's Table 1 up to, but not including, ``Note: [VAR].``:
the prompt layer appends ``Note: <fragment>.`` itself. The paper writes the slot bare
(``[SENTENCE1]``); we put it in double quotes so the model can see where the query text starts and
ends.

Label order is fixed per task and documented here, because every layer indexes classes by position:

* ``sst2``, ``synthetic``: 0 = "Terrible" (file label ``0``), 1 = "Great" (``1``).
* ``cola``, ``mrpc``, ``qqp``: 0 = "No" (file label ``0``), 1 = "Yes" (``1``).
* ``qnli``, ``rte``, ``nli``: 0 = "No" (``not_entailment``), 1 = "Yes" (``entailment``).
* ``agnews``: 0 = "World", 1 = "Sports", 2 = "Business", 3 = "Technology".
* ``trec``: 0 = "Abbreviation", 1 = "Entity", 2 = "Description", 3 = "Person", 4 = "Location",
  5 = "Number".
* ``subj``: 0 = "Subjective", 1 = "Objective".
* ``sst5``: 0 = "terrible", 1 = "bad", 2 = "okay", 3 = "good", 4 = "great".

For the binary GLUE tasks "Yes" is always index 1 and the negative class is always index 0. The
four text-classification tasks (agnews, trec, subj, sst5) are not in the paper's Table 1; their
templates follow its style. Their files write the label as a word, so each task's source labels are
its label words, spelled (and capitalised) exactly as in the files.
"""

from __future__ import annotations

from types import MappingProxyType

from asyndbt.errors import DataError
from asyndbt.tasks._types import TaskSpec

_PAIR_TEXT_FIELDS = ("text_a", "text_b")
_ENTAILMENT_TEMPLATE = (
    'Whether sentence "{text_a}" and sentence "{text_b}" have semantic entailment relations? Respond ONLY with "Yes" or "No".'
)
_SENTIMENT_TEMPLATE = 'How is the sentiment of the sentence "{text_a}"? Respond ONLY with "Great" or "Terrible".'
_AGNEWS_WORDS = ("World", "Sports", "Business", "Technology")
_TREC_WORDS = ("Abbreviation", "Entity", "Description", "Person", "Location", "Number")
_SUBJ_WORDS = ("Subjective", "Objective")
_SST5_WORDS = ("terrible", "bad", "okay", "good", "great")

_BUILTIN_TASKS: MappingProxyType[str, TaskSpec] = MappingProxyType(
    {
        "sst2": TaskSpec(
            name="sst2",
            instruction=_SENTIMENT_TEMPLATE,
            label_words=("Terrible", "Great"),
            source_labels=("0", "1"),
            description="SST-2 (GLUE): binary sentiment of movie-review sentences.",
        ),
        "cola": TaskSpec(
            name="cola",
            instruction=('Is this sentence "{text_a}" grammatically correct? Respond ONLY with "Yes" or "No".'),
            label_words=("No", "Yes"),
            source_labels=("0", "1"),
            description="CoLA (GLUE): is the sentence grammatically acceptable.",
        ),
        "mrpc": TaskSpec(
            name="mrpc",
            instruction=(
                'Whether sentence "{text_a}" and sentence "{text_b}" are semantically the same? Respond ONLY with "Yes" or "No".'
            ),
            label_words=("No", "Yes"),
            text_fields=_PAIR_TEXT_FIELDS,
            source_labels=("0", "1"),
            description="MRPC (GLUE): are two news sentences paraphrases.",
        ),
        "qqp": TaskSpec(
            name="qqp",
            instruction=(
                'Whether sentence "{text_a}" and sentence "{text_b}" are paraphrased from each other? '
                'Respond ONLY with "Yes" or "No".'
            ),
            label_words=("No", "Yes"),
            text_fields=_PAIR_TEXT_FIELDS,
            source_labels=("0", "1"),
            description="QQP (GLUE): are two Quora questions duplicates.",
        ),
        "qnli": TaskSpec(
            name="qnli",
            instruction=_ENTAILMENT_TEMPLATE,
            label_words=("No", "Yes"),
            text_fields=_PAIR_TEXT_FIELDS,
            source_labels=("not_entailment", "entailment"),
            description="QNLI (GLUE): does the sentence answer the question (entailment).",
        ),
        "rte": TaskSpec(
            name="rte",
            instruction=_ENTAILMENT_TEMPLATE,
            label_words=("No", "Yes"),
            text_fields=_PAIR_TEXT_FIELDS,
            source_labels=("not_entailment", "entailment"),
            description="RTE (GLUE): does the first sentence entail the second (QNLI template).",
        ),
        "nli": TaskSpec(
            name="nli",
            instruction=_ENTAILMENT_TEMPLATE,
            label_words=("No", "Yes"),
            text_fields=_PAIR_TEXT_FIELDS,
            source_labels=("not_entailment", "entailment"),
            description=(
                "Generic sentence-pair entailment (QNLI template); no built-in files, load your own "
                "table with load_table(..., label_map={'not_entailment': 0, 'entailment': 1})."
            ),
        ),
        "agnews": TaskSpec(
            name="agnews",
            instruction=(
                'What is the topic of the news article "{text_a}"? '
                'Respond ONLY with "World", "Sports", "Business" or "Technology".'
            ),
            label_words=_AGNEWS_WORDS,
            source_labels=_AGNEWS_WORDS,
            description="AG News: topic of a news article (title and description), 4 classes.",
        ),
        "trec": TaskSpec(
            name="trec",
            instruction=(
                'What kind of answer does the question "{text_a}" ask for? Respond ONLY with "Abbreviation", '
                '"Entity", "Description", "Person", "Location" or "Number".'
            ),
            label_words=_TREC_WORDS,
            source_labels=_TREC_WORDS,
            description="TREC: coarse answer type of a question, 6 classes.",
        ),
        "subj": TaskSpec(
            name="subj",
            instruction=(
                'Is the sentence "{text_a}" a subjective opinion or an objective fact? '
                'Respond ONLY with "Subjective" or "Objective".'
            ),
            label_words=_SUBJ_WORDS,
            source_labels=_SUBJ_WORDS,
            description="SUBJ: is a movie sentence a subjective review snippet or an objective plot summary.",
        ),
        "sst5": TaskSpec(
            name="sst5",
            instruction=(
                'How is the sentiment of the movie review "{text_a}"? '
                'Respond ONLY with "terrible", "bad", "okay", "good" or "great".'
            ),
            label_words=_SST5_WORDS,
            source_labels=_SST5_WORDS,
            description="SST-5: fine-grained sentiment of movie-review sentences, 5 classes.",
        ),
        "synthetic": TaskSpec(
            name="synthetic",
            instruction=_SENTIMENT_TEMPLATE,
            label_words=("Terrible", "Great"),
            synthetic=True,
            source_labels=("0", "1"),
            description=(
                "SYNTHETIC sentiment data generated by asyndbt itself from word lists (not a real "
                "data set); for smoke tests and demos on a machine with no data files."
            ),
        ),
    }
)


def normalize_task_name(name: str) -> str:
    """Fold a task name to its registry key: lower case, no ``-``, ``_`` or spaces (``SST-2`` → ``sst2``)."""
    return "".join(ch for ch in name.strip().lower() if ch not in "-_ ")


def list_tasks() -> list[str]:
    """Return the names of the built-in tasks, sorted.

    Example:
        >>> "sst2" in list_tasks()
        True
    """
    return sorted(_BUILTIN_TASKS)


def get_task(name: str) -> TaskSpec:
    """Look up a built-in task by name, ignoring case and ``-``/``_`` (``SST-2``, ``sst_2``, ``sst2``).

    Args:
        name: the task name.

    Returns:
        The task's :class:`TaskSpec`.

    Raises:
        DataError: no built-in task has this name.

    Example:
        >>> get_task("SST-2").label_words
        ('Terrible', 'Great')
    """
    key = normalize_task_name(name)
    try:
        return _BUILTIN_TASKS[key]
    except KeyError:
        raise DataError(
            f"unknown task {name!r}; known tasks: {', '.join(list_tasks())} (or build a TaskSpec for your own data)"
        ) from None
