"""Static checks of the RTL that need no simulation: generated headers in sync with regmap.py,
and Verilator lint (-Wall) clean for both kernels.  Both run in a second or two."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess

import e2sim
import pytest

from e2train.kernels.spec import KERNELS

_spec = importlib.util.spec_from_file_location("gen_regmap", e2sim.FPGA_DIR / "gen_regmap.py")
assert _spec is not None and _spec.loader is not None
gen_regmap = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen_regmap)


def test_register_headers_match_regmap() -> None:
    """The RTL's offsets come from regmap.py: a stale header means the RTL drifted from the map."""
    for path, text in gen_regmap.expected_files().items():
        assert path.exists(), f"{path} missing: run python fpga/gen_regmap.py"
        assert path.read_text() == text, f"{path.name} is stale: run python fpga/gen_regmap.py"


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_verilator_lint_clean(kernel: str) -> None:
    e2sim.ensure_verilator_on_path()
    if e2sim.verilator_bin_dir() is None and shutil.which("verilator") is None:
        pytest.skip(f"verilator not installed: {e2sim.INSTALL_HINT['verilator']}")
    cmd = [
        "verilator",
        "--lint-only",
        "-Wall",
        f"-I{e2sim.RTL_DIR}",
        "--top-module",
        KERNELS[kernel].rtl_top,
        *map(str, e2sim.sources(kernel)),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "%Warning" not in result.stderr, result.stderr[-4000:]


@pytest.mark.parametrize(("kernel", "param", "message"), [
    ("psg_wgrad", "S=12", "S = 12 must be a power of two >= 8"),
    ("psg_wgrad", "PC=48", "PC = 48 must be a power of two >= 2*S = 16"),
    ("gemm", "ROWS=6", "ROWS = 6 and TMAX = 8 must be powers of two >= 2"),
    ("gemm", "COLS=4", "COLS = 4 must be a power of two >= 8"),
])
def test_a_build_with_parameters_the_rtl_cannot_take_stops_naming_them(tmp_path, kernel, param, message) -> None:
    if shutil.which("iverilog") is None:
        pytest.skip(f"iverilog not installed: {e2sim.INSTALL_HINT['icarus']}")
    top = KERNELS[kernel].rtl_top
    out = tmp_path / "bad.vvp"
    subprocess.run(["iverilog", "-g2012", f"-I{e2sim.RTL_DIR}", "-s", top, f"-P{top}.{param}", "-o", str(out),
                    *map(str, e2sim.sources(kernel))], check=True, capture_output=True, timeout=120)
    result = subprocess.run(["vvp", "-n", str(out)], capture_output=True, text=True, timeout=60)
    assert "FATAL" in result.stdout and message in result.stdout, result.stdout
