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
