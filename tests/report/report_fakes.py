"""Synthetic run directories with known numbers, written through the trainer's own TraceWriter.

Real training runs (see conftest) prove the report reads what ``e2train train`` writes; these prove the
arithmetic, because every joule in them is chosen by the test.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from e2train.energy.trace import COLUMNS, TraceWriter

PROFILE_PATH = Path(__file__).resolve().parents[2] / "measurements" / "profiles" / "fpga_zynq7020_prior.json"


def trace_row(i: int, energy_j: float, skipped: bool, b8: float, b32: float,
              measured: tuple[float, float] | None, short: bool = False) -> dict[str, Any]:
    """One iteration: modelled energy split 60/30/10 into compute/DRAM/static, a 0.5 s window at t=i."""
    e = 0.0 if skipped else energy_j
    row: dict[str, Any] = {c: 0.0 for c in COLUMNS if COLUMNS[c] == "float64"}
    row.update({c: 0 for c in COLUMNS if COLUMNS[c] == "int64"})
    row.update({
        "iteration": i, "epoch": 0, "skipped": skipped, "t_start": float(i), "t_end": i + 0.5,
        "loss": math.nan if skipped else 1.0, "lr": 0.1,
        "slu_executed_fraction": math.nan if skipped else 1.0, "psg_recompute_fraction_hw": math.nan,
        "psg_recompute_fraction_sw": math.nan,
        "energy_compute_model_j": 0.6 * e, "energy_dram_model_j": 0.3 * e,
        "energy_static_model_j": 0.1 * e, "energy_model_j": e, "energy_baseline8_model_j": b8,
        "energy_baseline32_model_j": b32, "energy_measured_j": math.nan, "energy_measured_err_j": math.nan,
        "energy_measured_gross_j": math.nan, "measured_short_window": None,
    })
    if measured is not None:
        row.update({"energy_measured_j": measured[0], "energy_measured_err_j": measured[1],
                    "energy_measured_gross_j": measured[0] + 1.0, "measured_short_window": short})
    return row


def write_run(run_dir: Path, *, iterations: int = 10, energy_j: float = 0.01, skipped: Sequence[int] = (),
              baseline8_j: float = 0.02, baseline32_j: float = 0.03,
              measured: Sequence[tuple[float, float]] | None = None, short: Sequence[int] = (),
              planned: int | None = None, accuracy: Sequence[tuple[int, float]] = ((5, 0.5), (10, 0.8)),
              summary_extra: dict | None = None, config_extra: dict | None = None,
              layers: bool = True) -> Path:
    """A finished run whose files agree with each other; returns ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = [trace_row(i, energy_j, i in skipped, baseline8_j, baseline32_j,
                      measured[i] if measured is not None else None, i in short) for i in range(iterations)]
    writer = TraceWriter(run_dir)
    for row in rows:
        writer.append(row)
    writer.close()
    trace = pd.DataFrame(rows)
    config = {"dataset": "digits", "data_dir": None, "model": "resnet14", "batch_size": 64,
              "energy_profile": "fpga_zynq7020_prior", "iters": planned or iterations, **(config_extra or {})}
    e, e8, e32 = (float(trace[k].sum()) for k in ("energy_model_j", "energy_baseline8_model_j",
                                                   "energy_baseline32_model_j"))
    measured_total = float(trace["energy_measured_j"].dropna().sum()) if measured is not None else None
    summary = {
        "test_accuracy": accuracy[-1][1] if accuracy else None, "test_executed_fraction": 1.0,
        "iterations": iterations, "iterations_planned": planned or iterations,
        "iterations_skipped": len(set(skipped)), "interrupted": False, "slu_executed_fraction": 1.0,
        "psg_recompute_fraction_hw": None, "energy_model_j": e, "energy_baseline8_model_j": e8,
        "energy_baseline32_model_j": e32, "savings_vs_baseline8": 1 - e / e8,
        "savings_vs_baseline32": 1 - e / e32,
        "energy_measured_j": measured_total,
        "energy_profile": {"name": "fpga_zynq7020_prior", "kind": "prior", "path": str(PROFILE_PATH)},
        "wall_time_s": 12.5, "train_time_s": 10.0, "config": config, **(summary_extra or {}),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    (run_dir / "config.json").write_text(json.dumps(config, indent=2))
    evals = [{"iteration": it, "epoch": 0, "test_accuracy": acc, "test_executed_fraction": 1.0,
              "energy_model_j": float(trace.loc[trace["iteration"] < it, "energy_model_j"].sum()),
              "energy_baseline8_model_j": baseline8_j * it, "energy_baseline32_model_j": baseline32_j * it}
             for it, acc in accuracy]
    if evals:  # the trainer writes eval.csv at its first evaluation
        pd.DataFrame(evals).to_csv(run_dir / "eval.csv", index=False)
    if layers:
        dynamic = float((trace["energy_compute_model_j"] + trace["energy_dram_model_j"]).sum())
        shares = {("stem", "mac_int8"): 0.2, ("stem", "dram_byte"): 0.1, ("fc", "mac_fp32"): 0.4,
                  ("fc", "dram_byte"): 0.3}
        pd.DataFrame([{"layer": la, "kind": k, "energy_j": dynamic * s} for (la, k), s in shares.items()]
                     ).to_csv(run_dir / "layer_energy.csv", index=False)
    return run_dir


def write_power(run_dir: Path, *, source: str = "hwmon:ina226", note: str = "", baseline_std_w: float = 0.1,
                n_eff: float = 100.0, resolution_w: float = 0.01) -> None:
    """A power.parquet whose metadata carries a one-rail idle baseline (the samples are not used)."""
    from e2train.power.base import Quantity, RailInfo
    from e2train.power.integrate import Baseline, RailBaseline
    from e2train.power.recorder import Recording

    rail = RailInfo("pl", Quantity.POWER, resolution_w, 0.0, note)
    baseline = Baseline(-2.0, 0.0, {"pl": RailBaseline("pl", 1.0, baseline_std_w, 200, 2.0, n_eff)})
    t = np.arange(0.0, 10.0, 0.01)
    Recording(t, np.full((len(t), 1), 1.5), (rail,), baseline, {"source": source, "rate_hz": 100.0}).save(
        run_dir / "power.parquet")
