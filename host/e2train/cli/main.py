"""``e2train``: the command line.  A thin layer over the library: options are validated by the
library's typed config, library errors become one-line messages with the fix attached."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime
from pathlib import Path

import click

from e2train.cli.power_options import source_options, with_roots
from e2train.cli.user_error import UserError, run_error
from e2train.config import BACKENDS, LR_SCHEDULES, PRESETS, ConfigError, resolve_config
from e2train.data.datasets import DATASETS
from e2train.errors import E2TrainError
from e2train.kernels.toolchain import SIMULATORS
from e2train.models.resnet import MODELS
from e2train.nn.qconv import INPUT_GRAD_MODES, PRECISIONS
from e2train.run_dir import CONFIG_FILE, RunDir
from e2train.techniques import ortho
from e2train.techniques.psg import THRESHOLD_MODES
from e2train.techniques.slu import EVAL_RULES


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log library messages (INFO).")
@click.version_option(package_name="e2train")
def cli(verbose: bool) -> None:
    """Energy-efficient CNN training (E2-Train) with FPGA kernels in the loop."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


@cli.command()
@click.option("--preset", type=click.Choice(sorted(PRESETS)), help="Start from a named configuration.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="YAML or JSON file of options.")
@click.option("--dataset", type=click.Choice(DATASETS),
              help="digits (embedded, default), cifar10, cifar100, imagefolder.")
@click.option("--data-dir", help="Folder or .tar.gz of the dataset (CIFAR pickles or train/<class>/<img> layout).")
@click.option("--model", type=click.Choice(sorted(MODELS)),
              help="CIFAR ResNet of depth 6n+2, or wrn28-10 (Wide ResNet 28-10's layout).")
@click.option("--epochs", type=float, help="Nominal budget in epochs (SMD-skipped iterations count).")
@click.option("--iters", type=int, help="Nominal budget in iterations (overrides --epochs).")
@click.option("--batch-size", type=int)
@click.option("--lr", type=float, help="Learning rate (divided by 10 at the milestones; the peak of onecycle).")
@click.option("--lr-schedule", type=click.Choice(LR_SCHEDULES),
              help="step: lr / 10 at 50 and 75 % of the run (default); onecycle: up to lr over 30 %, then to 0.")
@click.option("--weight-decay", type=float, help="SGD weight decay (default 1e-4).")
@click.option("--precision", type=click.Choice(PRECISIONS), help="Forward arithmetic of the convs.")
@click.option("--input-grad", type=click.Choice(INPUT_GRAD_MODES), help="Error precision of input gradients.")
@click.option("--smd", type=float, help="SMD drop probability, e.g. 0.5 (0 = off).")
@click.option("--slu-target", type=float, help="SLU target computation fraction, e.g. 0.6 (omit = off).")
@click.option("--slu-beta", type=float, help="Weight of the SLU cost term.")
@click.option("--slu-policy-coef", type=float,
              help="Weight of a REINFORCE term that trains the gates on each sample's own loss (default 0: off).")
@click.option("--slu-eval-rule", type=click.Choice(EVAL_RULES),
              help="Gate decisions at evaluation: thresholds calibrated to the trained fraction (default), "
                   "p > 0.5, sampled, or the trained fraction drawn at random (the control).")
@click.option("--psg-lr-scale", type=float, help="Learning-rate factor of PSG's sign updates (default 1).")
@click.option("--psg/--no-psg", default=None, help="Predictive sign gradient descent.")
@click.option("--psg-threshold", type=float, help="PSG confidence threshold.")
@click.option("--psg-threshold-mode", type=click.Choice(THRESHOLD_MODES),
              help="Absolute, or relative to max |g_pred|.")
@click.option("--ortho", type=click.Choice(["none", *ortho.KINDS]),
              help="Orthogonality penalty on conv/linear weights (Bansal et al. 2018).")
@click.option("--ortho-coef", type=float, help="Its initial coefficient (default 0.1, the paper's).")
@click.option("--ortho-schedule", type=click.Choice(ortho.SCHEDULES),
              help="paper: the coefficient falls at 10/25/35 % of the run and is 0 from 60 %.")
@click.option("--ortho-srip-iters", type=int, help="Power-iteration steps per SRIP estimate (default 1).")
@click.option("--ortho-srip-form", type=click.Choice(ortho.SRIP_FORMS),
              help="SRIP as the paper (sigma) or as the official code (sigma squared).")
@click.option("--ortho-persistent/--no-ortho-persistent", default=None,
              help="Start each SRIP power iteration from the previous step's vector (kept in checkpoints).")
@click.option("--seed", type=int)
@click.option("--device", "torch_device", help="Where torch computes: cpu, cuda, cuda:1 ... (the FPGA is --backend).")
@click.option("--backend", type=click.Choice(BACKENDS),
              help="Where the convs' integer kernels run: torch (software), emulate, rtl (simulated RTL), pynq.")
@click.option("--sim", type=click.Choice(SIMULATORS), help="Simulator of the RTL for --backend rtl.")
@click.option("--energy-profile", help="Profile name under measurements/profiles or a .json path.")
@click.option("--power", "power_spec", help="Measure energy: SOURCE[:RAIL,...] (see `e2train power list`).")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default runs/<timestamp>).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@click.option("--force", is_flag=True, help="Replace the run files in a non-empty --out (other files are kept).")
@with_roots
def train(preset, config_file, power_spec, resume, force, hwmon_root, powercap_root, **flags) -> None:
    """Train a CNN the E2-Train way and report modelled energy savings.

    Example: e2train train --preset quickstart --out runs/quickstart
    """
    from e2train.cli.progress import TrainingProgress, print_summary
    from e2train.train.loop import Trainer

    run_dir = flags.get("out")
    try:
        if resume and not flags.get("out"):
            raise ConfigError("--resume needs --out RUN_DIR")
        saved_config = RunDir(flags["out"]).file(CONFIG_FILE) if flags.get("out") else None
        if resume and not preset and not config_file and saved_config.exists():
            config_file = str(saved_config)
        if not preset and not config_file:
            preset = "quickstart"
        cfg = resolve_config(preset, config_file, flags)
        run_dir = Path(cfg.out or f"runs/{datetime.now():%Y%m%d-%H%M%S}")
        cfg.out = str(run_dir)
        power_options = source_options(hwmon_root, powercap_root, power_spec) if power_spec else {}
        with TrainingProgress() as progress:
            if cfg.backend == "rtl":  # the whole run inside one simulation; progress is relayed out of it
                from e2train.train.in_simulator import train_in_simulator

                def relay(report, started=[]):  # noqa: B006 - remembers that the bar was started
                    if not started:
                        started.append(progress.start(report.total, report.iteration - 1,
                                                      f"{cfg.model} on {cfg.dataset} in {cfg.sim}"))
                    progress.update(report)

                summary = train_in_simulator(cfg, run_dir, resume=resume, force=force, power_spec=power_spec,
                                             on_iteration=relay)
            else:
                trainer = Trainer(cfg, run_dir, resume=resume, on_iteration=progress.update, power_spec=power_spec,
                                  force=force, power_options=power_options)
                progress.start(trainer.total_iters, trainer.start_iter, f"{cfg.model} on {cfg.dataset}")
                summary = trainer.run()
    except (E2TrainError, OSError) as err:
        user_error = run_error(err, run_dir)
        if user_error is None:
            raise
        raise user_error from err
    print_summary(summary, run_dir)
    if summary.get("device"):
        dev = summary["device"]
        rate = f"{dev['cycles_per_s']:,.0f}" if dev.get("cycles_per_s") else "n/a"
        click.echo(f"device {dev['device']}: {dev['kernel_calls']} kernel calls, {dev['cycles']:,} busy cycles "
                   f"({dev['counters_source']}), {rate} cycles per wall-clock second")
    if summary.get("energy_measured_partial_j") is not None:
        click.echo(f"warning: measured energy covers only {summary['energy_measured_coverage']:.1%} of the iterations "
                   f"({summary.get('power_error') or 'windows without samples'}); "
                   f"{summary['energy_measured_partial_j']:.4g} J is a partial sum, not the run's energy", err=True)
    if summary.get("measured_simulated") and summary.get("energy_measured_j") is not None:
        click.echo(f"measured energy is SIMULATED ({summary['power_source']}: a model of activity counters, "
                   "not a measurement)")
    if summary["interrupted"]:
        sys.exit(130)


