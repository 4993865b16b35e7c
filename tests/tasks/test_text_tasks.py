"""The CSV text-classification tasks (agnews, trec, subj, sst5) and the natural-distribution validation option."""

import os
import re
from collections import Counter
from pathlib import Path

import pytest

from asyndbt.errors import DataError
from asyndbt.tasks import (
    TEXTCLS_LAYOUTS,
    Example,
    TaskSpec,
    TaskSplits,
    get_task,
    list_tasks,
    load_task_splits,
    load_textcls,
    split_examples,
)

TEXT_TASKS = {
    "agnews": ("World", "Sports", "Business", "Technology"),
    "trec": ("Abbreviation", "Entity", "Description", "Person", "Location", "Number"),
    "subj": ("Subjective", "Objective"),
    "sst5": ("terrible", "bad", "okay", "good", "great"),
}

# Row and per-class counts from shared/data/SOURCES.md, in label-index order.
FILE_COUNTS = {
    ("agnews", "train"): (1_253, 1_273, 1_249, 1_225),
    ("agnews", "test"): (489, 491, 496, 524),
    ("trec", "train"): (78, 1_156, 1_078, 1_138, 760, 790),
    ("trec", "test"): (9, 94, 138, 65, 81, 113),
    ("subj", "train"): (2_522, 2_478),
    ("subj", "test"): (1_011, 989),
    ("sst5", "train"): (633, 1_303, 950, 1_340, 774),
    ("sst5", "test"): (252, 567, 360, 456, 365),
}


@pytest.fixture(scope="session")
def text_data_dir(data_dir: Path) -> Path:
    """The shared data directory, when it also holds the CSV tasks (same skip/fail rule as ``data_dir``)."""
    missing = [name for name in TEXT_TASKS if not (data_dir / name / "train.csv").is_file()]
    if missing:
        message = f"text-classification CSVs {missing} not found under {data_dir}; set ASYNDBT_DATA_DIR"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return data_dir


def _uids(examples):
    return {e.uid for e in examples}


def _assert_disjoint(splits: TaskSplits):
    seen = set()
    for part in (splits.train, splits.validation, splits.test, splits.pool):
        uids = _uids(part)
        assert len(uids) == len(part)
        assert not uids & seen
        seen |= uids


def _write_csv(root: Path, name: str, split: str, text: str) -> None:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{split}.csv").write_text(text, encoding="utf-8")


# --- registry -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "words"), list(TEXT_TASKS.items()))
def test_text_tasks_are_registered_with_their_label_words(name, words):
    spec = get_task(name)
    assert name in list_tasks()
    assert name in TEXTCLS_LAYOUTS
    assert spec.label_words == words
    assert spec.source_labels == words
    assert spec.num_classes == len(words)
    assert spec.text_fields == ("text_a",)
    assert not spec.synthetic
    rendered = spec.render_instruction(("some text",))
    assert '"some text"' in rendered
    assert "Respond ONLY with" in rendered
    assert all(f'"{w}"' in rendered for w in words)
    assert "Note" not in spec.instruction


def test_text_task_templates():
    assert get_task("agnews").render_instruction(("x",)) == (
        'What is the topic of the news article "x"? Respond ONLY with "World", "Sports", "Business" or "Technology".'
    )
    assert get_task("trec").render_instruction(("x",)) == (
        'What kind of answer does the question "x" ask for? Respond ONLY with "Abbreviation", "Entity", '
        '"Description", "Person", "Location" or "Number".'
    )
    assert get_task("subj").render_instruction(("x",)) == (
        'Is the sentence "x" a subjective opinion or an objective fact? Respond ONLY with "Subjective" or "Objective".'
    )
    assert get_task("SST-5").render_instruction(("x",)) == (
        'How is the sentiment of the movie review "x"? Respond ONLY with "terrible", "bad", "okay", "good" or "great".'
    )


# --- loading the shared files ----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "split"), list(FILE_COUNTS))
def test_shared_csv_counts(text_data_dir, name, split):
    examples = load_textcls(name, split, data_dir=text_data_dir)
    counts = FILE_COUNTS[(name, split)]
    assert len(examples) == sum(counts)
    assert tuple(Counter(e.label for e in examples)[c] for c in range(len(counts))) == counts
    assert examples[0].uid == f"{name}/{split}/0"
    assert len(_uids(examples)) == len(examples)
    assert all(len(e.texts) == 1 and e.texts[0] for e in examples)


def test_shared_csv_quoting(text_data_dir):
    agnews = load_textcls("agnews", "train", data_dir=text_data_dir)
    assert agnews[1].texts[0].startswith("Xstrata puts $5.8bn bid to shareholders. Xstrata yesterday took its")
    assert agnews[1].label == get_task("agnews").label_words.index("Business")
    subj = load_textcls("subj", "train", data_dir=text_data_dir)
    assert subj[1].texts == ('eight year old peter carlson tries to save his family from eviction by " blackmailing santa " .',)
    assert subj[1].label == 1  # Objective


