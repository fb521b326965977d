"""The e2train CLI: wrong flags and values are refused with a message that names what is allowed."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from e2train.cli.main import cli


def _run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("args,message", [
    (["--smd", "1.5"], "drop probability"),
    (["--slu-target", "0"], "computation fraction"),
    (["--dataset", "cifar10"], "needs data_dir"),
    (["--dataset", "mnist"], "'mnist' is not one of"),
    (["--model", "resnet21"], "is not one of"),
    (["--precision", "fp32", "--psg"], "psg needs precision=int8"),
    (["--batch-size", "0"], "batch_size=0 must be >= 1"),
    (["--dataset", "cifar10", "--data-dir", "/no/such/dir"], "no such file or folder"),
    (["--energy-profile", "nope"], "energy profile 'nope' not found"),
    (["--resume"], "--resume needs --out"),
    (["--psg-lr-scale", "0"], "psg_lr_scale=0.0 must be > 0"),
    (["--slu-eval-rule", "median"], "'median' is not one of"),
])
def test_bad_values_are_refused_clearly(tmp_path, args, message) -> None:
    result = _run("train", "--out", str(tmp_path / "run"), *args) if "--resume" not in args else _run("train", *args)
    assert result.exit_code != 0
    assert message in result.output


def test_resume_without_checkpoint(tmp_path) -> None:
    result = _run("train", "--out", str(tmp_path / "empty"), "--resume")
    assert result.exit_code != 0 and "nothing to resume" in result.output


def test_config_file_errors(tmp_path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("smd: [oops\n")
    assert "cannot parse" in _run("train", "--config", str(bad)).output
    unknown = tmp_path / "u.json"
    unknown.write_text(json.dumps({"learning_rate": 0.1}))
    assert "unknown option(s) learning_rate" in _run("train", "--config", str(unknown)).output


def test_refuses_to_overwrite_a_run(tmp_path) -> None:
    out = tmp_path / "run"
    assert _run("train", "--out", str(out), "--iters", "2", "--model", "resnet8").exit_code == 0
    result = _run("train", "--out", str(out), "--iters", "2", "--model", "resnet8")
    assert result.exit_code != 0 and "is not empty" in result.output and "--resume" in result.output


def test_train_prints_a_summary_with_savings(tmp_path) -> None:
    result = _run("train", "--out", str(tmp_path / "ok"), "--iters", "3", "--model", "resnet8")
    assert result.exit_code == 0, result.output
    assert "savings vs 8-bit baseline" in result.output and "savings vs fp32 baseline" in result.output


def test_every_command_has_help() -> None:
    for name, command in cli.commands.items():
        assert command.help, f"command {name} lacks a docstring"
        assert _run(name, "--help").exit_code == 0


@pytest.mark.parametrize("preset", ["cifar10-e2train", "cifar10-resnet74-paper", "cifar100-resnet110-paper"])
def test_show_config_prints_presets_that_still_need_a_data_dir(preset) -> None:
    result = _run("show-config", "--preset", preset)
    assert result.exit_code == 0, result.output
    config = json.loads(result.output)
    assert config["data_dir"] is None and config["input_grad"] == "int16" and config["psg_lr_scale"] == 1.0


def test_paper_presets_follow_the_papers_schedule() -> None:
    from e2train.config import resolve_config

    cfg = resolve_config("cifar10-resnet74-paper", overrides={"data_dir": "/data/cifar"})
    assert (cfg.model, cfg.iters, cfg.batch_size, cfg.lr) == ("resnet74", 64_000, 128, 0.1)
    assert resolve_config("cifar100-resnet110-paper", overrides={"data_dir": "/d"}).model == "resnet110"
