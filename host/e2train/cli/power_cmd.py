"""CLI for power measurement and calibration: ``e2train power list|record`` and ``e2train calibrate``.

A thin layer over ``e2train.power`` and ``e2train.energy.calibrate``: the library raises small domain
errors, this module turns them into one-line messages with the fix attached.
"""

from __future__ import annotations

import json
import math
import time

import click

from e2train.cli.power_options import source_options, with_roots
from e2train.cli.user_error import UserError
from e2train.energy.calibrate import MIN_R2
from e2train.power.base import PowerSourceError
from e2train.power.recorder import MODES


@click.group("power")
def power() -> None:
    """Power sources and recording.

    Example: e2train power list
    """


@power.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_roots
def list_cmd(as_json: bool, hwmon_root: str | None, powercap_root: str | None) -> None:
    """List power sources, their rails and units, and why the others are unavailable.

    Example: e2train power list --json
    """
    from e2train.power.factory import list_power_sources

    infos = list_power_sources(hwmon_root=hwmon_root, powercap_root=powercap_root)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "kind": i.kind,
                        "spec": i.spec,
                        "available": i.available,
                        "reason": i.reason,
                        "rails": [
                            {
                                "name": r.name,
                                "unit": r.unit,
                                "resolution": r.resolution,
                                "refresh_s": r.refresh_s,
                            }
                            for r in i.rails
                        ],
                    }
                    for i in infos
                ],
                indent=2,
            )
        )
        return
    click.echo(f"{'SPEC':<24} {'AVAILABLE':<9}  RAILS [unit, LSB, refresh]")
    for i in infos:
        rails = ", ".join(
            f"{r.name} [{r.unit}, {r.resolution:.3g}, {r.refresh_s * 1e3:.3g} ms]" for r in i.rails
        )
        click.echo(f"{i.spec:<24} {'yes' if i.available else 'no':<9}  {rails or '-'}")
        click.echo(f"{'':<24} {'':<9}  {i.reason}")


@power.command("record")
@click.argument("spec")
@click.option("--seconds", "-s", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True)
@click.option(
    "--rate", type=click.FloatRange(min=0, min_open=True), default=100.0, show_default=True, help="Hz."
)
@click.option(
    "--baseline",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds of idle baseline to measure first (the device must be idle).",
)
@click.option("--sampler", type=click.Choice(MODES), default="auto", show_default=True,
              help="Where the schedule runs: a forked process (immune to this process's GIL), a thread, or "
                   "the process where the source allows it.")
@click.option("--out", "-o", type=click.Path(dir_okay=False), required=True, help="Parquet file to write.")
@with_roots
def record_cmd(
    spec: str,
    seconds: float,
    rate: float,
    baseline: float,
    sampler: str,
    out: str,
    hwmon_root: str | None,
    powercap_root: str | None,
) -> None:
    """Record SPEC (SOURCE[:RAIL,...]) for a while into a Parquet file and report rate, jitter and overhead.

    Example: e2train power record hwmon:ina226_u79 --seconds 60 --rate 1000 --out idle.parquet
    """
    from e2train.power.factory import open_power_source
    from e2train.power.recorder import PowerRecorder, RecorderError

    try:
        source = open_power_source(spec, **source_options(hwmon_root, powercap_root, spec))
    except PowerSourceError as err:
        raise UserError(f"{err} (see `e2train power list`)") from err
    interrupted = False
    with source:
        try:
            rec = PowerRecorder(source, rate_hz=rate, mode=sampler)
        except ValueError as err:
            raise UserError(str(err)) from err
        try:
            with rec:
                if baseline > 0:
                    rec.measure_baseline(baseline)
                t0 = rec.wait_for_sample()  # the window starts on a reading, never before the first one
                time.sleep(seconds)
                t1 = time.monotonic()
        except KeyboardInterrupt:
            interrupted = True
            t1 = time.monotonic()
        except RecorderError as err:
            raise UserError(str(err)) from err
        try:
            path = rec.save(out)
        except OSError as err:
            raise UserError(f"cannot write {out}: {err}") from err
    st = rec.stats
    click.echo(f"wrote {st.samples} samples of {', '.join(source.rail_names)} to {path}")
    click.echo(
        f"rate {st.achieved_rate_hz:.2f} Hz (target {st.target_rate_hz:g}, {st.rate_error_pct:+.2f} %), "
        f"jitter {st.jitter_s * 1e3:.3f} ms, late p99 {st.late_p99_s * 1e3:.3f} ms, "
        f"missed {st.missed_deadlines}, CPU overhead {st.cpu_overhead_pct:.2f} % of a core"
    )
    if rec.baseline is not None:
        click.echo(f"baseline {rec.baseline.mean_power_w:.4g} W (std {rec.baseline.std_power_w:.3g} W)")
    if not interrupted:
        w = rec.energy_between(t0, t1)
        net = "" if math.isnan(w.net_energy_j) else f", net {w.net_energy_j:.4g} J"
        click.echo(f"energy {w.gross_energy_j:.4g} +- {w.gross_err_j:.2g} J over {w.duration_s:.2f} s{net}")
    if rec.error is not None:
        raise UserError(f"sampling stopped early: {rec.error}")
    if interrupted:
        click.echo("interrupted: partial recording saved", err=True)
        raise SystemExit(130)


