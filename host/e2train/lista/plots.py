"""The run's two figures: NMSE against layer for every method, and the learned thresholds per layer.

Built on ``matplotlib.figure.Figure`` with the Agg canvas, never through ``pyplot`` (no global backend
switch, no figure registry), like ``e2train.report.plots``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from matplotlib.figure import Figure

from e2train.report.plots import label_axes, new_figure


def _series(rows: list[dict], value: str) -> dict[str, tuple[list[int], list[float]]]:
    by_method: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    for row in rows:
        layers, values = by_method[row["method"]]
        layers.append(int(row["layer"]))
        values.append(float(row[value]))
    return dict(by_method)


def _save(fig: Figure, path: Path) -> Path:
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)  # keeps the suffix: savefig picks the format by it
    fig.savefig(tmp)
    tmp.replace(path)
    return path


def plot_nmse(rows: list[dict], path: Path, title: str, fixed_rows: list[dict] | None = None) -> Path:
    """NMSE (dB) against layer (iteration for ISTA/FISTA); fixed-point curves dashed when given."""
    fig = new_figure(6.4, 4.4)
    ax = fig.add_subplot()
    colors: dict[str, str] = {}
    for method, (layers, values) in _series(rows, "nmse_db").items():
        (line,) = ax.plot(layers, values, marker="o", markersize=3, label=method)
        colors[method] = line.get_color()
    for method, (layers, values) in _series(fixed_rows or [], "nmse_db_fixed").items():
        ax.plot(layers, values, linestyle="--", color=colors.get(method), label=f"{method} (int8 x int16 kernel)")
    label_axes(ax, "layer (iteration for ISTA / FISTA)", "test NMSE (dB)", title)
    return _save(fig, path)


def plot_thresholds(rows: list[dict], path: Path, title: str) -> Path:
    """Learned threshold theta_k per layer for every learned method."""
    fig = new_figure(6.4, 4.4)
    ax = fig.add_subplot()
    for method, (layers, values) in _series(rows, "threshold").items():
        ax.plot(layers, values, marker="o", markersize=3, label=method)
    label_axes(ax, "layer", "threshold theta_k", title)
    return _save(fig, path)