@cli.command()
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
def pack(src: Path, dest: Path) -> None:
    """Copy a run or sweep folder without what can be rebuilt, to move it or continue it elsewhere.

    The trace is written as one Parquet file (the line journal dropped), a checkpoint is kept only
    where the run can still resume. Copy DEST back and rerun with --resume (a run) or the same sweep
    command (a sweep) to continue. Do not pack a folder a run is writing.

    Example: e2train pack runs/reproduction measurements/cifar10_reproduction/sweep
    """
    from e2train.sweep.pack import pack as pack_folder

    try:
        written = pack_folder(src, dest)
    except E2TrainError as err:
        raise UserError(str(err)) from err
    click.echo(f"packed {src} into {dest} ({written / 1e6:.1f} MB)")


@cli.command("show-config")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default="quickstart")
def show_config(preset: str) -> None:
    """Print a preset's resolved configuration as JSON (a starting point for --config; fill in
    data_dir where the preset's dataset needs one).

    Example: e2train show-config --preset cifar10-e2train > my.json
    """
    click.echo(json.dumps(resolve_config(preset, validate=False).to_dict(), indent=2))


def _register_optional_commands() -> None:
    """Commands whose modules live beside this one; each imports its heavy parts lazily."""
    from e2train.cli.kernel_cmd import kernel
    from e2train.cli.lista_cmd import lista
    from e2train.cli.overlay_cmd import overlay
    from e2train.cli.power_cmd import calibrate, power
    from e2train.cli.sweep_cmd import sweep
    from e2train.cli.synth_cmd import synth

    for command in (kernel, synth, power, calibrate, sweep, lista, overlay):
        cli.add_command(command)


_register_optional_commands()


if __name__ == "__main__":
    cli()
