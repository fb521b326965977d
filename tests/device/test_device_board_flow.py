"""The board flow without Vivado: the Makefile's failure path, the whole flow with a stub
``vivado`` that writes what the Tcl would, and the manifest reader/writer."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from e2train.cli.main import cli
from e2train.device.manifest import BOARDS, ManifestError, load_manifest, write_manifest

REPO = Path(__file__).resolve().parents[2]
BOARD_DIR = REPO / "fpga" / "board"
pytestmark = pytest.mark.skipif(
    shutil.which("make") is None, reason="make not installed (apt-get install make)"
)

STUB_VIVADO = """#!/bin/sh
# stands in for Vivado: records its arguments, writes what build_overlay.tcl writes
echo "$@" > "$E2T_BUILD_DIR/vivado_args.txt"
env | grep '^E2T_' | sort > "$E2T_BUILD_DIR/vivado_env.txt"
mkdir -p "$E2T_OUT_DIR/reports"
printf 'BIT%s' "$E2T_BOARD" > "$E2T_OUT_DIR/$E2T_OVERLAY.bit"
printf '<EDKSYSTEM/>' > "$E2T_OUT_DIR/$E2T_OVERLAY.hwh"
echo util > "$E2T_OUT_DIR/reports/utilization.rpt"
echo timing > "$E2T_OUT_DIR/reports/timing.rpt"
echo '{"vivado": "v2023.2 (64-bit)", "kernel_source": "rtl", "wns_ns": "0.412"}' > "$E2T_BUILD_DIR/tools.json"
printf true > "$E2T_BUILD_DIR/timing_met.txt"
"""


def _make(tmp_path: Path, path_dirs: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(path_dirs)
    cmd = [
        "make",
        "-C",
        str(BOARD_DIR),
        f"OUT_DIR={tmp_path / 'out'}",
        f"BUILD_DIR={tmp_path / 'build'}",
        f"PYTHON={sys.executable}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)


def _system_path() -> list[str]:
    """PATH without any vivado on it (make, sh and coreutils stay)."""
    return [
        d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "vivado").exists()
    ]


def test_make_without_vivado_fails_clearly(tmp_path: Path) -> None:
    proc = _make(tmp_path, _system_path(), "BOARD=pynq-z2", "OVERLAY=e2train")
    assert proc.returncode != 0
    assert "vivado not found" in proc.stderr and "settings64.sh" in proc.stderr
    assert not (tmp_path / "out").exists()  # nothing built, nothing half-written


def test_make_refuses_unknown_board(tmp_path: Path) -> None:
    proc = _make(tmp_path, _system_path(), "BOARD=arty")
    assert proc.returncode != 0 and "unknown BOARD 'arty'" in proc.stderr


def test_make_with_stub_vivado_writes_a_valid_manifest(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "vivado"
    stub.write_text(STUB_VIVADO)
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    proc = _make(
        tmp_path, [str(bin_dir), *_system_path()], "BOARD=zcu104", "OVERLAY=e2t", "KERNEL_SOURCE=rtl"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    args = (tmp_path / "build" / "vivado_args.txt").read_text()
    assert "-mode batch" in args and str(BOARD_DIR / "build_overlay.tcl") in args
    env = (tmp_path / "build" / "vivado_env.txt").read_text()
    assert "E2T_PART=xczu7ev-ffvc1156-2-e" in env and "E2T_KERNEL_SOURCE=rtl" in env
    manifest = load_manifest(tmp_path / "out" / "e2t.json")
    assert (manifest.board, manifest.part, manifest.clock_mhz) == ("zcu104", "xczu7ev-ffvc1156-2-e", 100.0)
    assert manifest.tools["vivado"].startswith("v2023.2") and manifest.timing_met is True
    assert {k: e.ip for k, e in manifest.kernels.items()} == {"gemm": "gemm_0", "psg_wgrad": "psg_wgrad_0"}
    assert manifest.kernels["gemm"].parameters.get("ROWS") == 8  # from fpga/rtl/e2_gemm.v
    assert manifest.reports["utilization"] == "reports/utilization.rpt"
    proc = _make(tmp_path, [str(bin_dir), *_system_path()], "BOARD=zcu104", "OVERLAY=e2t", "check-manifest")
    assert proc.returncode == 0, proc.stderr


def test_hls_source_needs_the_exported_ip(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "vivado").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "vivado").chmod(0o755)
    proc = _make(tmp_path, [str(bin_dir), *_system_path()], f"HLS_IP_DIR={tmp_path / 'noip'}")
    assert proc.returncode != 0 and "make -C hls csynth export" in proc.stderr


def test_board_parts_agree_between_makefile_tcl_and_python() -> None:
    makefile = (BOARD_DIR / "Makefile").read_text()
    parts = dict(re.findall(r"^PART_([\w-]+) := (\S+)$", makefile, re.MULTILINE))
    assert parts == {board: part for board, (part, _) in BOARDS.items()}
    tcl = (BOARD_DIR / "build_overlay.tcl").read_text()
    for board in BOARDS:
        assert board in tcl
    assert "processing_system7" in tcl and "zynq_ultra_ps_e" in tcl and "S_AXI_HP0" in tcl


# --------------------------------------------------------------------------------------------- manifest


def _files(tmp_path: Path) -> Path:
    (tmp_path / "o.bit").write_bytes(b"bit")
    (tmp_path / "o.hwh").write_text("hwh")
    return write_manifest(tmp_path, "pynq-z2", "o", kernels={"gemm": {"ip": "gemm_0"}})


def test_manifest_round_trip_and_cli_check(tmp_path: Path) -> None:
    path = _files(tmp_path)
    m = load_manifest(path)
    assert m.bitstream == tmp_path / "o.bit" and m.part == "xc7z020clg400-1"
    ok = CliRunner().invoke(cli, ["overlay", "check", str(path)])
    assert ok.exit_code == 0 and "checksums OK" in ok.output
    (tmp_path / "o.hwh").write_text("other")
    bad = CliRunner().invoke(cli, ["overlay", "check", str(path)])
    assert bad.exit_code == 2 and "differs" in bad.output
    with pytest.raises(ManifestError, match="differs"):
        load_manifest(path)
    load_manifest(path, verify=False)  # reading without verifying still works


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(schema=2), "schema 2"),
        (lambda d: d.pop("board"), "missing field 'board'"),
        (lambda d: d["kernels"].update(conv={"ip": "x"}), "not a known kernel"),
        (lambda d: d["files"].pop("hwh"), "lacks 'hwh'"),
    ],
)
def test_manifest_validation(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    path = _files(tmp_path)
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(ManifestError, match=message):
        load_manifest(path)


def test_manifest_not_json(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text("{")
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_manifest(tmp_path / "m.json")


def test_write_manifest_needs_the_files(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="missing"):
        write_manifest(tmp_path, "zedboard", "nothing")
