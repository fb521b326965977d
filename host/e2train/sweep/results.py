"""The sweep's table: one row per trial from its run folder and status, and the spread over seeds.

``results.parquet`` / ``results.csv``: the trial's parameters (variant, grid keys, seed), its status and
error, and from ``summary.json`` accuracy, modelled and measured energy, savings and wall time.
``summary.csv``: per configuration (the parameters without the seed) the mean, standard deviation and
count of each metric over the finished seeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from e2train.run_dir import RunDir
from e2train.sweep.folder import FINISHED, RESULTS_CSV, RESULTS_PARQUET, SUMMARY_CSV
from e2train.sweep.spec import SweepSpec

METRICS = ("test_accuracy", "energy_model_j", "energy_measured_j", "savings_vs_baseline8", "savings_vs_baseline32",
           "wall_time_s")


def trial_rows(spec: SweepSpec, out: Path, states: dict[str, dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for trial in spec.trials():
        state = states.get(trial.name, {})
        summary = RunDir(out / trial.name).summary() or {}
        status = FINISHED if RunDir(out / trial.name).finished else state.get("status", "pending")
        rows.append({**trial.params, "trial": trial.name, "status": status, "error": state.get("error"),
                     **{m: summary.get(m) for m in METRICS}})
    frame = pd.DataFrame(rows)
    for metric in METRICS:
        frame[metric] = pd.to_numeric(frame[metric], errors="coerce")
    return frame


def param_columns(spec: SweepSpec) -> list[str]:
    """The configuration columns of the table, seed excluded."""
    return (["variant"] if spec.variants else []) + sorted(spec.grid)


def seed_summary(spec: SweepSpec, rows: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and count per configuration over finished seeds, in the spec's order."""
    keys = param_columns(spec)
    finished = rows[rows["status"] == FINISHED]
    if finished.empty:  # the same columns as below: a report of a sweep just started shows empty rows
        return pd.DataFrame(columns=[*keys, "seeds", *(f"{m}_{stat}" for m in METRICS for stat in ("mean", "std"))])
    if not keys:  # one configuration: every seed in one group
        finished = finished.assign(configuration="all")
        keys = ["configuration"]
    stats = finished.groupby(keys, sort=False, dropna=False)[list(METRICS)].agg(["mean", "std"])
    stats.columns = [f"{metric}_{stat}" for metric, stat in stats.columns]
    stats.insert(0, "seeds", finished.groupby(keys, sort=False, dropna=False).size())
    return stats.reset_index()


def write_results(spec: SweepSpec, out: Path, states: dict[str, dict[str, Any]]) -> pd.DataFrame:
    rows = trial_rows(spec, out, states)
    table = rows.astype({c: "string" for c in rows.columns if rows[c].dtype == object})
    table.to_parquet(out / RESULTS_PARQUET, index=False)
    rows.to_csv(out / RESULTS_CSV, index=False)
    seed_summary(spec, rows).to_csv(out / SUMMARY_CSV, index=False)
    return rows
