"""Figures of a set of runs, as matplotlib ``Figure`` objects rendered with the Agg canvas.

Figures are built with ``matplotlib.figure.Figure`` directly, never through ``pyplot``: no global
backend switch, no figure registry to leak memory, and the same objects serve both the PNG files and
the HTML page. Measured energy from simulated rails is labelled SIMULATED wherever it is drawn.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from e2train.report.load import Run
from e2train.report.tables import model_mape, trusted_windows

log = logging.getLogger(__name__)

DPI = 110
ROLLING_FROM = 100  # iterations; above this the timeline adds a rolling mean
# Op kinds in a fixed order and colour so that every breakdown reads the same.
KIND_ORDER = ("mac_int8", "mac_int8x16", "mac_int4x16", "mac_fp32", "mac_ortho", "flop_fp32", "dram_byte", "static")
KIND_COLORS = dict(zip(KIND_ORDER, ("#4c72b0", "#55a868", "#8172b2", "#c44e52", "#da8bc3", "#dd8452", "#937860",
                                    "#bbbbbb")))


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def label_axes(ax, xlabel: str, ylabel: str, title: str) -> None:  # noqa: ANN001 - a matplotlib Axes
    """Labels, title, a light grid and a small legend: the finish every line plot here shares."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _run_colors(runs: list[Run]) -> dict[str, str]:
    cycle = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
             "#bcbd22", "#17becf"]
    return {r.name: cycle[i % len(cycle)] for i, r in enumerate(runs)}


def _measured_label(run: Run) -> str:
    return "measured (SIMULATED)" if run.measured_simulated else "measured (net of idle)"