@pytest.mark.parametrize("name", ["agnews", "subj", "sst5"])
def test_load_task_splits_text_tasks(text_data_dir, name):
    k = len(TEXT_TASKS[name])
    s = load_task_splits(name, data_dir=text_data_dir, seed=0)
    assert s.task is get_task(name)
    assert s.label_counts("train") == (10,) * k
    assert s.label_counts("validation") == (10,) * k
    assert s.label_counts("pool") == (50,) * k
    assert len(s.test) == 200
    assert all(e.uid.startswith(f"{name}/train/") for e in (*s.train, *s.pool))
    assert all(e.uid.startswith(f"{name}/test/") for e in (*s.validation, *s.test))
    _assert_disjoint(s)
    assert load_task_splits(name, data_dir=text_data_dir, seed=0) == s


def test_trec_needs_smaller_validation_per_class(text_data_dir):
    # trec/test.csv has only 9 Abbreviation questions, so 10/class validation cannot be drawn from it.
    with pytest.raises(DataError, match=r"'Abbreviation'.*has 9 row\(s\) left in trec dev for validation.*val_per_class"):
        load_task_splits("trec", data_dir=text_data_dir)
    s = load_task_splits("trec", data_dir=text_data_dir, seed=0, val_per_class=3)
    assert s.label_counts("train") == (10,) * 6
    assert s.label_counts("validation") == (3,) * 6
    assert s.label_counts("pool") == (50,) * 6
    _assert_disjoint(s)
    natural = load_task_splits("trec", data_dir=text_data_dir, seed=0, val_size=120)  # 120 + 200 <= 500 test rows
    assert len(natural.validation) == 120
    assert all(e.uid.startswith("trec/train/") for e in (*natural.train, *natural.pool))
    assert all(e.uid.startswith("trec/test/") for e in (*natural.validation, *natural.test))
    _assert_disjoint(natural)
    big = load_task_splits("trec", data_dir=text_data_dir, seed=0, val_size=240, test_size=300)  # 540 > 500
    assert all(e.uid.startswith("trec/train/") for e in (*big.train, *big.validation, *big.pool))
    _assert_disjoint(big)


def test_data_dir_from_environment_text_task(text_data_dir, monkeypatch):
    monkeypatch.setenv("ASYNDBT_DATA_DIR", str(text_data_dir))
    assert len(load_textcls("subj", "test")) == 2_000


# --- loader on small files (no shared data needed) -------------------------------------------------


def test_loader_reads_quoted_csv_and_label_words(tmp_path):
    _write_csv(
        tmp_path,
        "sst5",
        "train",
        'text,label\n"good, not great",okay\n"she said ""wow"" .",great\nplain,terrible\n',
    )
    rows = load_textcls("sst5", "train", data_dir=tmp_path)
    assert [e.texts[0] for e in rows] == ["good, not great", 'she said "wow" .', "plain"]
    assert [e.label for e in rows] == [2, 4, 0]
    assert [e.uid for e in rows] == ["sst5/train/0", "sst5/train/1", "sst5/train/2"]


def test_loader_rejects_unknown_label_word(tmp_path):
    _write_csv(tmp_path, "subj", "test", "text,label\na,Subjective\nb,Neutral\n")
    with pytest.raises(DataError, match=r"test\.csv: line 3: label 'Neutral' is not in the label set"):
        load_textcls("subj", "test", data_dir=tmp_path)


def test_missing_files_name_expected_path(tmp_path):
    expected = str(tmp_path / "agnews" / "train.csv")
    with pytest.raises(DataError) as info:
        load_task_splits("agnews", data_dir=tmp_path)
    message = str(info.value)
    assert expected in message
    assert "<data_dir>/agnews/train.csv" in message
    assert "--data-dir" in message and "ASYNDBT_DATA_DIR" in message
    with pytest.raises(DataError, match=r"trec.test\.csv.*not found.*--data-dir or ASYNDBT_DATA_DIR"):
        load_textcls("trec", "test", data_dir=tmp_path)
    # only one of the two files: the error names the missing one
    _write_csv(tmp_path, "subj", "train", "text,label\na,Subjective\nb,Objective\n")
    with pytest.raises(DataError, match=r"subj.test\.csv.*not found.*<data_dir>/subj/test\.csv") as info:
        load_task_splits("subj", data_dir=tmp_path)
    assert "train.csv" not in str(info.value)


def test_unknown_csv_split(tmp_path):
    with pytest.raises(DataError, match=r"unknown split 'dev'.*\['train', 'test'\]"):
        load_textcls("agnews", "dev", data_dir=tmp_path)


def test_small_text_task_end_to_end(tmp_path):
    words = TEXT_TASKS["subj"]
    train = "".join(f'"train, {i}",{words[i % 2]}\n' for i in range(200))
    test = "".join(f'"test ""{i}""",{words[i % 2]}\n' for i in range(100))
    _write_csv(tmp_path, "subj", "train", "text,label\n" + train)
    _write_csv(tmp_path, "subj", "test", "text,label\n" + test)
    s = load_task_splits("subj", data_dir=tmp_path, seed=2, test_size=50)
    assert s.label_counts("train") == (10, 10)
    assert s.label_counts("validation") == (10, 10)
    assert s.label_counts("pool") == (50, 50)
    assert len(s.test) == 50
    _assert_disjoint(s)
    assert any("test.csv" in n for n in s.notes)


