"""CLI for FPGA resource estimates: ``e2train synth [--kernel gemm|psg_wgrad|all] [--rows R --cols C]``.

A thin layer over ``e2train.synth``: it turns a missing Yosys or a failed run into a one-line error
with the fix attached.  The reports are resource estimates only (no timing closure, no Fmax).
"""

from __future__ import annotations

from pathlib import Path

import click

from e2train.cli.user_error import UserError
from e2train.kernels.spec import KERNEL_NAMES
from e2train.synth import DISCLAIMER, SynthError
from e2train.synth import synth as run_synth


@click.command("synth")
@click.option(
    "--kernel",
    type=click.Choice([*KERNEL_NAMES, "all"]),
    default="all",
    show_default=True,
    help="Which kernel to synthesise.",
)
@click.option("--rows", type=int, default=8, show_default=True, help="MAC-array rows (psg_wgrad: tile size).")
@click.option("--cols", type=int, default=8, show_default=True, help="MAC-array columns (psg_wgrad: = rows).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("measurements"),
    show_default=True,
    help="Where synth_<kernel>_<rows>x<cols>.json and synth.md go.",
)
def synth(kernel: str, rows: int, cols: int, out_dir: Path) -> None:
    """Estimate LUT/FF/DSP48E1/BRAM use of the RTL kernels with Yosys synth_xilinx (xc7z020).

    Example: e2train synth --kernel gemm --rows 8 --cols 8
    """
    kernels = list(KERNEL_NAMES) if kernel == "all" else [kernel]
    for name in kernels:
        click.echo(f"synthesising {name} {rows}x{cols} with yosys (a minute or two)...")
        try:
            report = run_synth(name, rows, cols, out_dir)
        except (SynthError, ValueError) as exc:
            raise UserError(str(exc)) from None
        res = report["resources"]
        click.echo(
            f"  {name} {rows}x{cols}: LUT {res['LUT']}, FF {res['FF']}, DSP48E1 {res['DSP48E1']}, "
            f"RAMB36E1 {res['RAMB36E1']}, RAMB18E1 {res['RAMB18E1']}, CARRY4 {res['CARRY4']}"
        )
    click.echo(f"wrote {out_dir / 'synth.md'} ({DISCLAIMER})")
