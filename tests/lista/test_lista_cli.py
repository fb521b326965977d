"""``e2train lista``: end to end on a tiny problem, resume, and one-line errors for bad input."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from e2train.cli.main import cli

TINY = ["--m", "12", "--n", "24", "--layers", "2", "--max-steps", "15", "--patience", "10"]


def _run(*args: str):  # noqa: ANN202 - click's Result
    return CliRunner().invoke(cli, ["lista", *args])


def test_train_writes_the_run_directory(tmp_path) -> None:
    out = tmp_path / "run"
    result = _run("train", *TINY, "--methods", "ista,fista,lista,lista-cp,lista-ss,lista-cpss,alista",
                  "--snr", "40", "--fixed-point", "emulate", "--out", str(out))
    assert result.exit_code == 0, result.output
    with open(out / "nmse.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["method", "layer", "nmse_db"]
    assert {r["method"] for r in rows} == {"ista", "fista", "lista", "lista-cp", "lista-ss", "lista-cpss", "alista"}
    assert [r["layer"] for r in rows if r["method"] == "fista"] == ["1", "2"]
    with open(out / "thresholds.csv") as f:
        assert len(list(csv.DictReader(f))) == 5 * 2
    with open(out / "nmse_fixed_point.csv") as f:
        assert {r["method"] for r in csv.DictReader(f)} == {"lista-cp", "lista-cpss", "alista"}
    for name in ("nmse.png", "thresholds.png", "problem.pt", "config.json"):
        assert (out / name).stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["snr_db"] == 40
    assert summary["methods"]["lista-cp"]["fixed_point"]["backend"] == "emulate"
    assert summary["energy_per_signal"]["int8x16"]["macs"] == 2 * 12 * 24 * 2
    assert "lista-cpss" in result.output


def test_eval_and_resume_of_a_finished_run(tmp_path) -> None:
    out = tmp_path / "run"
    assert _run("train", *TINY, "--methods", "ista,lista-cp", "--out", str(out)).exit_code == 0
    before = (out / "nmse.csv").read_text()
    result = _run("eval", str(out), "--fixed-point", "reference")
    assert result.exit_code == 0, result.output
    assert (out / "nmse.csv").read_text() == before
    assert (out / "nmse_fixed_point.csv").exists()
    again = _run("train", "--out", str(out), "--resume")
    assert again.exit_code == 0, again.output
    assert (out / "nmse.csv").read_text() == before
    report = _run("report", str(out))
    assert report.exit_code == 0, report.output
    assert "| layer | ista | lista-cp |" in report.output and "Fixed-point loss" in report.output


@pytest.mark.parametrize("args,message", [
    (["--methods", "ista,lasso"], "unknown method(s) lasso"),
    (["--methods", "lista-ss", "--ss-p-max", "0"], "0 would silently turn SS off"),
    (["--m", "50", "--n", "20"], "must not exceed"),
    (["--layers", "0"], "layers=0 must be an integer >= 1"),
    (["--snr", "nan"], "finite number of dB"),
    (["--preset", "huge"], "'huge' is not one of"),
    (["--fixed-point", "fpga"], "'fpga' is not one of"),
])
def test_bad_input_is_one_line(tmp_path, args: list[str], message: str) -> None:
    result = _run("train", *args, "--out", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_non_empty_out_and_bad_eval_dir(tmp_path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "notes.txt").write_text("mine")
    result = _run("train", *TINY, "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and "is not empty" in result.output
    result = _run("eval", str(tmp_path / "r"))
    assert result.exit_code == 2 and "not a LISTA run directory" in result.output
    result = _run("report", str(tmp_path / "r"))
    assert result.exit_code == 2 and "summary.json does not exist" in result.output
    result = _run("train", "--out", str(tmp_path / "r"), "--resume", "--layers", "3")
    assert result.exit_code == 2 and "give no other options" in result.output


def test_every_lista_command_has_help_with_an_example() -> None:
    from e2train.cli.lista_cmd import lista

    for name, command in lista.commands.items():
        assert command.help and "Example:" in command.help, name
        assert _run(name, "--help").exit_code == 0
