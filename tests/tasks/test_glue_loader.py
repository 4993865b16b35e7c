from collections import Counter

import pytest

from asyndbt.tasks import get_task, load_glue


def _counts(examples):
    return dict(Counter(e.label for e in examples))


def test_sst2_train_counts(sst2_train):
    assert len(sst2_train) == 67_349
    assert _counts(sst2_train) == {1: 37_569, 0: 29_780}
    assert sst2_train[0].uid == "sst2/train/0"
    assert sst2_train[0].texts == ("hide new secretions from the parental units",)
    assert len({e.uid for e in sst2_train}) == len(sst2_train)


def test_sst2_dev_counts(sst2_dev):
    assert len(sst2_dev) == 872
    assert _counts(sst2_dev) == {1: 444, 0: 428}


@pytest.mark.parametrize(
    ("task", "split", "rows", "counts"),
    [
        ("cola", "train", 8_551, {1: 6_023, 0: 2_528}),
        ("cola", "dev", 1_043, {1: 721, 0: 322}),
        ("mrpc", "train", 3_668, {1: 2_474, 0: 1_194}),
        ("mrpc", "dev", 408, {1: 279, 0: 129}),
        # QNLI: label 1 = "Yes" = entailment, 0 = "No" = not_entailment
        ("qnli", "dev", 5_463, {1: 2_702, 0: 2_761}),
    ],
)
def test_glue_file_counts(data_dir, task, split, rows, counts):
    examples = load_glue(task, split, data_dir=data_dir)
    assert len(examples) == rows
    assert _counts(examples) == counts
    assert all(len(e.texts) == len(get_task(task).text_fields) for e in examples)
    assert all(all(t for t in e.texts) for e in examples)


def test_cola_fields_without_header(data_dir):
    first = load_glue("cola", "train", data_dir=data_dir)[0]
    assert first.texts == ("Our friends won't buy this analysis, let alone the next one we propose.",)
    assert first.label == 1


def test_mrpc_bom_header_and_quotes(data_dir):
    dev = load_glue("mrpc", "dev", data_dir=data_dir)
    # An unbalanced quote must stay literal and not swallow the following rows.
    assert dev[0].texts[1] == '"The foodservice pie business does not fit our long-term growth strategy.'
    assert dev[0].label == 1


def test_data_dir_may_point_at_glue_folder(data_dir):
    assert len(load_glue("mrpc", "dev", data_dir=data_dir / "glue")) == 408


def test_data_dir_from_environment(data_dir, monkeypatch):
    monkeypatch.setenv("ASYNDBT_DATA_DIR", str(data_dir))
    assert len(load_glue("SST-2", "dev")) == 872
