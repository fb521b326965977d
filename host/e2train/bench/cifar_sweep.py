"""What the CIFAR-10 benchmarks share: their dataset options and running a shipped sweep to the end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from e2train.errors import E2TrainError
from e2train.sweep.folder import FINISHED
from e2train.sweep.runner import run_sweep
from e2train.sweep.spec import SweepSpec


def data_options(command: Callable) -> Callable:
    """``--data-dir`` and ``--dataset`` of a CIFAR-10 benchmark."""
    command = click.option("--dataset", default="imagefolder", type=click.Choice(["imagefolder", "cifar10"]))(command)
    return click.option("--data-dir", required=True,
                        help="CIFAR-10 as an image folder / .tar.gz or python pickles.")(command)


def run_all_trials(spec: SweepSpec, out: Path, cpus_per_trial: int) -> None:
    """Run (or continue) the sweep; a table needs every trial, so any unfinished one is an error."""
    try:
        states = run_sweep(spec, out, cpus_per_trial=cpus_per_trial)
    except E2TrainError as err:
        raise click.ClickException(str(err)) from err
    unfinished = {name: s["error"] or s["status"] for name, s in states.items() if s["status"] != FINISHED}
    if unfinished:
        raise click.ClickException(f"trial(s) not finished: {unfinished}; rerun the command to continue")
