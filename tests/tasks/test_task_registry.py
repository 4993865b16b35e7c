import pytest

from asyndbt.errors import DataError
from asyndbt.tasks import TaskSpec, get_task, list_tasks


def test_builtin_tasks_are_listed():
    assert list_tasks() == sorted(["agnews", "cola", "mrpc", "nli", "qnli", "qqp", "rte", "sst2", "sst5", "subj",
                                   "synthetic", "trec"])


@pytest.mark.parametrize("name", ["sst2", "SST-2", "sst-2", "Sst_2", " SST2 "])
def test_lookup_is_case_and_dash_insensitive(name):
    assert get_task(name) is get_task("sst2")


def test_label_orders_are_explicit():
    assert get_task("sst2").label_words == ("Terrible", "Great")
    assert get_task("sst2").source_labels == ("0", "1")
    for name in ("cola", "mrpc", "qqp"):
        assert get_task(name).label_words == ("No", "Yes")
    for name in ("qnli", "rte", "nli"):
        spec = get_task(name)
        assert spec.label_words == ("No", "Yes")
        assert spec.source_labels == ("not_entailment", "entailment")


def test_templates_follow_table_1_and_stop_before_note():
    sst2 = get_task("sst2")
    assert sst2.render_instruction(("a fine film",)) == (
        'How is the sentiment of the sentence "a fine film"? Respond ONLY with "Great" or "Terrible".'
    )
    assert get_task("cola").render_instruction(("x",)).startswith('Is this sentence "x" grammatically correct?')
    pair = get_task("mrpc").render_instruction(("a", "b"))
    assert pair == ('Whether sentence "a" and sentence "b" are semantically the same? Respond ONLY with "Yes" or "No".')
    assert "paraphrased from each other" in get_task("qqp").instruction
    assert "semantic entailment relations" in get_task("qnli").instruction
    for name in list_tasks():
        assert "Note" not in get_task(name).instruction


def test_synthetic_task_says_it_is_synthetic():
    spec = get_task("synthetic")
    assert spec.synthetic
    assert "synthetic" in spec.description.lower()


def test_unknown_task_lists_known_tasks():
    with pytest.raises(DataError, match="unknown task 'imdb'") as info:
        get_task("imdb")
    assert "sst2" in str(info.value) and "synthetic" in str(info.value)


def test_user_task_with_three_classes():
    spec = TaskSpec("topic", 'Topic of "{text_a}"? Answer one word.', ("Sports", "Politics", "Science"))
    assert spec.num_classes == 3


def test_source_labels_must_match_classes():
    with pytest.raises(DataError, match="source label"):
        TaskSpec("t", '"{text_a}"', ("No", "Yes"), source_labels=("0",))
