"""Sweeps on a local Ray instance: a 2 x 2 x 2 grid on digits, reruns, failing trials, the CLI and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from e2train.cli.main import cli
from e2train.cli.report import energy_report
from e2train.sweep.folder import FAILED, FINISHED, SKIPPED, STATES_FILE
from e2train.sweep.runner import SweepError, run_sweep
from e2train.sweep.spec import SweepSpec


def _run(spec: SweepSpec, out: Path) -> tuple[dict, list]:
    seen = []
    states = run_sweep(spec, out, on_change=seen.append)
    return states, seen


def test_a_2x2x2_sweep_completes_and_a_rerun_starts_no_trial(tiny, local_ray, tmp_path: Path) -> None:
    from e2train.sweep.results import write_results

    spec = SweepSpec(base=tiny, grid={"smd": [0.0, 0.5], "psg": [False, True]}, seeds=[0, 1])
    states, _ = _run(spec, tmp_path)
    assert {s["status"] for s in states.values()} == {FINISHED} and len(states) == 8
    rows = write_results(spec, tmp_path, states)
    assert len(rows) == 8 and rows["test_accuracy"].notna().all()
    assert set(pd.read_parquet(tmp_path / "results.parquet").columns) >= {"smd", "psg", "seed", "status",
                                                                           "energy_model_j", "wall_time_s"}
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert len(summary) == 4 and (summary["seeds"] == 2).all()
    assert {"test_accuracy_mean", "test_accuracy_std", "savings_vs_baseline8_mean"} <= set(summary.columns)
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*/summary.json")}

    _, seen = _run(spec, tmp_path)
    assert set(seen[-1].states.values()) == {SKIPPED}  # nothing was submitted
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("*/summary.json")} == stamps


def test_a_failing_trial_is_recorded_and_the_others_finish(tiny, local_ray, tmp_path: Path) -> None:
    spec = SweepSpec(base=tiny, grid={"lr": [0.1, -1.0]}, seeds=[0], retries=0)
    states, _ = _run(spec, tmp_path)
    assert states["lr=0.1__seed=0"]["status"] == FINISHED
    failed = states["lr=-1.0__seed=0"]
    assert failed["status"] == FAILED and "lr=-1.0 must be > 0" in failed["error"]
    assert json.loads((tmp_path / STATES_FILE).read_text())["lr=-1.0__seed=0"]["status"] == FAILED


def test_a_dataset_the_worker_cannot_see_is_a_clear_trial_error(tiny, local_ray, tmp_path: Path) -> None:
    spec = SweepSpec(base={**tiny, "dataset": "cifar10", "data_dir": "/nowhere/cifar-10"}, retries=0)
    (state,) = _run(spec, tmp_path)[0].values()
    assert state["status"] == FAILED and "does not exist on worker" in state["error"]


def test_a_folder_of_another_sweep_is_refused(tiny, local_ray, tmp_path: Path) -> None:
    _run(SweepSpec(base=tiny, seeds=[0]), tmp_path)
    try:
        _run(SweepSpec(base=tiny, seeds=[1]), tmp_path)
    except SweepError as err:
        assert "holds a different sweep" in str(err)
    else:
        raise AssertionError("a second sweep was run in the folder of the first")


def test_cli_sweep_and_its_report(tiny, local_ray, tmp_path: Path) -> None:
    out = tmp_path / "sw"
    args = ["sweep", "--grid", "smd=0,0.5", "--seeds", "0", *[f"--set={k}={v}" for k, v in tiny.items()],
            "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "smd=0.5__seed=0" in result.output and (out / "results.csv").exists()
    html = tmp_path / "report.html"
    result = CliRunner().invoke(energy_report, [str(out), "--html", str(html), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("smd,seeds,test_accuracy_mean")
    page = html.read_text()
    assert "Accuracy against modelled energy" in page and "data:image/png;base64" in page
    bad = CliRunner().invoke(cli, ["sweep", "--grid", "learning_rate=0.1", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown option(s) learning_rate" in bad.output


def test_the_report_compares_with_the_reference_variant_and_draws_training_curves(tiny, local_ray,
                                                                                  tmp_path: Path) -> None:
    from e2train.report.sweep import DELTA, load_sweep, render_sweep_html, summary_rows, sweep_figures, training_curves

    spec = SweepSpec(base={**tiny, "iters": 8, "eval_every": 1}, seeds=[0], reference="full",
                     variants={"full": {"smd": 0.0}, "dropped": {"smd": 0.5}}).validate()
    out = tmp_path / "ref"
    run_sweep(spec, out)
    report = load_sweep(out)
    acc = report.summary.set_index("variant")["test_accuracy_mean"]
    delta = report.summary.set_index("variant")[DELTA]
    assert delta["full"] == 0.0 and delta["dropped"] == acc["dropped"] - acc["full"]
    header, rows = summary_rows(report)
    assert header[3] == "Δ top-1 vs full" and rows[0][3] == "+0.00 pt"
    curves = training_curves(report)
    assert set(curves["configuration"]) == {"full", "dropped"}
    last = curves.groupby("configuration").tail(1).set_index("configuration")
    # the curve sums per-iteration joules, the summary averages per-run totals: equal up to rounding order
    assert last.loc["full", "energy_model_j"] == pytest.approx(
        report.summary.set_index("variant").loc["full", "energy_model_j_mean"], rel=1e-12)
    page = render_sweep_html(report, sweep_figures(report))
    assert "Accuracy against cumulative energy" in page and page.count("data:image/png;base64") == 2


def test_a_local_sweep_starts_its_own_ray_beside_another_cluster(tmp_path: Path) -> None:
    """Without --address a sweep never joins a Ray it happens to find (RAY_ADDRESS, or the file a
    `ray start` leaves in /tmp/ray): joining one with num_cpus set is an error, and CI once hit it."""
    import os
    import subprocess
    import sys

    code = ("from e2train.sweep.runner import _init_ray\n"
            "ray, owned = _init_ray(None, 1)\n"
            "print(owned, int(ray.cluster_resources()['CPU']))\n"
            "ray.shutdown()\n")
    env = {**os.environ, "RAY_ADDRESS": "127.0.0.1:9"}  # a cluster that is not there
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "1"]
