"""Calibration recovers known per-op energies and static power from synthetic measured traces."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2train.energy.calibrate import (
    KNOWN_KINDS,
    CalibrationError,
    calibrate_runs,
    fit_calibration,
)

TRUE_STATIC_W = 1.6
TRUE_PJ = {"mac_int8": 2.5, "mac_int8x16": 4.0, "mac_fp32": 40.0, "dram_byte": 90.0}


def make_trace(n: int, seed: int, noise_j: float = 2e-3, static_w: float = TRUE_STATIC_W) -> pd.DataFrame:
    """Iterations with varied op mixes (as different layers/skip patterns give), energy from the true model
    plus Gaussian noise. ``count_mac_int4x16`` is present but never used (all zero)."""
    rng = np.random.default_rng(seed)
    t_start = np.cumsum(rng.uniform(0.1, 0.3, n))
    dur = rng.uniform(0.05, 0.25, n)
    counts = {
        "mac_int8": rng.uniform(0, 4e10, n),
        "mac_int8x16": rng.uniform(0, 2e10, n),
        "mac_int4x16": np.zeros(n),
        "mac_fp32": rng.uniform(0, 2e9, n),
        "dram_byte": rng.uniform(1e7, 5e8, n),
    }
    energy = static_w * dur + sum(TRUE_PJ.get(k, 0.0) * 1e-12 * v for k, v in counts.items())
    energy = energy + rng.normal(0.0, noise_j, n)
    return pd.DataFrame(
        {
            "iteration": np.arange(n),
            "t_start": t_start,
            "t_end": t_start + dur,
            "energy_measured_j": energy,
            **{f"count_{k}": v for k, v in counts.items()},
        }
    )


def test_recovers_coefficients_within_confidence_intervals() -> None:
    result = fit_calibration(make_trace(300, seed=1))
    assert result.static.contains(TRUE_STATIC_W), result.summary()
    for kind, truth in TRUE_PJ.items():
        assert result.energies[kind].contains(truth), result.summary()
        assert result.energies[kind].value == pytest.approx(truth, rel=0.1)
    assert result.dropped_all_zero == ["mac_int4x16"]
    assert "mac_int4x16" not in result.energies
    assert result.r2 > 0.99
    assert result.mape_pct < 2.0
    assert result.iterations == 300
    assert result.rmse_j == pytest.approx(2e-3, rel=0.15)  # the injected noise


def test_confidence_intervals_have_nominal_coverage() -> None:
    """Over many independent traces the 95 % intervals hold the truth about 95 % of the time."""
    hits = {k: 0 for k in ("static", *TRUE_PJ)}
    trials = 200
    for seed in range(trials):
        r = fit_calibration(make_trace(60, seed=1000 + seed, noise_j=5e-3))
        hits["static"] += r.static.contains(TRUE_STATIC_W)
        for k, truth in TRUE_PJ.items():
            hits[k] += r.energies[k].contains(truth)
    for k, h in hits.items():
        assert 0.90 <= h / trials <= 0.99, (k, h / trials)


def test_bootstrap_intervals_contain_truth() -> None:
    r = fit_calibration(make_trace(200, seed=7), ci="bootstrap", n_boot=200, seed=3)
    assert r.static.contains(TRUE_STATIC_W)
    assert all(r.energies[k].contains(v) for k, v in TRUE_PJ.items()), r.summary()
    assert r.ci_method.startswith("bootstrap")


def test_noise_free_fit_is_exact() -> None:
    r = fit_calibration(make_trace(50, seed=2, noise_j=0.0))
    assert r.static_power_w == pytest.approx(TRUE_STATIC_W, rel=1e-6)
    for k, v in TRUE_PJ.items():
        assert r.energy_pj[k] == pytest.approx(v, rel=1e-6)
    assert r.mape_pct < 1e-6


def test_collinear_columns_reported_unidentifiable() -> None:
    df = make_trace(100, seed=4)
    df["count_flop_fp32"] = 2.0 * df["count_mac_fp32"]  # every FLOP count is tied to the MAC count
    r = fit_calibration(df)
    assert set(r.unidentifiable) == {"mac_fp32", "flop_fp32"}
    assert not r.energies["flop_fp32"].identifiable and math.isinf(r.energies["flop_fp32"].ci_high)
    assert r.energies["mac_int8"].contains(TRUE_PJ["mac_int8"])


def test_nonnegative_and_at_bound_flag() -> None:
    df = make_trace(100, seed=5)
    df["count_flop_fp32"] = np.random.default_rng(0).uniform(0, 1e9, len(df))  # contributes nothing
    r = fit_calibration(df)
    assert all(c.value >= 0 for c in r.energies.values())
    assert r.energies["flop_fp32"].value == pytest.approx(0.0, abs=5.0)


def test_rows_without_measurement_are_dropped_and_counted() -> None:
    df = make_trace(80, seed=6)
    df.loc[:9, "energy_measured_j"] = np.nan  # e.g. short windows or no power source
    r = fit_calibration(df)
    assert r.rows_dropped == 10 and r.iterations == 70


def test_errors_name_what_is_missing() -> None:
    df = make_trace(20, seed=8)
    with pytest.raises(CalibrationError, match="energy_measured_j"):
        fit_calibration(df.drop(columns="energy_measured_j"))
    with pytest.raises(CalibrationError, match="no count_<kind> columns"):
        fit_calibration(df[["t_start", "t_end", "energy_measured_j"]])
    with pytest.raises(CalibrationError, match="more iterations than coefficients"):
        fit_calibration(df.head(4))


def _write_run(path: Path, df: pd.DataFrame) -> Path:
    path.mkdir(parents=True)
    df.to_parquet(path / "trace.parquet")
    return path


def test_calibrate_runs_writes_profile_with_provenance(tmp_path: Path) -> None:
    runs = [_write_run(tmp_path / f"run{i}", make_trace(100, seed=20 + i)) for i in range(2)]
    prior = tmp_path / "prior.json"
    prior.write_text(
        json.dumps(
            {
                "name": "horowitz-45nm-x13",
                "kind": "prior",
                "source": "Horowitz ISSCC 2014 x 13 (FPGA)",
                "provenance": {},
                "clock_hz": 100e6,
                "static_power_w": 1.0,
                "energy_pj": dict.fromkeys(KNOWN_KINDS, 1.0),
            }
        )
    )
    out = tmp_path / "profiles" / "board.json"
    result, profile = calibrate_runs(runs, out, name="zcu104-test", prior=prior)
    on_disk = json.loads(out.read_text())
    assert on_disk == profile
    assert profile["name"] == "zcu104-test" and profile["kind"] == "calibrated"
    assert profile["clock_hz"] == 100e6
    assert set(profile["energy_pj"]) == set(KNOWN_KINDS)
    assert profile["energy_pj"]["mac_fp32"] == pytest.approx(TRUE_PJ["mac_fp32"], rel=0.1)
    prov = profile["provenance"]
    assert prov["runs"] == [str(r) for r in runs]
    assert prov["iterations"] == 200
    # Not fitted: taken from the prior and said so.
    assert profile["energy_pj"]["mac_int4x16"] == 1.0 and "prior" in prov["not_fitted"]["mac_int4x16"]
    assert profile["energy_pj"]["flop_fp32"] == 1.0
    assert prov["fit"]["r2"] > 0.99
    lo, hi = prov["ci"]["static_power_w"]
    assert lo <= TRUE_STATIC_W <= hi
    assert result.runs == prov["runs"]


def test_without_prior_unfitted_kinds_are_null(tmp_path: Path) -> None:
    run = _write_run(tmp_path / "run", make_trace(50, seed=30))
    _, profile = calibrate_runs([run], tmp_path / "p.json", clock_hz=250e6)
    assert profile["energy_pj"]["mac_int4x16"] is None
    assert "no prior" in profile["provenance"]["not_fitted"]["mac_int4x16"]
    with pytest.raises(CalibrationError, match="clock_hz or a prior"):
        calibrate_runs([run], tmp_path / "q.json")


def test_missing_trace_file(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CalibrationError, match=r"trace\.parquet not found"):
        calibrate_runs([tmp_path / "empty"], tmp_path / "p.json", clock_hz=1e8)


def test_a_missing_folder_is_named_before_the_clock(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match=r"trace\.parquet not found"):
        calibrate_runs([tmp_path / "no-such-run"], tmp_path / "p.json")  # no clock, no prior either


def test_a_fit_that_explains_nothing_writes_no_profile(tmp_path: Path) -> None:
    frame = make_trace(100, seed=40)
    frame["energy_measured_j"] = np.random.default_rng(1).permutation(frame["energy_measured_j"].to_numpy())
    run = _write_run(tmp_path / "noise", frame)
    with pytest.raises(CalibrationError, match=r"R\^2 .* < 0.5.*no profile written"):
        calibrate_runs([run], tmp_path / "p.json", clock_hz=1e8)
    assert not (tmp_path / "p.json").exists()
    calibrate_runs([run], tmp_path / "weak.json", clock_hz=1e8, min_r2=-math.inf)  # asked for explicitly
    assert (tmp_path / "weak.json").exists()
