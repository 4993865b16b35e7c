from asyndbt.tasks import load_task_splits, partition, synthetic_examples


def test_synthetic_works_without_data_dir(monkeypatch):
    monkeypatch.delenv("ASYNDBT_DATA_DIR", raising=False)
    s = load_task_splits("synthetic", seed=0)
    assert s.task.synthetic
    assert s.label_counts("train") == (10, 10)
    assert s.label_counts("pool") == (50, 50)
    assert len(s.test) == 200
    assert any("SYNTHETIC" in n for n in s.notes)
    workers = partition(s, 3, scheme="dirichlet", alpha=0.5, seed=0)
    assert len(workers) == 3


def test_synthetic_data_is_deterministic_balanced_and_distinct():
    a = synthetic_examples(2_000)
    assert a == synthetic_examples(2_000)
    assert sum(e.label for e in a) == 1_000
    assert len({e.texts[0] for e in a}) == 2_000


def test_synthetic_has_negations_and_contrasts():
    texts = [e.texts[0] for e in synthetic_examples(500)]
    assert any(" not " in t for t in texts)
    assert any(", but " in t for t in texts)
    assert all(t[0].isupper() and t.rstrip().endswith((".", "back.", "again.")) for t in texts)


def test_synthetic_splits_depend_on_seed_only_through_sampling():
    a = load_task_splits("synthetic", seed=0)
    b = load_task_splits("synthetic", seed=0)
    c = load_task_splits("synthetic", seed=1)
    assert a == b
    assert {e.uid for e in a.pool} != {e.uid for e in c.pool}
