"""Library level: runs are checked against their own files, and the comparison's arithmetic is exact."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from report_fakes import write_power, write_run

from e2train.report.load import ReportError, load_run, load_runs, unique_names
from e2train.report.tables import compare_runs, report_notes, run_metrics, table_rows, to_csv, to_json

# --- the trainer's files, checked ----------------------------------------------------------------------


def test_real_run_loads_with_trace_derived_curves(real_runs: dict[str, Path]) -> None:
    run = load_run(real_runs["e2train"])
    assert run.name == "e2train" and len(run.trace) == 6
    last = run.evals.iloc[-1]
    assert last["iteration"] == 6
    assert last["energy_model_j"] == pytest.approx(run.summary["energy_model_j"])
    assert last["energy_baseline8_model_j"] == pytest.approx(run.summary["energy_baseline8_model_j"])
    assert run.layers is not None and run.profile.is_prior and run.profile.source.startswith("PRIOR")


def test_real_measured_run_is_marked_simulated(real_runs: dict[str, Path]) -> None:
    run = load_run(real_runs["measured"])
    assert run.power is not None and run.power.source == "simulated:pl"
    assert run.measured_simulated and run.has_measured
    assert run.power.correlated_sigma_w > 0


def test_summary_disagreeing_with_trace_is_an_error(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r")
    summary = json.loads((run / "summary.json").read_text())
    summary["energy_model_j"] *= 1.01
    (run / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ReportError, match=r"summary.json: energy_model_j=0.101 J but the trace sums to 0.1 J"
                       ):
        load_run(run)


@pytest.mark.parametrize("key, value, message", [
    ("energy_model_j", None, "not a finite number where one is needed: energy_model_j=None"),
    ("iterations", "10", "iterations='10'"),
    ("energy_measured_j", 1.0, "energy_measured_j=1 J but the trace holds no measured values"),
    ("iterations_skipped", 3, "says 3 SMD-skipped iterations, the trace 0"),
])
def test_malformed_summary_values(tmp_path: Path, key: str, value: object, message: str) -> None:
    run = write_run(tmp_path / "r")
    summary = json.loads((run / "summary.json").read_text())
    summary[key] = value
    (run / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ReportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_run(run)


def test_summary_missing_keys(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r")
    (run / "summary.json").write_text(json.dumps({"iterations": 10}))
    with pytest.raises(ReportError, match="lacks energy_model_j"):
        load_run(run)


def test_layer_breakdown_from_another_run_is_an_error(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r")
    (run / "layer_energy.csv").write_text("layer,kind,energy_j\nstem,mac_int8,5.0\n")
    with pytest.raises(ReportError, match="layer_energy.csv: layers sum to 5 J"):
        load_run(run)


def test_eval_beyond_the_trace_is_an_error(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", accuracy=((50, 0.9),))
    with pytest.raises(ReportError, match="eval.csv: evaluation at iteration 50 but the trace ends at 10"):
        load_run(run)


def test_wrong_eval_energies_warn_and_are_recomputed(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "r")
    text = (run_dir / "eval.csv").read_text().splitlines()
    header, rows = text[0], [r.split(",") for r in text[1:]]
    for r in rows:
        r[4] = "0"  # energy_model_j, as a trainer bug might write it
    (run_dir / "eval.csv").write_text("\n".join([header, *(",".join(r) for r in rows)]) + "\n")
    run = load_run(run_dir)
    assert any("cumulative energies disagree" in w for w in run.warnings)
    assert list(run.evals["energy_model_j"]) == pytest.approx([0.05, 0.10])


def test_optional_files_missing_are_warnings(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "r", layers=False)
    (run_dir / "eval.csv").unlink()
    run = load_run(run_dir)
    assert run.layers is None and run.evals.empty
    assert len([w for w in run.warnings if "missing" in w]) == 2


def test_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(ReportError, match="not a directory"):
        load_run(tmp_path / "f")
    with pytest.raises(ReportError, match="no run directory given"):
        load_runs([])


@given(st.lists(st.lists(st.sampled_from(["a", "b", "runs", "x y"]), min_size=1, max_size=4), max_size=6))
def test_unique_names_are_distinct(parts: list[list[str]]) -> None:
    paths = [Path("/", *p) for p in parts]
    names = unique_names(paths)
    assert len(set(names)) == len(names)
    for path, name in zip(paths, names):
        assert name.split(" (")[0].endswith(path.name)


# --- arithmetic --------------------------------------------------------------------------------------


def test_savings_and_baseline_run(tmp_path: Path) -> None:
    base = load_run(write_run(tmp_path / "base", energy_j=0.02))
    run = load_run(write_run(tmp_path / "run", energy_j=0.01, skipped=(3, 7)))
    m_base, m = compare_runs([base, run], base)
    assert m.energy_model_j == pytest.approx(0.08)
    assert m.savings_vs_baseline8 == pytest.approx(1 - 0.08 / 0.2)
    assert m.savings_vs_baseline32 == pytest.approx(1 - 0.08 / 0.3)
    assert m.savings_vs_baseline_run_model == pytest.approx(1 - 0.08 / 0.2)
    assert m_base.savings_vs_baseline_run_model == 0.0 and m_base.baseline_caveats == m.baseline_caveats == []


def test_comparison_caveats_name_what_differs(tmp_path: Path) -> None:
    base = load_run(write_run(tmp_path / "base", planned=20))
    other = load_run(write_run(tmp_path / "other", config_extra={"model": "resnet20"},
                               summary_extra={"energy_profile": {"name": "calib", "kind": "calibrated",
                                                                 "path": ""}}))
    m = compare_runs([base, other], base)[1]
    assert "budget differs from base: 10 vs 20 planned iterations" in m.baseline_caveats
    assert "model differ from base" in m.baseline_caveats
    assert any("energy profiles differ (calib vs fpga_zynq7020_prior)" in c for c in m.baseline_caveats)
    header, rows = table_rows([compare_runs([base, other], base)[0], m])
    assert rows[1][header.index("saved vs baseline")].endswith(" *")
    assert not rows[0][header.index("saved vs baseline")].endswith(" *")
    assert any("calib" in w and "not found" in w for w in m.warnings)


def test_measured_total_and_uncertainty_without_recording(tmp_path: Path) -> None:
    measured = [(0.5, 0.1)] * 10
    run = load_run(write_run(tmp_path / "r", measured=measured))
    m = run_metrics(run)
    assert m.energy_measured_j == pytest.approx(5.0)
    # no power.parquet: shared terms cannot be separated, so all errors add linearly
    assert m.energy_measured_err_j == pytest.approx(1.0) == m.energy_measured_err_linear_j
    assert m.energy_measured_err_indep_j == pytest.approx(0.1 * math.sqrt(10))
    assert not m.measured_simulated


def test_measured_uncertainty_separates_shared_terms(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "r", measured=[(0.5, 0.1)] * 10)
    write_power(run_dir, baseline_std_w=0.1, n_eff=100.0, resolution_w=0.01)
    m = run_metrics(load_run(run_dir))
    shared_w = math.sqrt(0.1**2 / 100 + 0.01**2 / 12)  # baseline mean + LSB, per second of window
    shared = shared_w * 0.5  # each window is 0.5 s
    expected = math.sqrt((10 * shared) ** 2 + 10 * (0.1**2 - shared**2))
    assert m.energy_measured_err_j == pytest.approx(expected)
    assert m.energy_measured_err_indep_j < m.energy_measured_err_j < m.energy_measured_err_linear_j


@pytest.mark.parametrize("how", ["summary_flag", "rail_note", "source"])
def test_simulated_measurements_are_detected(tmp_path: Path, how: str) -> None:
    run_dir = write_run(tmp_path / "r", measured=[(0.5, 0.1)] * 10,
                        summary_extra={"measured_simulated": True} if how == "summary_flag" else None)
    if how == "rail_note":
        write_power(run_dir, note="simulated")
    elif how == "source":
        write_power(run_dir, source="simulated")
    runs = [load_run(run_dir)]
    metrics = compare_runs(runs)
    assert metrics[0].measured_simulated
    assert report_notes(runs, metrics)[0].startswith("SIMULATED")


def test_partial_measurement_gives_no_measured_saving(tmp_path: Path) -> None:
    measured = [(0.5, 0.1)] * 5 + [(math.nan, math.nan)] * 5
    base = load_run(write_run(tmp_path / "base", measured=[(1.0, 0.1)] * 10))
    run = load_run(write_run(tmp_path / "run", measured=measured))
    assert any("covers 5 of 10" in w for w in run.warnings)
    m = compare_runs([run], base)[0]
    assert m.measured_iterations == 5 and m.energy_measured_j == pytest.approx(2.5)
    assert m.energy_model_on_measured_j == pytest.approx(0.05)
    assert m.savings_vs_baseline_run_measured is None  # half a run's joules are not the run's energy


def test_mape_skips_short_and_skipped_windows(tmp_path: Path) -> None:
    measured = [(0.02, 0.001)] * 10  # model 0.01 J per iteration: 50 % off
    measured[1] = (1.0, 0.5)  # a window shorter than the sensor refresh: interpolation, not measurement
    run_dir = write_run(tmp_path / "r", measured=measured, skipped=(0,), short=(1,))
    m = run_metrics(load_run(run_dir))
    assert m.model_vs_measured_mape == pytest.approx(0.5)
    assert m.measured_short_windows == 1 and any("shorter than the sensor" in c for c in m.caveats)


def test_json_and_csv_are_strict(tmp_path: Path) -> None:
    run = load_run(write_run(tmp_path / "r"))
    metrics = compare_runs([run])
    doc = json.loads(to_json(metrics, ["note"]))  # allow_nan=False: a NaN would have raised
    assert doc["runs"][0]["energy_measured_j"] is None
    lines = to_csv(metrics).splitlines()
    assert len(lines) == 2 and lines[0].startswith("run,path,test_accuracy")
