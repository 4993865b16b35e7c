import json

from asyndbt.tasks import get_task, load_table, split_examples


def test_csv_with_quotes_and_label_words(tmp_path):
    p = tmp_path / "reviews.csv"
    p.write_text('text,label\n"great, really",Great\n"not ""good""",terrible\n')
    rows = load_table(p, text_columns=["text"], label_column="label", label_words=("Terrible", "Great"))
    assert [(e.texts[0], e.label) for e in rows] == [("great, really", 1), ('not "good"', 0)]
    assert rows[0].uid == "reviews/0"


def test_tsv_reads_quotes_literally_and_tolerates_trailing_tab(tmp_path):
    p = tmp_path / "pairs.tsv"
    p.write_text('a\tb\ty\n"open quote\tsecond\tentailment\t\nx\ty\tnot_entailment\n')
    rows = load_table(p, text_columns=["a", "b"], label_column="y", label_map={"not_entailment": 0, "entailment": 1})
    assert rows[0].texts == ('"open quote', "second") and rows[0].label == 1
    assert rows[1].label == 0


def test_headerless_by_position(tmp_path):
    p = tmp_path / "cola_like.tsv"
    p.write_text("src\t1\t\tGood sentence.\nsrc\t0\t*\tBad sentence .\n")
    rows = load_table(p, text_columns=[3], label_column=1, header=False)
    assert [(e.texts[0], e.label) for e in rows] == [("Good sentence.", 1), ("Bad sentence .", 0)]


def test_jsonl_and_single_table_split(tmp_path):
    p = tmp_path / "data.jsonl"
    with p.open("w") as f:
        for i in range(400):
            f.write(json.dumps({"text": f"row {i}", "label": i % 2}) + "\n")
    rows = load_table(p, text_columns=["text"], label_column="label", uid_prefix="mine")
    assert len(rows) == 400 and rows[3].uid == "mine/3"
    s = split_examples(get_task("sst2"), rows, seed=0, source="data.jsonl")
    assert len(s.train) == 20 and len(s.validation) == 20 and len(s.test) == 200 and len(s.pool) == 100
    assert any(n.startswith("data.jsonl: one source only") for n in s.notes)


def test_headerless_trailing_tab_does_not_change_width(tmp_path):
    p = tmp_path / "cola_like.tsv"
    p.write_text("s\t1\t\tone.\ns\t0\t*\ttwo.\t\ns\t1\t\tthree.\n")
    rows = load_table(p, text_columns=[3], label_column=1, header=False)
    assert [e.texts[0] for e in rows] == ["one.", "two.", "three."]


def test_hf_loader_with_a_fake_datasets_module(monkeypatch):
    import sys
    import types

    records = [{"sentence": " good ", "label": 1}, {"sentence": "bad", "label": 0}]

    class FakeDataset(list):
        column_names = ["sentence", "label"]

    calls = []

    def load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        return FakeDataset(records)

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    from asyndbt.tasks import load_hf_dataset

    rows = load_hf_dataset(
        "glue", name="sst2", split="validation", text_columns=["sentence"], label_column="label",
        label_words=("Terrible", "Great"),
    )  # fmt: skip
    assert calls == [("glue", "sst2", "validation")]
    assert [(e.uid, e.texts, e.label) for e in rows] == [
        ("hf/glue/sst2/validation/0", ("good",), 1),
        ("hf/glue/sst2/validation/1", ("bad",), 0),
    ]
