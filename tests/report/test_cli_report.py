"""``energy-report`` through click's CliRunner: outputs against the run summaries, and errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from e2train.cli.report import energy_report
from e2train.report.tables import fmt_j, fmt_pct


def _json(runner: CliRunner, *args: str) -> dict:
    res = runner.invoke(energy_report, [*args, "--format", "json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def _summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def test_help_is_documented_with_an_example(runner: CliRunner) -> None:
    res = runner.invoke(energy_report, ["--help"])
    assert res.exit_code == 0
    assert "Example: energy-report" in res.output
    for option in ("--baseline", "--format", "--output", "--plots", "--html"):
        assert option in res.output


def test_table_shows_every_run_with_its_summary_numbers(runner: CliRunner,
                                                        real_runs: dict[str, Path]) -> None:
    res = runner.invoke(energy_report, [str(p) for p in real_runs.values()])
    assert res.exit_code == 0, res.output
    for name, run_dir in real_runs.items():
        s = _summary(run_dir)
        assert name in res.stdout
        assert fmt_j(s["energy_model_j"]) in res.stdout
        assert fmt_pct(s["test_accuracy"]) in res.stdout
        assert fmt_pct(s["savings_vs_baseline8"]) in res.stdout
        assert f"{s['iterations']} ({s['iterations_skipped']})" in res.stdout
    assert "SIMULATED" in res.stdout  # the measured run used the simulated source
    assert "PRIOR energy profile" in res.stdout
    assert "…" not in res.stdout  # no number cut short by the table layout


def test_json_numbers_are_the_summaries(runner: CliRunner, real_runs: dict[str, Path]) -> None:
    doc = _json(runner, *map(str, real_runs.values()))
    by_name = {r["run"]: r for r in doc["runs"]}
    assert list(by_name) == list(real_runs)
    for name, run_dir in real_runs.items():
        s, r = _summary(run_dir), by_name[name]
        for key in ("test_accuracy", "iterations", "iterations_skipped", "energy_model_j",
                    "energy_baseline8_model_j", "energy_baseline32_model_j", "savings_vs_baseline8",
                    "savings_vs_baseline32", "energy_measured_j", "wall_time_s"):
            assert r[key] == (None if s[key] is None else pytest.approx(s[key], rel=1e-9)), key
        assert r["energy_profile_kind"] == "prior"
    measured = by_name["measured"]
    assert measured["measured_simulated"] is True
    assert measured["measured_iterations"] == measured["iterations"]
    assert measured["energy_measured_err_indep_j"] <= measured["energy_measured_err_j"]
    assert measured["energy_measured_err_j"] <= measured["energy_measured_err_linear_j"]
    assert by_name["plain"]["energy_measured_j"] is None and by_name["plain"]["measured_simulated"] is False
    assert any(n.startswith("SIMULATED") for n in doc["notes"])


def test_csv_has_one_row_per_run_matching_json(runner: CliRunner, real_runs: dict[str, Path],
                                               tmp_path: Path) -> None:
    out = tmp_path / "report.csv"
    res = runner.invoke(energy_report, [*map(str, real_runs.values()), "--format", "csv", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stdout == ""  # --output takes the comparison off stdout
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    doc = _json(runner, *map(str, real_runs.values()))
    assert [r["run"] for r in rows] == [r["run"] for r in doc["runs"]]
    for row, ref in zip(rows, doc["runs"]):
        assert float(row["energy_model_j"]) == pytest.approx(ref["energy_model_j"], rel=1e-12)
        if ref["energy_measured_j"] is None:
            assert row["energy_measured_j"] == ""
        else:
            assert float(row["energy_measured_j"]) == pytest.approx(ref["energy_measured_j"], rel=1e-12)


def test_table_to_a_file_is_plain_text(runner: CliRunner, real_runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "table.txt"
    res = runner.invoke(energy_report, [str(real_runs["measured"]), "-o", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "\x1b[" not in text and "measured" in text and "SIMULATED" in text
    assert fmt_j(_summary(real_runs["measured"])["energy_model_j"]) in text


def test_savings_against_a_baseline_run(runner: CliRunner, real_runs: dict[str, Path]) -> None:
    plain, e2 = real_runs["plain"], real_runs["e2train"]
    doc = _json(runner, str(e2), "--baseline", str(plain))
    runs = {r["run"]: r for r in doc["runs"]}
    assert list(runs) == ["plain", "e2train"]  # a baseline run not listed is added, first
    base_e, e = _summary(plain)["energy_model_j"], _summary(e2)["energy_model_j"]
    assert runs["e2train"]["savings_vs_baseline_run_model"] == pytest.approx(1 - e / base_e)
    assert runs["plain"]["savings_vs_baseline_run_model"] == 0.0
    assert runs["e2train"]["accuracy_delta_vs_baseline_run"] == pytest.approx(
        _summary(e2)["test_accuracy"] - _summary(plain)["test_accuracy"])
    assert runs["e2train"]["savings_vs_baseline_run_measured"] is None  # neither run was measured
    assert doc["baseline_run"] == "plain"
    assert runs["e2train"]["baseline_caveats"] == []  # same budget, data, model and profile

    res = runner.invoke(energy_report, [str(plain), str(e2), "--baseline", str(plain)])
    assert res.exit_code == 0, res.output
    assert "plain (baseline)" in res.stdout and "saved vs baseline" in res.stdout
    assert fmt_pct(1 - e / base_e) in res.stdout and " *" not in res.stdout


def test_plots_and_html_are_written(runner: CliRunner, real_runs: dict[str, Path], tmp_path: Path) -> None:
    plots, page = tmp_path / "plots", tmp_path / "out" / "report.html"
    args = [*map(str, real_runs.values()), "--plots", str(plots), "--html", str(page)]
    res = runner.invoke(energy_report, args)
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in plots.iterdir())
    assert names == ["accuracy_vs_energy.png", "breakdown_kinds.png", "breakdown_layers.png", "parity.png",
                     "timeline.png"]
    for png in plots.iterdir():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert page.is_file() and f"wrote {page}" in res.stderr


def test_no_parity_plot_without_measurements(runner: CliRunner, real_runs: dict[str, Path],
                                             tmp_path: Path) -> None:
    res = runner.invoke(energy_report, [str(real_runs["plain"]), "--plots", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "parity.png").exists() and (tmp_path / "timeline.png").exists()


# --- errors --------------------------------------------------------------------------------------------


def test_unknown_format_is_refused_with_the_allowed_list(runner: CliRunner,
                                                         real_runs: dict[str, Path]) -> None:
    res = runner.invoke(energy_report, [str(real_runs["plain"]), "--format", "xml"])
    assert res.exit_code == 2
    assert "'xml' is not one of 'table', 'json', 'csv'" in res.output


def test_missing_run_dir(runner: CliRunner, tmp_path: Path) -> None:
    res = runner.invoke(energy_report, [str(tmp_path / "nope")])
    assert res.exit_code == 2
    assert f"Error: {tmp_path / 'nope'}: no such run directory" in res.output


def test_missing_baseline_dir(runner: CliRunner, real_runs: dict[str, Path], tmp_path: Path) -> None:
    res = runner.invoke(energy_report, [str(real_runs["plain"]), "--baseline", str(tmp_path / "gone")])
    assert res.exit_code == 2 and "gone: no such run directory" in res.output


def test_truncated_parquet_names_the_file(runner: CliRunner, real_runs: dict[str, Path], copy_run) -> None:
    run = copy_run(real_runs["e2train"])
    trace = run / "trace.parquet"
    trace.write_bytes(trace.read_bytes()[: trace.stat().st_size // 2])
    res = runner.invoke(energy_report, [str(run)])
    assert res.exit_code == 2
    assert f"{trace}: unreadable Parquet file" in res.output
    assert "mJ" not in res.output  # no number printed from a damaged run


def test_truncated_summary_names_the_file(runner: CliRunner, real_runs: dict[str, Path], copy_run) -> None:
    run = copy_run(real_runs["plain"])
    summary = run / "summary.json"
    summary.write_text(summary.read_text()[:100])
    res = runner.invoke(energy_report, [str(run), "--format", "json"])
    assert res.exit_code == 2
    assert f"{summary}: not valid JSON" in res.output and res.stdout == ""


def test_unfinished_run_says_how_to_resume(runner: CliRunner, real_runs: dict[str, Path], copy_run) -> None:
    run = copy_run(real_runs["plain"])
    (run / "summary.json").unlink()
    res = runner.invoke(energy_report, [str(run)])
    assert res.exit_code == 2
    assert f"{run / 'summary.json'}: missing" in res.output and "--resume" in res.output


def test_one_bad_run_fails_the_whole_report(runner: CliRunner, real_runs: dict[str, Path], copy_run) -> None:
    run = copy_run(real_runs["plain"])
    (run / "trace.parquet").unlink()
    lines = (run / "trace.jsonl").read_text().splitlines()
    (run / "trace.jsonl").write_text("\n".join(lines[:-2]) + "\n")  # journal of a run cut short
    res = runner.invoke(energy_report, [str(real_runs["e2train"]), str(run)])
    assert res.exit_code == 2
    assert "says 6 iterations but" in res.output and "holds 4" in res.output


def test_unwritable_output_is_a_clear_error(runner: CliRunner, real_runs: dict[str, Path],
                                            tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    res = runner.invoke(energy_report, [str(real_runs["plain"]), "--format", "json", "--output",
                                        str(blocker / "x.json")])
    assert res.exit_code == 2 and "cannot write" in res.output
