"""``energy-report``: compare run directories as a table, JSON or CSV; optionally PNG plots and one HTML page.

A thin layer over ``e2train.report``: the library loads, checks and computes; this module only picks
outputs and renders the terminal table with rich. Library ``ReportError``s become one-line errors
(exit code 1) that name the file and the problem.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from e2train.cli.user_error import UserError
from e2train.report.load import ReportError, Run, load_run, unique_names
from e2train.report.tables import RunMetrics, compare_runs, report_notes, table_rows, to_csv, to_json
from e2train.sweep.folder import is_sweep_folder

FORMATS = ("table", "json", "csv")
# Wide enough that a piped table keeps every column on one line; numbers are never ellipsised (fold).
PIPE_WIDTH = 220


def _load(run_dirs: tuple[Path, ...], baseline_dir: Path | None) -> tuple[list[Run], Run | None]:
    """Runs in the order given; a baseline run not among them is loaded too and listed first."""
    paths = list(run_dirs)
    base_index = None
    if baseline_dir is not None:
        resolved = [p.resolve() for p in paths]
        if baseline_dir.resolve() in resolved:
            base_index = resolved.index(baseline_dir.resolve())
        else:
            paths.insert(0, baseline_dir)
            base_index = 0
    runs = [load_run(p, name) for p, name in zip(paths, unique_names(paths))]
    return runs, (runs[base_index] if base_index is not None else None)


def _rich_table(metrics: list[RunMetrics]) -> Table:
    header, rows = table_rows(metrics)
    table = Table(title="E2-Train energy report", title_justify="left")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right", overflow="fold")
    for m, row in zip(metrics, rows):
        styled = [f"[bold red]{cell}[/]" if "SIMULATED" in cell else cell for cell in row]
        table.add_row(*styled, style="bold" if m.baseline_run == m.run else None)
    return table


def _print_table(console: Console, metrics: list[RunMetrics], notes: list[str]) -> None:
    console.print(_rich_table(metrics))
    for note in notes:
        console.print(f"[bold red]{note}[/]" if note.startswith("SIMULATED") else f"[dim]{note}[/]",
                      highlight=False)
    for m in metrics:
        for text in m.caveats:
            console.print(f"[yellow]{m.run}: {text}[/]", highlight=False)
        for text in m.baseline_caveats:
            console.print(f"[yellow]{m.run} *: {text}[/]", highlight=False)
        for text in m.warnings:
            console.print(f"[yellow]warning: {text}[/]", highlight=False)


def _emit(fmt: str, metrics: list[RunMetrics], notes: list[str], output: Path | None) -> None:
    if fmt == "table":
        if output is None:
            console = Console(width=None if sys.stdout.isatty() else PIPE_WIDTH, highlight=False)
            _print_table(console, metrics, notes)
            return
        with open(output, "w", encoding="utf-8") as handle:
            console = Console(file=handle, width=PIPE_WIDTH, no_color=True, highlight=False)
            _print_table(console, metrics, notes)
        return
    text = to_json(metrics, notes) + "\n" if fmt == "json" else to_csv(metrics)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@click.command("energy-report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))  # or one sweep folder
@click.option("--baseline", "baseline_dir", type=click.Path(path_type=Path),
              help="Run directory to compare against: savings = 1 - E/E_baseline at equal budget.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="Output of the comparison.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the comparison to this file instead of stdout.")
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write PNG plots (timeline, breakdowns, accuracy vs energy, parity) into this folder.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write one self-contained HTML page (plots embedded, no external resources).")
@click.option("-v", "--verbose", is_flag=True, help="Log library messages (INFO).")
def energy_report(run_dirs: tuple[Path, ...], baseline_dir: Path | None, fmt: str, output: Path | None,
                  plots_dir: Path | None, html_file: Path | None, verbose: bool) -> None:
    """Compare training runs' accuracy and modelled/measured energy; plots and an HTML page on request.

    Given one sweep folder (e2train sweep --out DIR), reports its configurations: mean and spread over
    seeds, and the accuracy-energy Pareto plot.

    Example: energy-report runs/int8 runs/e2train --baseline runs/int8 --plots out/ --html out/report.html
    """
    # Run warnings are part of every output; logging them as well would print them twice.
    logging.basicConfig(level=logging.INFO if verbose else logging.ERROR,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        sweeps = [p for p in run_dirs if is_sweep_folder(p)]
        if sweeps:
            if len(run_dirs) > 1 or baseline_dir is not None:
                raise UserError(f"{sweeps[0]} is a sweep folder: report it on its own (no other runs, no --baseline)")
            _sweep_report(sweeps[0], fmt, output, plots_dir, html_file)
            return
        runs, baseline = _load(run_dirs, baseline_dir)
        metrics = compare_runs(runs, baseline)
        notes = report_notes(runs, metrics)
        _emit(fmt, metrics, notes, output)
        if plots_dir is not None or html_file is not None:
            _write_visuals(runs, metrics, notes, baseline, plots_dir, html_file)
    except ReportError as err:
        raise UserError(str(err)) from err
    except OSError as err:  # an output path that cannot be written
        raise UserError(f"{err.filename or ''}: cannot write ({err.strerror or err})") from err


def _sweep_report(folder: Path, fmt: str, output: Path | None, plots_dir: Path | None,
                  html_file: Path | None) -> None:
    """A sweep folder: the per-configuration table over seeds, and the plots (Pareto, accuracy against
    cumulative energy) on request."""
    from e2train.report.sweep import load_sweep, summary_rows

    report = load_sweep(folder)
    if fmt == "table":
        header, rows = summary_rows(report)
        table = Table(title=f"E2-Train sweep {folder}", title_justify="left")
        for i, name in enumerate(header):
            table.add_column(name, justify="left" if i == 0 else "right", overflow="fold")
        for row in rows:
            table.add_row(*row)
        console = Console(file=open(output, "w", encoding="utf-8") if output else None,  # noqa: SIM115
                          width=None if output is None and sys.stdout.isatty() else PIPE_WIDTH, highlight=False)
        console.print(table)
        if output is not None:
            console.file.close()
    else:
        text = report.summary.to_json(orient="records", indent=2) + "\n" if fmt == "json" else \
            report.summary.to_csv(index=False)
        if output is None:
            click.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
    if plots_dir is not None or html_file is not None:
        from e2train.report.html import write_html
        from e2train.report.plots import write_figures
        from e2train.report.sweep import render_sweep_html, sweep_figures

        figures = sweep_figures(report)
        if plots_dir is not None:
            for path in write_figures(figures, plots_dir):
                click.echo(f"wrote {path}", err=True)
        if html_file is not None:
            click.echo(f"wrote {write_html(html_file, render_sweep_html(report, figures))}", err=True)


def _write_visuals(runs: list[Run], metrics: list[RunMetrics], notes: list[str], baseline: Run | None,
                   plots_dir: Path | None, html_file: Path | None) -> None:
    # matplotlib is imported only when a figure is asked for: the table needs none of it.
    from e2train.report.html import render_html, write_html
    from e2train.report.plots import build_figures, write_figures

    figures = build_figures(runs, baseline.name if baseline else None)
    if plots_dir is not None:
        for path in write_figures(figures, plots_dir):
            click.echo(f"wrote {path}", err=True)
    if html_file is not None:
        path = write_html(html_file, render_html(runs, metrics, figures, notes))
        click.echo(f"wrote {path}", err=True)


if __name__ == "__main__":
    energy_report()
