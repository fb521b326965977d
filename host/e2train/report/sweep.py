"""The report of a sweep folder: the per-configuration table (mean and spread over seeds, and the
accuracy against the spec's reference variant), every trial, the accuracy-energy Pareto plot with error
bars and accuracy against cumulative energy during training, for the terminal and the HTML page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from e2train.report.html import esc, figure_html, page_html, table_html
from e2train.report.plots import label_axes, new_figure
from e2train.report.tables import fmt_pct
from e2train.run_dir import EVAL_FILE
from e2train.sweep.folder import FINISHED, read_spec, read_states
from e2train.sweep.results import param_columns, seed_summary, trial_rows
from e2train.sweep.spec import SweepSpec

ENERGY = "energy_model_j"
ACCURACY = "test_accuracy"
DELTA = "test_accuracy_vs_reference"  # mean accuracy minus the reference variant's, where the spec names one


@dataclass(frozen=True)
class SweepReport:
    folder: Path
    spec: SweepSpec
    trials: pd.DataFrame  # one row per trial (parameters, status, metrics)
    summary: pd.DataFrame  # one row per configuration (mean/std/seeds)

    @property
    def keys(self) -> list[str]:
        return param_columns(self.spec) or ["configuration"]


def load_sweep(folder: str | Path) -> SweepReport:
    folder = Path(folder)
    spec = read_spec(folder)
    trials = trial_rows(spec, folder, read_states(folder))
    summary = seed_summary(spec, trials)
    if spec.reference is not None and not summary.empty:
        summary[DELTA] = accuracy_against_reference(summary, spec.reference, sorted(spec.grid))
    return SweepReport(folder, spec, trials, summary)


def accuracy_against_reference(summary: pd.DataFrame, reference: str, grid_keys: list[str]) -> pd.Series:
    """Mean accuracy minus the reference variant's mean accuracy at the same grid point (NaN where the
    reference has no finished seed there)."""
    ref = summary[summary["variant"] == reference]
    ref = ref[[*grid_keys, f"{ACCURACY}_mean"]].rename(columns={f"{ACCURACY}_mean": "reference"})
    merged = summary[grid_keys].merge(ref, how="left", on=grid_keys) if grid_keys else \
        summary.assign(reference=ref["reference"].iloc[0] if len(ref) else np.nan)
    return pd.Series(summary[f"{ACCURACY}_mean"].to_numpy() - merged["reference"].to_numpy(), index=summary.index)


def configuration_label(row: dict, keys: list[str]) -> str:
    return ", ".join(str(row[k]) if k in ("variant", "configuration") else f"{k}={row[k]}" for k in keys)


def _mean_std(row: dict, metric: str, fmt) -> str:
    mean, std = row.get(f"{metric}_mean"), row.get(f"{metric}_std")
    if mean is None or pd.isna(mean):
        return "n/a"
    return fmt(mean) + ("" if std is None or pd.isna(std) else f" ± {fmt(std)}")


def summary_rows(report: SweepReport) -> tuple[list[str], list[list[str]]]:
    """The paper-style table: accuracy (and its change against the reference variant), modelled energy and
    savings as mean ± std over seeds."""
    reference = report.spec.reference
    header = ["configuration", "seeds", "test acc."] + ([f"Δ top-1 vs {reference}"] if reference else []) + [
        "modelled energy (J)", "savings vs 8-bit", "savings vs fp32", "measured energy (J)", "wall time (s)"]
    rows = []
    for r in report.summary.to_dict("records"):
        delta = [] if not reference else ["n/a" if pd.isna(r.get(DELTA)) else f"{100 * r[DELTA]:+.2f} pt"]
        rows.append([configuration_label(r, report.keys), str(r["seeds"]), _mean_std(r, ACCURACY, fmt_pct), *delta,
                     _mean_std(r, ENERGY, lambda v: f"{v:.4g}"),
                     _mean_std(r, "savings_vs_baseline8", fmt_pct), _mean_std(r, "savings_vs_baseline32", fmt_pct),
                     _mean_std(r, "energy_measured_j", lambda v: f"{v:.4g}"),
                     _mean_std(r, "wall_time_s", lambda v: f"{v:.0f}")])
    return header, rows


def trial_table_rows(report: SweepReport) -> tuple[list[str], list[list[str]]]:
    header = ["trial", "status", "test acc.", "modelled energy (J)", "savings vs 8-bit", "error"]
    rows = [[r["trial"], r["status"], fmt_pct(None if pd.isna(r[ACCURACY]) else r[ACCURACY]),
             "n/a" if pd.isna(r[ENERGY]) else f"{r[ENERGY]:.4g}",
             fmt_pct(None if pd.isna(r["savings_vs_baseline8"]) else r["savings_vs_baseline8"]),
             "" if r["error"] is None or pd.isna(r["error"]) else str(r["error"])]
            for r in report.trials.to_dict("records")]
    return header, rows


def pareto_front(energy: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """Indices of the configurations no other one beats on both axes (less energy, more accuracy)."""
    order = np.lexsort((-accuracy, energy))
    front, best = [], -np.inf
    for i in order:
        if accuracy[i] > best:
            front.append(i)
            best = accuracy[i]
    return np.array(front, dtype=int)


def pareto_figure(report: SweepReport) -> Figure | None:
    """Accuracy against modelled energy per configuration, error bars one std over seeds, front joined."""
    s = report.summary.dropna(subset=[f"{ENERGY}_mean", f"{ACCURACY}_mean"])
    if s.empty:
        return None
    energy, accuracy = s[f"{ENERGY}_mean"].to_numpy(float), s[f"{ACCURACY}_mean"].to_numpy(float)
    fig = new_figure(7.5, 4.8)
    ax = fig.add_subplot()
    ax.errorbar(energy, 100 * accuracy, xerr=s[f"{ENERGY}_std"].fillna(0).to_numpy(float),
                yerr=100 * s[f"{ACCURACY}_std"].fillna(0).to_numpy(float), fmt="o", capsize=3, color="#1f77b4",
                label="configuration (mean ± std over seeds)")
    front = pareto_front(energy, accuracy)
    ax.plot(energy[front], 100 * accuracy[front], "-", color="#d62728", label="Pareto front")
    for e, a, row in zip(energy, accuracy, s.to_dict("records"), strict=True):
        ax.annotate(configuration_label(row, report.keys), (e, 100 * a), textcoords="offset points",
                    xytext=(5, 4), fontsize=7)
    label_axes(ax, "modelled energy per run (J)", "test accuracy (%)", "Accuracy against energy")
    return fig


def training_curves(report: SweepReport) -> pd.DataFrame:
    """Per configuration and evaluation point, the mean over finished seeds of the cumulative modelled
    energy and the test accuracy (from each trial's eval.csv)."""
    frames = []
    for trial in report.trials[report.trials["status"] == FINISHED].to_dict("records"):
        path = report.folder / trial["trial"] / EVAL_FILE
        if path.exists():
            evals = pd.read_csv(path)[["iteration", ENERGY, ACCURACY]]
            frames.append(evals.assign(configuration=configuration_label(trial, report.keys)))
    if not frames:
        return pd.DataFrame(columns=["configuration", "iteration", ENERGY, ACCURACY, "seeds"])
    curves = pd.concat(frames).groupby(["configuration", "iteration"], sort=False)
    return curves[[ENERGY, ACCURACY]].mean().assign(seeds=curves.size()).reset_index()


def curves_figure(report: SweepReport) -> Figure | None:
    """Test accuracy against the energy spent so far, one line per configuration (mean over seeds): where
    a method reaches an accuracy for less energy, its line lies to the left."""
    curves = training_curves(report)
    if curves.empty:
        return None
    fig = new_figure(7.5, 4.8)
    ax = fig.add_subplot()
    for name, c in curves.groupby("configuration", sort=False):
        ax.plot(c[ENERGY], 100 * c[ACCURACY], "o-", markersize=3, label=str(name))
    label_axes(ax, "modelled energy so far (J)", "test accuracy (%)",
               "Accuracy against cumulative energy (mean over seeds)")
    return fig


def sweep_figures(report: SweepReport) -> dict[str, Figure]:
    figures = {"pareto": pareto_figure(report), "accuracy_vs_energy": curves_figure(report)}
    return {name: fig for name, fig in figures.items() if fig is not None}


def render_sweep_html(report: SweepReport, figures: dict[str, Figure]) -> str:
    done = int((report.trials["status"] == FINISHED).sum())
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sections = {"pareto": "Accuracy against energy",
                "accuracy_vs_energy": "Accuracy against cumulative energy during training"}
    plots = "".join(f"<h2>{title}</h2>" + (figure_html(name, figures[name]) if name in figures
                                            else "<p>No finished trial yet.</p>") for name, title in sections.items())
    body = (f"<h2>Configurations</h2>{table_html(*summary_rows(report))}{plots}"
            f"<h2>Trials</h2>{table_html(*trial_table_rows(report))}"
            f"<h3>Spec</h3><pre>{esc(report.spec.to_dict())}</pre>")
    subtitle = (f"sweep {report.folder}: {done} of {len(report.trials)} trial(s) finished; generated {generated} "
                "by energy-report")
    return page_html("E2-Train sweep report", subtitle, body)
