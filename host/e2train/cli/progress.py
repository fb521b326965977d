"""Progress bar and end-of-run summary for the terminal (rich lives only in the CLI layer)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from e2train.train.loop import IterationReport

console = Console()


class TrainingProgress:
    def __init__(self) -> None:
        self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                  console=console, transient=False)
        self._task = None
        self._energy_j = 0.0
        self._last_loss = math.nan
        self._accuracy: float | None = None

    def __enter__(self) -> TrainingProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)

    def start(self, total: int, done: int, description: str) -> None:
        self._task = self._progress.add_task(description, total=total, completed=done, status="")

    def update(self, report: IterationReport) -> None:
        self._energy_j += report.energy_j
        if not report.skipped:
            self._last_loss = report.loss
        if report.test_accuracy is not None:
            self._accuracy = report.test_accuracy
        acc = f" test {self._accuracy:.1%}" if self._accuracy is not None else ""
        status = f"ep {report.epoch} loss {self._last_loss:.3f}{acc} model {self._energy_j:.3g} J"
        self._progress.update(self._task, completed=report.iteration, status=status)


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def print_summary(summary: dict[str, Any], run_dir: Path) -> None:
    table = Table(title=f"e2train run {run_dir}", show_header=False)
    table.add_row("test accuracy", _pct(summary["test_accuracy"]))
    table.add_row("iterations (SMD-skipped)", f"{summary['iterations']} ({summary['iterations_skipped']})")
    table.add_row("SLU executed fraction (train / test)",
                  f"{_pct(summary['slu_executed_fraction'])} / {_pct(summary['test_executed_fraction'])}")
    for rule, ev in (summary.get("test_by_rule") or {}).items():
        table.add_row(f"  gate rule {rule}: test accuracy / executed",
                      f"{_pct(ev['test_accuracy'])} / {_pct(ev['test_executed_fraction'])}")
    table.add_row("PSG recomputed fraction (kernel per entry / software)",
                  f"{_pct(summary['psg_recompute_fraction_hw'])} / {_pct(summary['psg_recompute_fraction_sw'])}")
    profile = summary["energy_profile"]
    table.add_row(f"modelled energy ({profile['name']}, {profile['kind']})", f"{summary['energy_model_j']:.4g} J")
    if summary.get("energy_ortho_model_j") is not None:
        table.add_row("  of which the orthogonality penalty", f"{summary['energy_ortho_model_j']:.4g} J")
    table.add_row("8-bit baseline (8-bit fwd, fp32 bwd)", f"{summary['energy_baseline8_model_j']:.4g} J")
    table.add_row("fp32 baseline", f"{summary['energy_baseline32_model_j']:.4g} J")
    table.add_row("savings vs 8-bit baseline", _pct(summary["savings_vs_baseline8"]))
    table.add_row("savings vs fp32 baseline", _pct(summary["savings_vs_baseline32"]))
    if summary.get("energy_measured_j") is not None:
        table.add_row("measured energy", f"{summary['energy_measured_j']:.4g} J")
    table.add_row("wall time", f"{summary['wall_time_s']:.1f} s")
    console.print(table)
    if summary["interrupted"]:
        console.print(f"[yellow]stopped early; continue with: e2train train --out {run_dir} --resume")