# --- val_size: natural-distribution validation -----------------------------------------------------

_SPEC = TaskSpec("skew", 'Label of "{text_a}"?', ("Major", "Minor"))


def _skewed(prefix: str, n: int) -> list[Example]:
    """Rows with a 90/10 label mix (label 1 is the minority), interleaved."""
    return [Example(f"{prefix}/{i}", (f"{prefix} {i}",), 1 if i % 10 == 0 else 0) for i in range(n)]


def test_val_size_keeps_natural_label_mix_two_sources():
    train, dev = _skewed("tr", 2_000), _skewed("dv", 500)
    s = split_examples(_SPEC, train, dev, seed=0, val_size=100)
    assert len(s.validation) == 100
    minority = s.label_counts("validation")[1]
    assert 0 < minority < 25  # not forced balanced (that would be 50)
    assert s.label_counts("train") == (10, 10)
    assert s.label_counts("pool") == (50, 50)
    assert len(s.test) == 200
    # the dev rows hold validation and test: both come from them (the test's distribution)
    assert all(e.uid.startswith("tr/") for e in (*s.train, *s.pool))
    assert all(e.uid.startswith("dv/") for e in (*s.validation, *s.test))
    _assert_disjoint(s)
    assert any("at random" in n and "natural label mix" in n for n in s.notes)
    # too few dev rows for both: validation comes from the train rows
    small = split_examples(_SPEC, train, dev[:250], seed=0, val_size=100)
    assert all(e.uid.startswith("tr/") for e in (*small.train, *small.validation, *small.pool))
    assert 0 < small.label_counts("validation")[1] < 25
    _assert_disjoint(small)


def test_val_size_keeps_natural_label_mix_one_source():
    s = split_examples(_SPEC, _skewed("x", 3_000), seed=4, val_size=100)
    assert len(s.validation) == 100
    assert 0 < s.label_counts("validation")[1] < 25
    assert s.label_counts("train") == (10, 10)
    assert s.label_counts("pool") == (50, 50)
    assert len(s.test) == 200
    _assert_disjoint(s)
    assert any("one source only" in n and "natural label mix" in n for n in s.notes)


def test_val_size_is_deterministic_per_seed():
    train, dev = _skewed("tr", 2_000), _skewed("dv", 500)
    a = split_examples(_SPEC, train, dev, seed=1, val_size=80)
    assert split_examples(_SPEC, train, dev, seed=1, val_size=80) == a
    assert _uids(split_examples(_SPEC, train, dev, seed=2, val_size=80).validation) != _uids(a.validation)


def test_val_size_none_reproduces_default_split():
    train, dev = _skewed("tr", 2_000), _skewed("dv", 500)
    for dev_source in (dev, None):
        default = split_examples(_SPEC, train, dev_source, seed=3)
        assert split_examples(_SPEC, train, dev_source, seed=3, val_size=None) == default
        assert default.label_counts("validation") == (10, 10)
    assert load_task_splits("synthetic", seed=0, val_size=None) == load_task_splits("synthetic", seed=0)


def test_val_size_via_load_task_splits_synthetic():
    s = load_task_splits("synthetic", seed=0, val_size=30)
    assert len(s.validation) == 30
    assert s.label_counts("train") == (10, 10)
    _assert_disjoint(s)


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "10"])
def test_val_size_must_be_positive_or_none(bad):
    with pytest.raises(DataError, match=r"val_size must be >= 1 or null"):
        split_examples(_SPEC, _skewed("x", 1_000), val_size=bad)


def test_val_size_too_large_names_the_parameter():
    train, dev = _skewed("tr", 200), _skewed("dv", 300)
    too_many = r"val_size=500 but only 180 row\(s\) remain in skew train after the train draw.*lower val_size"
    with pytest.raises(DataError, match=too_many):
        split_examples(_SPEC, train, dev, val_size=500)
    # validation leaves too few minority rows for the pool: the message says what to lower
    with pytest.raises(DataError, match=r"left in skew train for the pool.*lower pool_per_class or val_size"):
        split_examples(_SPEC, train, dev, val_size=175, pool_per_class=5)
    # one source: every size is named at once, with sizes that fit
    with pytest.raises(DataError, match=r"skew has 300 row\(s\).*'Minor'.*: 30\).*validation 400.*--set task\.val_size=\d+ "
                       ) as err:
        split_examples(_SPEC, _skewed("x", 300), val_size=400)
    fitted = {k: int(v) for k, v in re.findall(r"--set task\.(\w+)=(\d+)", str(err.value))}
    assert len(split_examples(_SPEC, _skewed("x", 300), **fitted).validation) == fitted["val_size"]
