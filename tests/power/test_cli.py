"""CLI: exit codes and one-line messages, via click's CliRunner on the command objects."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from e2train.cli.power_cmd import calibrate, power


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_list_shows_every_kind_with_reason(runner: CliRunner, hwmon_root: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        power, ["list", "--hwmon-root", str(hwmon_root), "--powercap-root", str(tmp_path / "x")]
    )
    assert res.exit_code == 0, res.output
    assert "hwmon:ina226_u79" in res.output and "ina238_u14 [J" in res.output
    assert "does not exist" in res.output  # powercap
    for kind in ("simulated", "pynq", "rapl", "nvml"):
        assert kind in res.output


def test_list_json(runner: CliRunner, rapl_root: Path) -> None:
    res = runner.invoke(power, ["list", "--json", "--powercap-root", str(rapl_root)])
    assert res.exit_code == 0
    data = json.loads(res.output)
    rapl = next(d for d in data if d["kind"] == "rapl")
    assert rapl["available"] and {r["unit"] for r in rapl["rails"]} == {"J"}
    assert all(d["reason"] for d in data)


def test_record_simulated(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "rec.parquet"
    res = runner.invoke(
        power,
        ["record", "simulated:a,b", "--seconds", "0.3", "--rate", "100", "--baseline", "0.1", "-o", str(out)],
    )
    assert res.exit_code == 0, res.output
    assert "rate " in res.output and "jitter" in res.output and "CPU overhead" in res.output
    assert "baseline" in res.output and "net" in res.output
    assert pq.read_table(out).column_names == ["t_s", "a_w", "b_w"]


def test_record_hwmon_tree(runner: CliRunner, hwmon_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "hw.parquet"
    res = runner.invoke(
        power,
        ["record", "hwmon:ina226", "-s", "0.1", "--hwmon-root", str(hwmon_root), "-o", str(out)],
    )
    assert res.exit_code == 0, res.output
    assert pd.read_parquet(out)["ina226_w"].eq(18.0).all()


@pytest.mark.parametrize(
    ("spec", "message"),
    [("gpu:0", "unknown power source 'gpu'"), ("rapl", "does not exist"), ("hwmon:nope", "does not exist")],
)
def test_record_errors_are_one_line(runner: CliRunner, tmp_path: Path, spec: str, message: str) -> None:
    res = runner.invoke(
        power,
        [
            "record",
            spec,
            "-s",
            "0.1",
            "-o",
            str(tmp_path / "x.parquet"),
            "--hwmon-root",
            str(tmp_path / "no-hwmon"),
            "--powercap-root",
            str(tmp_path / "no-powercap"),
        ],
    )
    assert res.exit_code == 2
    assert message in res.output and "e2train power list" in res.output
    assert "Traceback" not in res.output


def test_record_rejects_bad_rate(runner: CliRunner, tmp_path: Path) -> None:
    res = runner.invoke(power, ["record", "simulated", "--rate", "0", "-o", str(tmp_path / "x.parquet")])
    assert res.exit_code == 2 and "--rate" in res.output


def test_calibrate_missing_trace(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    res = runner.invoke(
        calibrate, [str(tmp_path / "run"), "--out", str(tmp_path / "p.json"), "--clock-hz", "1e8"]
    )
    assert res.exit_code == 2
    assert "trace.parquet not found" in res.output


def test_calibrate_names_a_folder_without_a_run_first(runner: CliRunner, tmp_path: Path) -> None:
    res = runner.invoke(calibrate, [str(tmp_path), "--out", str(tmp_path / "p.json")])
    assert res.exit_code == 2 and "trace.parquet not found" in res.output


def test_calibrate_writes_profile(runner: CliRunner, tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    n = 40
    dur = rng.uniform(0.05, 0.2, n)
    macs = rng.uniform(1e9, 1e10, n)
    run = tmp_path / "run"
    run.mkdir()
    pd.DataFrame(
        {
            "t_start": np.arange(n),
            "t_end": np.arange(n) + dur,
            "count_mac_int8": macs,
            "energy_measured_j": 2.0 * dur + 3e-12 * macs,
        }
    ).to_parquet(run / "trace.parquet")
    out = tmp_path / "p.json"
    res = runner.invoke(calibrate, [str(run), "--out", str(out), "--clock-hz", "1e8", "--name", "t"])
    assert res.exit_code == 0, res.output
    assert "MAPE" in res.output
    prof = json.loads(out.read_text())
    assert prof["static_power_w"] == pytest.approx(2.0)
    assert prof["energy_pj"]["mac_int8"] == pytest.approx(3.0)


def test_every_command_is_documented() -> None:
    cmds = [power, calibrate, *power.commands.values()]
    for cmd in cmds:
        assert cmd.help and "Example:" in cmd.help, cmd.name


def test_train_measures_a_hwmon_tree_given_by_its_root(runner: CliRunner, hwmon_root: Path, tmp_path: Path) -> None:
    from e2train.cli.main import cli

    out = tmp_path / "run"
    res = runner.invoke(cli, ["train", "--out", str(out), "--model", "resnet8", "--iters", "2", "--batch-size", "16",
                              "--power", "hwmon:ina226", "--hwmon-root", str(hwmon_root)])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["power_source"].startswith("hwmon") and summary["energy_measured_coverage"] == 1.0
