"""``e2train sweep``: a grid of training runs on Ray (local by default), resumable, one results table."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from e2train.cli.user_error import UserError
from e2train.errors import E2TrainError

console = Console()


def _build_spec(spec_source: str | None, preset: str | None, sets: tuple[str, ...], grids: tuple[str, ...],
                seeds: str | None, retries: int | None):
    from e2train.sweep.spec import SweepSpec, SweepSpecError, load_spec, parse_assignment, parse_value

    spec = load_spec(spec_source) if spec_source else SweepSpec(base={"preset": preset or "quickstart"})
    if preset and spec_source:
        spec.base["preset"] = preset
    for text in sets:
        key, value = parse_assignment(text, "--set")
        spec.base[key] = parse_value(value)
    for text in grids:
        key, values = parse_assignment(text, "--grid")
        spec.grid[key] = [parse_value(v) for v in values.split(",")]
    if seeds is not None:
        try:
            spec.seeds = [int(s) for s in seeds.split(",")]
        except ValueError as err:
            raise SweepSpecError(f"--seeds {seeds!r}: write integers separated by commas, e.g. 0,1,2") from err
    if retries is not None:
        spec.retries = retries
    return spec.validate()


class _SweepBar:
    """One bar for the sweep; the description counts trials by state."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task = None

    def __call__(self, state) -> None:
        from e2train.sweep.folder import FAILED, FINISHED, INTERRUPTED, RUNNING, SKIPPED

        done = state.count(FINISHED) + state.count(FAILED) + state.count(SKIPPED) + state.count(INTERRUPTED)
        counts = ", ".join(f"{n} {name}" for name in (RUNNING, FINISHED, SKIPPED, FAILED, INTERRUPTED)
                           if (n := state.count(name)))
        if self._task is None:
            self._task = self._progress.add_task("sweep", total=state.total, status=counts)
        self._progress.update(self._task, completed=done, status=counts)


@click.command()
@click.argument("spec_source", metavar="[SPEC]", required=False)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Sweep folder: one run folder per trial, trials.json, results.parquet/.csv, summary.csv.")
@click.option("--preset", help="Base preset (default quickstart where no SPEC is given).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Base option for every trial (repeatable).")
@click.option("--grid", "grids", multiple=True, metavar="KEY=V1,V2", help="Grid axis (repeatable).")
@click.option("--seeds", help="Seeds, e.g. 0,1,2 (default: the spec's, or 0).")
@click.option("--retries", type=click.IntRange(min=0), help="Attempts after a crash (default: the spec's, or 1).")
@click.option("--address", help="Join this Ray cluster (e.g. 10.0.0.1:6379 or auto) instead of a local instance.")
@click.option("--cpus-per-trial", type=click.IntRange(min=1), default=1, show_default=True,
              help="CPUs (torch threads) per trial: a local sweep runs cores / this many trials at once.")
@click.option("--gpus-per-trial", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.option("--list", "list_specs", is_flag=True, help="List the specs shipped with e2train and exit.")
def sweep(spec_source, out, preset, sets, grids, seeds, retries, address, cpus_per_trial, gpus_per_trial,
          list_specs) -> None:
    """Run every combination of a grid of training options and seeds as Ray tasks; rerun to continue.

    Example: e2train sweep --grid smd=0,0.5 --grid psg=false,true --seeds 0,1 --set iters=100 --out runs/sw
    """
    from e2train.sweep.folder import SUMMARY_CSV, read_states
    from e2train.sweep.results import write_results
    from e2train.sweep.runner import run_sweep
    from e2train.sweep.spec import shipped_specs

    if list_specs:
        for path in shipped_specs():
            click.echo(f"{path.stem}\t{path}")
        return
    try:
        spec = _build_spec(spec_source, preset, sets, grids, seeds, retries)
        click.echo(f"{len(spec.trials())} trial(s) in {out}", err=True)
        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console)
        try:
            with progress:
                states = run_sweep(spec, out, address=address, cpus_per_trial=cpus_per_trial,
                                   gpus_per_trial=gpus_per_trial, on_change=_SweepBar(progress))
        except KeyboardInterrupt:
            write_results(spec, out, read_states(out))
            raise UserError(f"interrupted; finished trials are kept in {out}: rerun the same command to "
                            "continue") from None
        rows = write_results(spec, out, states)
    except E2TrainError as err:
        raise UserError(str(err)) from err
    _print_results(rows, out / SUMMARY_CSV)


def _print_results(rows, summary_path: Path) -> None:
    table = Table(title="sweep results")
    table.add_column("trial", no_wrap=True)
    for column in ("status", "test acc.", "model J", "saved vs 8-bit", "error"):
        table.add_column(column, overflow="fold")
    for r in rows.to_dict("records"):
        table.add_row(r["trial"], r["status"], _fmt(r["test_accuracy"], "{:.1%}"), _fmt(r["energy_model_j"], "{:.4g}"),
                      _fmt(r["savings_vs_baseline8"], "{:.1%}"), r["error"] or "")
    console.print(table)
    console.print(f"per-configuration mean and spread over seeds: {summary_path}")


def _fmt(value: float, pattern: str) -> str:
    return "" if value != value else pattern.format(value)  # NaN: the trial has no summary
