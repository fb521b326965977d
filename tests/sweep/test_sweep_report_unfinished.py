"""The report of a sweep that has not finished a trial yet (the first hour of a long sweep) is a page of
empty rows, not a traceback; no Ray is needed to read a sweep folder."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from e2train.cli.report import energy_report
from e2train.sweep.runner import prepare_folder
from e2train.sweep.spec import SweepSpec


def test_a_sweep_without_a_finished_trial_reports_empty_rows(tmp_path: Path) -> None:
    spec = SweepSpec(variants={"8-bit": {"preset": "quickstart"}, "SMD": {"preset": "quickstart", "smd": 0.5}},
                     seeds=[0, 1], reference="8-bit")
    prepare_folder(spec.validate(), tmp_path / "sweep")
    html = tmp_path / "report.html"
    result = CliRunner().invoke(energy_report, [str(tmp_path / "sweep"), "--html", str(html)])
    assert result.exit_code == 0, result.output
    page = html.read_text()
    assert "0 of 4 trial(s) finished" in page and page.count("No finished trial yet.") == 2
