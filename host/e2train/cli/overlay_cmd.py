"""CLI for built overlays: ``e2train overlay write-manifest`` (run by ``make -C fpga/board``) and
``e2train overlay check MANIFEST`` (tool versions, kernels, and the checksums of the files it names).

A thin layer over ``e2train.device.manifest``: the library writes and verifies, this turns its errors
into one-line messages.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from e2train.cli.user_error import UserError
from e2train.device.manifest import (
    BOARDS,
    ManifestError,
    kernel_entries,
    kernel_parameters,
    load_manifest,
    write_manifest,
)

TIMING = {"true": True, "false": False, "unknown": None}


@click.group()
def overlay() -> None:
    """Manifests of built overlays (bitstream + .hwh): write one after a build, check one before use."""


def _json_file(path: Path | None, what: str) -> dict:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"{what} {path}: cannot read it as JSON ({err})") from err
    if not isinstance(data, dict):
        raise UserError(f"{what} {path}: expected a JSON object")
    return data


@overlay.command("write-manifest")
@click.option("--dir", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The overlay's folder (holds <overlay>.bit and .hwh).")
@click.option("--board", type=click.Choice(sorted(BOARDS)), required=True)
@click.option("--overlay", "overlay_name", required=True, help="The overlay's file stem.")
@click.option("--clock-mhz", type=float, default=100.0, show_default=True)
@click.option("--tools-json", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON object of tool versions (written by the Tcl).")
@click.option("--kernel", "kernels", multiple=True, help="KERNEL=IP_INSTANCE, repeatable.")
@click.option("--kernel-source", type=click.Choice(["hls", "rtl"]), default="hls", show_default=True)
@click.option("--params-json", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON {kernel: {parameter: value}} (default: read from the sources).")
@click.option("--report", "reports", multiple=True, help="NAME=PATH relative to --dir, repeatable.")
@click.option("--timing-met", type=click.Choice(list(TIMING)), default="unknown", show_default=True)
def write_manifest_command(out_dir: Path, board: str, overlay_name: str, clock_mhz: float, tools_json: Path | None,
                           kernels: tuple[str, ...], kernel_source: str, params_json: Path | None,
                           reports: tuple[str, ...], timing_met: str) -> None:
    """Write <dir>/<overlay>.json for a built overlay: tools, kernels, clock, reports and checksums.

    Example: e2train overlay write-manifest --dir bitstreams/pynq-z2 --board pynq-z2 --overlay e2train
    --kernel gemm=gemm_0 --kernel psg_wgrad=psg_wgrad_0
    """
    names = [item.partition("=")[0] for item in kernels]
    params = _json_file(params_json, "--params-json") or kernel_parameters(kernel_source, names)
    try:
        path = write_manifest(out_dir, board, overlay_name, clock_mhz=clock_mhz,
                              tools=_json_file(tools_json, "--tools-json"),
                              kernels=kernel_entries(list(kernels), kernel_source, params),
                              reports=dict(item.partition("=")[::2] for item in reports),
                              timing_met=TIMING[timing_met])
    except (ManifestError, OSError) as err:
        raise UserError(str(err)) from err
    click.echo(f"wrote {path}")


@overlay.command("check")
@click.argument("manifest", type=click.Path(path_type=Path))
def check(manifest: Path) -> None:
    """Validate a manifest and the sha256 of the files it names.

    Example: e2train overlay check bitstreams/pynq-z2/e2train.json
    """
    try:
        m = load_manifest(manifest)
    except (ManifestError, OSError, json.JSONDecodeError) as err:
        raise UserError(str(err)) from err
    click.echo(f"{m.path}: {m.board}/{m.overlay}, {m.part}, {m.clock_mhz:g} MHz, "
               f"kernels {', '.join(m.kernels) or 'none'}: checksums OK")
