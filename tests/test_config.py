from __future__ import annotations

import json

import pytest

from asyndbt.config import RunConfig, build_config
from asyndbt.errors import ConfigError


def test_defaults_validate():
    cfg = build_config()
    assert cfg.method == "asyndbt" and cfg.partition.workers == 3


def test_yaml_and_toml_files(tmp_path):
    (tmp_path / "a.yaml").write_text("method: cendbt\nsimulation:\n  max_worker_steps: 7\n")
    (tmp_path / "a.toml").write_text('method = "bdpl"\n[partition]\nworkers = 4\n')
    assert build_config(tmp_path / "a.yaml").simulation.max_worker_steps == 7
    cfg = build_config(tmp_path / "a.toml", ["partition.scheme=dirichlet"])
    assert (cfg.method, cfg.partition.workers, cfg.partition.scheme) == ("bdpl", 4, "dirichlet")


def test_default_budget_grows_with_the_workers_and_an_explicit_one_wins():
    assert build_config().simulation.max_worker_steps == 36  # 12 per worker, 3 workers
    assert build_config(overrides=["partition.workers=8"]).simulation.max_worker_steps == 96
    assert build_config(overrides=["partition.workers=8", "simulation.steps_per_worker=5"]).simulation.max_worker_steps == 40
    assert build_config(overrides=["partition.workers=8", "simulation.max_worker_steps=7"]).simulation.max_worker_steps == 7
    with pytest.raises(ConfigError, match="steps_per_worker"):
        build_config(overrides=["simulation.steps_per_worker=0"])


def test_round_trip():
    cfg = build_config(overrides=["simulation.straggler_factor=10", 'algorithm={"mu": 1.5}'])
    again = RunConfig.from_dict(cfg.to_dict()).validate()
    assert again == cfg


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("partition.scheme=random", "partition.scheme"),
        ("simulation.compute=guess", "simulation.compute"),
        ("simulation.speed_factors=[1, 2]", "speed_factors"),
        ("simulation.straggler_factor=0.5", "straggler_factor"),
        ("task.test_size=-1", "task.test_size"),
        ("nonsense=1", "nonsense"),
        ("llm.backend=gpt", "llm.backend"),
        ('simulation.dropouts=[{"worker": 9, "at": 1}]', "out of range"),
        ("novalue", "section.key=value"),
        ("selection.demo_orders=0", "selection.demo_orders"),
    ],
)
def test_bad_values_are_named(override, needle):
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[")):
        build_config(overrides=[override])


def test_algorithm_typo_fails_at_parse_time_with_a_suggestion(tmp_path):
    # no data directory, no model: the error must come from the config alone
    with pytest.raises(ConfigError, match=r"algorithm\.tua.*did you mean 'tau'"):
        build_config(overrides=["algorithm.tua=3", f"task.data_dir={json.dumps(str(tmp_path / 'missing'))}"])
    with pytest.raises(ConfigError, match=r"simulation\.eval_evry.*did you mean 'eval_every'"):
        build_config(overrides=["simulation.eval_evry=3"])
    with pytest.raises(ConfigError, match="algorithm.num_classes is set by the task"):
        build_config(overrides=["algorithm.num_classes=3"])


def test_settings_a_method_or_task_implies_are_printed_not_silent(tmp_path):
    from asyndbt import session

    cfg = build_config(overrides=["task.name=synthetic", "method=sync-dbt", "partition.workers=3",
                                  'algorithm={"tau": 4}', f"output_dir={json.dumps(str(tmp_path))}"])
    notes = " | ".join(session.prepare(cfg).notes)
    assert "S = R = 3, tau = 1" in notes and "min_reports/tau as set are not used" in notes
