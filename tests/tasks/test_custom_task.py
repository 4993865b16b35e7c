"""The user's own task from the run config (task.train_file): real SST-2 rows written as the user's CSV."""

from __future__ import annotations

import csv
import json

import pytest

from asyndbt import job
from asyndbt.config import build_config
from asyndbt.errors import ConfigError, DataError
from asyndbt.llm import LLMClient
from asyndbt.prompt import TunedPrompt
from fake_llm import FakeBackend

TEMPLATE = 'Review: "{text_a}" Was the reviewer pleased? Answer "Yes" or "No".'


@pytest.fixture
def user_csv(tmp_path, sst2_train):
    path = tmp_path / "reviews.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "review", "verdict"])
        for i, ex in enumerate(sst2_train[:600]):
            w.writerow([i, ex.texts[0], "pos" if ex.label else "neg"])
    return path


def _cfg(tmp_path, csv_path, *extra):
    return build_config(overrides=[
        f"task.train_file={json.dumps(str(csv_path))}", 'task.text_columns=["review"]', "task.label_column=verdict",
        'task.label_words=["No", "Yes"]', 'task.labels=["neg", "pos"]', f"task.instruction={json.dumps(TEMPLATE)}",
        "task.test_size=40", "task.val_size=12", "task.pool_per_class=20", "partition.workers=2", "vocab.size=12",
        "simulation.max_worker_steps=6", f"output_dir={json.dumps(str(tmp_path / 'runs'))}",
        'algorithm={"batch_size": 4, "samples_per_step": 2, "fragment_length": 2}', *extra])


def test_user_csv_runs_and_exports_its_own_task(tmp_path, user_csv):
    cfg = _cfg(tmp_path, user_csv)
    prepared = job.prepare(cfg)
    assert prepared.task.name == "custom" and prepared.task.label_words == ("No", "Yes")
    assert len(prepared.splits.test) == 40 and len(prepared.splits.train) == 20
    assert any("reviews.csv" in n for n in prepared.splits.notes)  # one file: every split carved from it
    texts = {ex.texts[0] for ex in prepared.splits.train}
    assert texts <= {row["review"] for row in csv.DictReader(user_csv.open(encoding="utf-8"))}
    res = job.run_method(cfg, prepared, LLMClient(FakeBackend()))
    saved = tmp_path / "p.json"
    res.prompts[0].save(saved)
    again = TunedPrompt.load(saved)
    assert again.task.instruction == TEMPLATE and again.task.source_labels == ("neg", "pos")
    assert "Was the reviewer pleased" in again.requests([("a fine film",)])[0].prompt


@pytest.mark.parametrize("override, field", [
    ('task.instruction="Review without a slot"', "task.instruction"),
    ("task.label_words=null", "task.label_words"),
    ('task.labels=["neg"]', "task.labels"),
    ('task.text_columns=[]', "task.text_columns"),
    ('task.label_words=["Yes", "Yes"]', "task.label_words"),
])
def test_bad_task_config_names_the_field(tmp_path, user_csv, override, field):
    with pytest.raises(ConfigError) as err:
        _cfg(tmp_path, user_csv, override)
    assert field in str(err.value) and "\n" not in str(err.value)


def test_dev_file_without_train_file_is_rejected():
    with pytest.raises(ConfigError, match="task.train_file"):
        build_config(overrides=['task.dev_file="dev.csv"'])


@pytest.mark.parametrize("content, needle", [
    ("id,review,verdict\n1,nice film,pos\n2,awful,maybe\n", "line 3"),  # label outside the set
    ("id,text,verdict\n1,nice film,pos\n", "review"),  # missing column
    ("", "empty"),  # empty file
])
def test_bad_user_file_names_file_and_problem(tmp_path, content, needle):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as err:
        job.prepare(_cfg(tmp_path, path))
    assert "bad.csv" in str(err.value) and needle in str(err.value)