def timeline(runs: list[Run]) -> Figure:
    """Per-iteration modelled and measured joules, one panel per run (skipped iterations model to 0)."""
    fig = new_figure(9.0, 2.4 * len(runs) + 0.6)
    axes = fig.subplots(len(runs), 1, squeeze=False)[:, 0]
    for ax, run in zip(axes, runs):
        t = run.trace
        it = t["iteration"].to_numpy()
        # steps: a value holds for its whole iteration; an SMD-skipped iteration really models to 0 J
        ax.plot(it, t["energy_model_j"].to_numpy(), color="#1f77b4", lw=1.0, drawstyle="steps-mid",
                label="modelled")
        if len(t) > ROLLING_FROM:  # long runs: single iterations blur, the trend (skips averaged in) does not
            window = max(len(t) // 50, 5)
            trend = t["energy_model_j"].rolling(window, center=True, min_periods=1).mean().to_numpy()
            ax.plot(it, trend, color="#0b3c6e", lw=2.0, label=f"modelled, mean of {window}")
        skipped = t["skipped"].to_numpy(bool)
        if skipped.any():
            ax.plot(it[skipped], np.zeros(skipped.sum()), "|", color="#999999", ms=6, label="SMD-skipped")
        if run.has_measured:
            measured = t["energy_measured_j"].to_numpy(float)
            err = np.nan_to_num(t["energy_measured_err_j"].to_numpy(float))
            color = "#d62728"
            ax.plot(it, measured, color=color, lw=1.0, drawstyle="steps-mid", label=_measured_label(run))
            ax.fill_between(it, measured - err, measured + err, color=color, alpha=0.2, lw=0, step="mid",
                            label="measured ± 1σ")
        title = run.name + ("   [measured energy SIMULATED]" if run.measured_simulated and run.has_measured
                            else "")
        ax.set_title(title, fontsize=10, loc="left", color="#b00000" if run.measured_simulated else "black")
        ax.set_ylabel("J / iteration")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right", ncols=2)
    axes[-1].set_xlabel("iteration")
    fig.suptitle("Energy per iteration", fontsize=11)
    return fig


def _layer_table(run: Run) -> pd.DataFrame:
    """layers x kinds (joules), layers in network order, kinds in ``KIND_ORDER``."""
    assert run.layers is not None
    table = run.layers.pivot_table(index="layer", columns="kind", values="energy_j", aggfunc="sum",
                                   sort=False)
    kinds = [k for k in KIND_ORDER if k in table.columns] + sorted(set(table.columns) - set(KIND_ORDER))
    return table.reindex(columns=kinds).fillna(0.0)


def _stacked_bars(ax, labels: list[str], table: pd.DataFrame, horizontal: bool) -> None:
    bottom = np.zeros(len(table))
    positions = np.arange(len(table))
    for kind in table.columns:
        values = table[kind].to_numpy(float)
        color = KIND_COLORS.get(kind)
        if horizontal:
            ax.barh(positions, values, left=bottom, label=kind, color=color)
        else:
            ax.bar(positions, values, bottom=bottom, label=kind, color=color)
        bottom += values
    if horizontal:
        ax.set_yticks(positions, labels, fontsize=7)
        ax.invert_yaxis()
    else:
        ax.set_xticks(positions, labels, fontsize=8, rotation=20, ha="right")


def breakdown_layers(runs: list[Run]) -> Figure | None:
    """Dynamic modelled joules per layer, stacked by op kind; one panel per run that has a breakdown."""
    with_layers = [r for r in runs if r.layers is not None and not r.layers.empty]
    if not with_layers:
        return None
    tables = [_layer_table(r) for r in with_layers]
    height = sum(max(2.5, 0.17 * len(t) + 1.0) for t in tables)
    fig = new_figure(9.0, height)
    axes = fig.subplots(len(with_layers), 1, squeeze=False,
                        height_ratios=[max(2.5, 0.17 * len(t) + 1.0) for t in tables])[:, 0]
    for ax, run, table in zip(axes, with_layers, tables):
        _stacked_bars(ax, list(table.index), table, horizontal=True)
        ax.set_title(f"{run.name}: dynamic modelled energy by layer ({run.profile.name}, {run.profile.kind})",
                     fontsize=10, loc="left")
        ax.set_xlabel("J over the run")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    return fig


def breakdown_kinds(runs: list[Run]) -> Figure:
    """Modelled joules per run stacked by op kind plus static: the bars' heights are the runs' totals."""
    rows = {}
    for run in runs:
        if run.layers is not None and not run.layers.empty:
            by_kind = run.layers.groupby("kind")["energy_j"].sum()
        else:  # no per-layer file: compute and DRAM totals from the trace are the best split available
            by_kind = pd.Series({"compute": run.trace["energy_compute_model_j"].sum(),
                                 "dram_byte": run.trace["energy_dram_model_j"].sum()})
        by_kind["static"] = run.trace["energy_static_model_j"].sum()
        rows[run.name] = by_kind
    table = pd.DataFrame(rows).T.fillna(0.0)
    kinds = [k for k in KIND_ORDER if k in table.columns] + sorted(set(table.columns) - set(KIND_ORDER))
    table = table[kinds]
    fig = new_figure(max(5.0, 1.3 * len(runs) + 3.0), 4.2)
    ax = fig.subplots()
    _stacked_bars(ax, list(table.index), table, horizontal=False)
    ax.set_ylabel("modelled J over the run")
    ax.set_title("Modelled energy by operation kind", fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def accuracy_vs_energy(runs: list[Run], baseline: str | None = None) -> Figure | None:
    """Test accuracy against cumulative modelled joules (the curve a paper plots), measured joules too
    where the whole run was measured; the modelled baselines' totals as vertical lines on the same axis."""
    with_evals = [r for r in runs if not r.evals.empty]
    if not with_evals:
        return None
    colors = _run_colors(runs)
    fig = new_figure(8.0, 4.8)
    ax = fig.subplots()
    for run in with_evals:
        e = run.evals
        color = colors[run.name]
        lw = 2.6 if run.name == baseline else 1.6
        label = run.name + (" (baseline run)" if run.name == baseline else "") + ", modelled"
        ax.plot(e["energy_model_j"], e["test_accuracy"], "o-", color=color, lw=lw, label=label)
        if e["energy_measured_j"].notna().all() and run.has_measured:
            ax.plot(e["energy_measured_j"], e["test_accuracy"], "s--", color=color, lw=1.0, mfc="white",
                    label=f"{run.name}, {_measured_label(run)}")
    seen: list[float] = []
    for run in with_evals:
        for key, style, what in (("energy_baseline8_model_j", ":", "8-bit"),
                                 ("energy_baseline32_model_j", "-.", "fp32")):
            total = float(run.trace[key].sum())
            if any(np.isclose(total, s, rtol=1e-9) for s in seen):
                continue  # runs of equal budget and network share their baselines' line (drawn once)
            seen.append(total)
            ax.axvline(total, color=colors[run.name], ls=style, lw=1.2, alpha=0.8,
                       label=f"{what} baseline of {run.name}'s budget ({total:.3g} J)")
    energies = [v for r in with_evals for v in r.evals["energy_model_j"] if v > 0]
    energies += [s for s in seen if s > 0]
    if energies and max(energies) / min(energies) > 50:
        ax.set_xscale("log")
    ax.set_xlabel("cumulative energy (J)")
    ax.set_ylabel("test accuracy")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_title("Accuracy against cumulative energy", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def parity(runs: list[Run]) -> Figure | None:
    """Modelled against measured joules per iteration (y = x is perfect agreement), with the MAPE.

    Only iterations that ran and whose window outlasts the sensor's refresh period count toward the
    MAPE; short windows are drawn hollow for completeness.
    """
    measured_runs = [r for r in runs if r.has_measured]
    if not measured_runs:
        return None
    colors = _run_colors(runs)
    fig = new_figure(6.8, 5.6)
    ax = fig.subplots()
    lo, hi = np.inf, -np.inf
    for run in measured_runs:
        t = run.trace
        ran = t["energy_measured_j"].notna() & ~t["skipped"]
        good = trusted_windows(run)
        short = ran & ~good
        color = colors[run.name]
        rows = t[good]
        model, meas = rows["energy_model_j"].to_numpy(float), rows["energy_measured_j"].to_numpy(float)
        mape, n = model_mape(run)
        tag = " SIMULATED" if run.measured_simulated else ""
        score = f"MAPE {mape:.1%} over {n} windows" if mape is not None else "no window with measured > 0"
        ax.errorbar(model, meas, yerr=np.nan_to_num(rows["energy_measured_err_j"].to_numpy(float)), fmt="o",
                    ms=3, color=color, ecolor=color, elinewidth=0.7, alpha=0.8,
                    label=f"{run.name}{tag}: {score}")
        if short.any():
            ax.plot(t.loc[short, "energy_model_j"], t.loc[short, "energy_measured_j"], "o", mfc="none", ms=4,
                    color=color, label=f"{run.name}: windows < sensor refresh (excluded)")
        values = np.concatenate([model, meas])
        if len(values):
            lo, hi = min(lo, values.min()), max(hi, values.max())
    if np.isfinite(lo) and hi > lo:
        ax.plot([lo, hi], [lo, hi], color="black", lw=0.8, ls="--", label="model = measured")
    ax.set_xlabel("modelled J / iteration")
    ax.set_ylabel("measured J / iteration (net of idle)")
    simulated = any(r.measured_simulated for r in measured_runs)
    ax.set_title("Model versus measurement" + (" (SIMULATED measurements)" if simulated else ""),
                 fontsize=11, color="#b00000" if simulated else "black")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def build_figures(runs: list[Run], baseline: str | None = None) -> dict[str, Figure]:
    """Every figure that applies to these runs, keyed by the file stem it is saved under."""
    figures: dict[str, Figure | None] = {
        "timeline": timeline(runs),
        "breakdown_layers": breakdown_layers(runs),
        "breakdown_kinds": breakdown_kinds(runs),
        "accuracy_vs_energy": accuracy_vs_energy(runs, baseline),
        "parity": parity(runs),
    }
    for name, fig in figures.items():
        if fig is None:
            log.info("figure %s does not apply to these runs", name)
    return {k: v for k, v in figures.items() if v is not None}


def figure_png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def write_figures(figures: dict[str, Figure], out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures.items():
        path = out / f"{name}.png"
        path.write_bytes(figure_png(fig))
        paths.append(path)
    return paths