def _names(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()


@power.command("import")
@click.argument("recording", type=click.Path(dir_okay=False))
@click.option("--marks", default=None, help="Only these marks, e.g. 1,3 (default: all).")
@click.option("--baseline-mark", type=int, default=None, help="A mark recorded idle: net energy subtracts it.")
@click.option("--pmbus-rails", default=None, help="Rails read through PMBus (1/8 W steps), e.g. VCCINT,VCCAUX.")
@click.option("--resolution-w", type=float, default=None,
              help="Power step of the other rails (default: an INA226's 25 mW).")
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False), default=None, help="Also write the table.")
def import_cmd(recording: str, marks: str | None, baseline_mark: int | None, pmbus_rails: str | None,
               resolution_w: float | None, csv_out: str | None) -> None:
    """Energy per mark of a PYNQ DataRecorder recording (its DataFrame saved as .pkl or .csv).

    Example: e2train power import run.pkl --baseline-mark 0 --pmbus-rails VCCINT --marks 1,2
    """
    from e2train.errors import E2TrainError
    from e2train.power.datarecorder import read_datarecorder

    options = {"resolution_w": resolution_w} if resolution_w is not None else {}
    try:
        imported = read_datarecorder(recording, pmbus_rails=_names(pmbus_rails), baseline_mark=baseline_mark,
                                     **options)
    except (E2TrainError, OSError, ValueError) as err:
        raise UserError(str(err)) from err
    table = imported.marks
    if marks:
        wanted = [int(m) for m in _names(marks)]
        missing = sorted(set(wanted) - set(table["mark"]))
        if missing:
            raise UserError(f"{recording}: no mark {', '.join(map(str, missing))} (marks: "
                            f"{', '.join(map(str, table['mark']))})")
        table = table[table["mark"].isin(wanted)]
    for row in table.itertuples():
        net = "" if math.isnan(row.net_energy_j) else f", net {row.net_energy_j:.4g} +- {row.net_energy_err_j:.2g} J"
        click.echo(f"mark {row.mark}: {row.energy_j:.4g} +- {row.energy_err_j:.2g} J over {row.duration_s:.3f} s "
                   f"({row.samples} samples, mean {row.mean_power_w:.4g} W){net}")
    if csv_out:
        try:
            table.to_csv(csv_out, index=False)
        except OSError as err:
            raise UserError(f"cannot write {csv_out}: {err}") from err
        click.echo(f"wrote {csv_out}")


@click.command("calibrate")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", "-o", type=click.Path(dir_okay=False), required=True, help="Profile JSON to write.")
@click.option(
    "--prior", type=click.Path(dir_okay=False), default=None, help="Profile for kinds the fit cannot see."
)
@click.option("--name", default=None, help="Profile name (default: calibrated-<date>).")
@click.option("--clock-hz", type=float, default=None, help="Kernel clock (default: the prior's).")
@click.option("--target", default="energy_measured_j", show_default=True, help="Measured-energy column.")
@click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95)
@click.option("--ci", type=click.Choice(["analytic", "bootstrap"]), default="analytic", show_default=True)
@click.option("--min-r2", type=float, default=MIN_R2, show_default=True,
              help="Refuse a fit whose R^2 is lower (no profile is written).")
def calibrate(
    run_dirs: tuple[str, ...],
    out: str,
    prior: str | None,
    name: str | None,
    clock_hz: float | None,
    target: str,
    confidence: float,
    ci: str,
    min_r2: float,
) -> None:
    """Fit static power and per-op energies to the measured iterations of RUN_DIR/trace.parquet.

    Example: e2train calibrate runs/a runs/b --prior profiles/prior.json --out measurements/board.json
    """
    from e2train.energy.calibrate import CalibrationError, calibrate_runs

    try:
        result, _ = calibrate_runs(
            run_dirs,
            out,
            name=name,
            prior=prior,
            clock_hz=clock_hz,
            target=target,
            confidence=confidence,
            ci=ci,
            min_r2=min_r2,
        )
    except CalibrationError as err:
        raise UserError(str(err)) from err
    click.echo(result.summary())
    click.echo(f"wrote {out}")
