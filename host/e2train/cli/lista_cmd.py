"""``e2train lista``: sparse recovery by unfolded ISTA (train every method stage-wise, evaluate a run).

    e2train lista train --preset quick --out runs/lista-quick
    e2train lista train --preset paper --snr 40 --out runs/lista-40db
    e2train lista eval runs/lista-quick --fixed-point emulate
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from e2train.backends import BACKEND_MODULES
from e2train.cli.user_error import UserError, run_error
from e2train.errors import E2TrainError
from e2train.kernels.toolchain import SIMULATORS
from e2train.lista.config import METHODS, PRESETS


def _methods(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(m.strip() for m in value.split(",") if m.strip())


class _StopFlag:
    """Ctrl-C / SIGTERM: finish the current step, checkpoint, exit; a second signal aborts."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


def _print_summary(summary: dict[str, Any], run_dir: Path, console: Console) -> None:
    table = Table(title=f"LISTA run {run_dir}: test NMSE at the last layer")
    table.add_column("method")
    table.add_column("NMSE (dB)", justify="right")
    table.add_column("int8 x int16 kernel (dB)", justify="right")
    for method, info in summary["methods"].items():
        fixed = info.get("fixed_point", {}).get("nmse_db_fixed")
        table.add_row(method, f"{info['nmse_db_last_layer']:.2f}", "" if fixed is None else f"{fixed:.2f}")
    console.print(table)
    energy = summary["energy_per_signal"]
    console.print(f"modelled energy per recovered signal (CP family, {energy['int8x16']['profile']}, "
                  f"{energy['int8x16']['profile_kind']}): {energy['int8x16']['energy_j']:.3g} J in int8 x int16, "
                  f"{energy['fp32']['energy_j']:.3g} J in fp32")
    console.print(f"files: {run_dir}/nmse.csv, thresholds.csv, nmse.png, thresholds.png, summary.json")


@click.group()
def lista() -> None:
    """Sparse recovery: ISTA, FISTA and learned unfolded ISTA (LISTA, -CP, -SS, -CPSS, ALISTA)."""


@lista.command()
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default="quick", show_default=True,
              help="quick: small problem, about a minute on a CPU; paper: ALGORITHMS.md 3 as stated.")
@click.option("--methods", help=f"Comma-separated, from: {','.join(METHODS)}.")
@click.option("--m", type=int, help="Measurements (rows of A).")
@click.option("--n", type=int, help="Signal length (columns of A).")
@click.option("--layers", type=int, help="Layers of every network (iterations of ISTA/FISTA).")
@click.option("--sparsity", type=float, help="Probability of a non-zero entry in x*.")
@click.option("--snr", "snr_db", type=float, help="Measurement SNR in dB (omit for noiseless).")
@click.option("--condition-number", type=float, help="Condition number of A (omit for plain Gaussian).")
@click.option("--tied/--untied", default=None, help="One weight shared by all layers (default: untied per layer).")
@click.option("--ss-p-max", type=float, help="Largest support-selection fraction p_max (paper: 0.13).")
@click.option("--ss-p-step", type=float, help="Support-selection fraction added per layer (paper: 0.012).")
@click.option("--patience", "patience_steps", type=int, help="Steps without validation improvement that end a stage.")
@click.option("--max-steps", type=int, help="Cap on the steps of one stage.")
@click.option("--val-every", type=int, help="Steps between validation checks.")
@click.option("--val-size", type=int, help="Signals in the fixed validation set.")
@click.option("--test-size", type=int, help="Signals in the fixed test set.")
@click.option("--batch-size", type=int, help="Fresh training signals per step.")
@click.option("--lr", type=float, help="Learning rate of each layer's first stage.")
@click.option("--seed", type=int)
@click.option("--fixed-point", "fixed_point_backend", type=click.Choice(sorted(BACKEND_MODULES)),
              help="Also run the CP family through the gemm kernel on this backend.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoints.")
@click.option("--force", is_flag=True, help="Replace the run files in a non-empty --out.")
def train(preset: str, methods: str | None, resume: bool, force: bool, out: str, **flags: Any) -> None:
    """Train every learned method stage-wise and evaluate all of them on the test set.

    Example: e2train lista train --methods ista,fista,lista-cp,lista-cpss --m 64 --n 128 --layers 6 --out runs/l
    """
    from e2train.lista.config import resolve
    from e2train.lista.run import load_config, train_run

    run_dir = Path(out)
    console = Console()
    stop = _StopFlag()
    previous = {sig: signal.signal(sig, stop.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if resume:
            if any(v is not None for v in flags.values()) or methods:
                raise UserError("--resume continues the run with its saved config.json; give no other options")
            cfg = load_config(run_dir)
        else:
            cfg = resolve(preset, {**flags, "methods": _methods(methods)})
        with Progress(TextColumn("[bold]{task.description}"), TextColumn("{task.fields[status]}"),
                      TimeElapsedColumn(), console=console) as progress:
            task = progress.add_task("training", status="")

            def show(report):  # noqa: ANN001 - a StepReport
                if report.step % 10 == 0:
                    progress.update(task, description=f"{report.method} layer {report.layer}/{cfg.layers}",
                                    status=f"stage {report.stage} step {report.step} loss {report.loss:.3g} "
                                           f"best val {report.best_val_db:.2f} dB")

            summary = train_run(cfg, run_dir, resume=resume, force=force, on_step=show, should_stop=stop)
    except (E2TrainError, OSError) as err:
        user_error = run_error(err, run_dir)
        if user_error is None:
            raise
        raise user_error from err
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if summary["interrupted"]:
        console.print(f"[yellow]stopped during {summary['method']}; continue with: "
                      f"e2train lista train --out {run_dir} --resume")
        sys.exit(130)
    _print_summary(summary, run_dir, console)


@lista.command("eval")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--fixed-point", "fixed_point_backend", type=click.Choice(sorted(BACKEND_MODULES)),
              help="Run the CP family through the gemm kernel on this backend (torch, emulate, csim, rtl, ...).")
@click.option("--sim", type=click.Choice(SIMULATORS), default="icarus", show_default=True,
              help="RTL simulator for --fixed-point rtl.")
def evaluate(run_dir: str, fixed_point_backend: str | None, sim: str) -> None:
    """Evaluate a trained run again: NMSE per layer, thresholds, plots, summary (and fixed point).

    Example: e2train lista eval runs/lista-quick --fixed-point emulate
    """
    from e2train.lista.evaluate import evaluate_run
    from e2train.lista.problem import load_problem
    from e2train.lista.run import load_config
    from e2train.train.run_lock import RunLock

    path = Path(run_dir)
    try:
        if not path.is_dir():
            raise UserError(f"{path} is not a directory: give a run directory of `e2train lista train`")
        cfg = load_config(path)
        lock = RunLock(path)
        try:
            summary = evaluate_run(path, cfg, load_problem(path), fixed_point_backend, sim)
        finally:
            lock.release()
    except E2TrainError as err:
        raise UserError(str(err)) from err
    _print_summary(summary, path, Console())


@lista.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
def report(run_dirs: tuple[str, ...]) -> None:
    """Print evaluated runs as Markdown: NMSE and thresholds per layer, fixed point, energy (nothing recomputed).

    Example: e2train lista report runs/lista-quick runs/lista-40db > lista.md
    """
    from e2train.lista.report import run_report

    try:
        click.echo("\n".join(run_report(Path(d)) for d in run_dirs))
    except E2TrainError as err:
        raise UserError(str(err)) from err
