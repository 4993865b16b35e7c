"""Bad input to the CLI ends with one clear line and a non-zero exit code, never a traceback."""

from __future__ import annotations

import pytest

from asyndbt.cli import main


def _fail(capsys, args, code):
    with pytest.raises(SystemExit) as exc:
        main(args)
    err = capsys.readouterr().err
    assert exc.value.code == code, err
    assert "Traceback" not in err
    return err


def test_unknown_task(capsys, tmp_path):
    err = _fail(capsys, ["run", "--task", "nosuchtask", "--out", str(tmp_path)], 3)
    assert "nosuchtask" in err and "sst2" in err


def test_missing_data_dir(capsys, tmp_path):
    err = _fail(capsys, ["run", "--task", "sst2", "--data-dir", str(tmp_path / "nope"), "--out", str(tmp_path)], 3)
    assert "nope" in err


def test_unknown_method(capsys, tmp_path):
    err = _fail(capsys, ["run", "--method", "magic", "--out", str(tmp_path)], 2)
    assert "magic" in err and "asyndbt" in err


def test_unknown_config_key(capsys, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[simulation]\nmax_steps = 3\n")
    err = _fail(capsys, ["run", str(cfg), "--out", str(tmp_path)], 2)
    assert "simulation.max_steps" in err


def test_bad_config_syntax(capsys, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[simulation\n")
    err = _fail(capsys, ["run", str(cfg)], 2)
    assert "c.toml" in err


def test_bad_override_value(capsys, tmp_path):
    err = _fail(capsys, ["run", "--set", "partition.workers=0", "--out", str(tmp_path)], 2)
    assert "partition.workers" in err


def test_unknown_algorithm_setting(capsys, tmp_path):
    err = _fail(capsys, ["run", "--task", "synthetic", "--set", 'algorithm={"lr_x": 1}', "--out", str(tmp_path)], 2)
    assert "lr_x" in err


def test_model_file_not_found(capsys, tmp_path):
    err = _fail(capsys, ["run", "--task", "synthetic", "--model", str(tmp_path / "missing.gguf"), "--out", str(tmp_path)], 4)
    assert "missing.gguf" in err


def test_predict_missing_prompt_file(capsys, tmp_path):
    err = _fail(capsys, ["predict", str(tmp_path / "p.json"), "--text", "hi"], 3)
    assert "p.json" in err


def test_eval_unknown_baseline(capsys):
    err = _fail(capsys, ["eval", "--task", "synthetic", "--method", "oracle"], 3)
    assert "oracle" in err


def test_dry_run_prints_estimate_and_leaves_nothing(capsys, tmp_path):
    main(["run", "--task", "synthetic", "--dry-run", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "estimated LLM score requests" in out
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith(".")]


@pytest.mark.parametrize("command", ["simulate", "local"])
def test_flower_commands_offer_resume(capsys, command):
    try:
        main(["flower", command, "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    assert "--resume" in capsys.readouterr().out


def test_flower_resume_of_a_directory_without_checkpoint(capsys, tmp_path):
    (tmp_path / "config.json").write_text('{"runtime": "flower", "flower": {}}')
    err = " ".join(_fail(capsys, ["flower", "local", "--resume", str(tmp_path)], 7).split())
    assert "no checkpoint" in err and "without --resume" in err


def test_flower_resume_refuses_a_simulator_run(capsys, tmp_path):
    (tmp_path / "config.json").write_text('{"method": "asyndbt"}')
    err = " ".join(_fail(capsys, ["flower", "simulate", "--resume", str(tmp_path)], 2).split())
    assert "asyndbt run --resume" in err


def test_flower_local_refuses_nodes_that_do_not_fit(capsys, tmp_path):
    err = " ".join(_fail(capsys, ["flower", "local", "--nodes", "100000", "--set", "task.name=synthetic",
                                  "--run-dir", str(tmp_path / "run")], 7).split())
    assert "100000 SuperNodes need about" in err and "available" in err and "at most" in err


def test_node_memory_guard_accepts_what_fits(tmp_path):
    from asyndbt.runtime.flower._launch import check_nodes_fit, node_memory_mb

    model = tmp_path / "m.gguf"
    model.write_bytes(b"\0" * (2**20))
    one = node_memory_mb(model, 2048)
    assert check_nodes_fit(8, model, 2048, available_mb=10 * one) == 8 * one


def test_unknown_backend_names_the_choices(capsys):
    err = " ".join(_fail(capsys, ["eval", "--backend", "grpc", "--task", "synthetic"], 2).split())
    assert "grpc" in err and "llama.cpp" in err and "http" in err
