"""Resource estimates (``e2train.synth`` and the ``synth`` CLI command): cell grouping, argument
checks, a clear error without Yosys; the real Yosys run is slow (about a minute per kernel)."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from e2train import synth as synth_mod
from e2train.cli.synth_cmd import synth as synth_cli


def test_summarize_cells_groups_primitives() -> None:
    cells = {
        "LUT2": 10,
        "LUT6": 5,
        "INV": 3,
        "RAM32M": 2,
        "FDRE": 40,
        "FDSE": 2,
        "DSP48E1": 64,
        "RAMB36E1": 16,
        "RAMB18E1": 3,
        "CARRY4": 7,
        "IBUF": 9,
    }
    res = synth_mod.summarize_cells(cells)
    assert res["LUT_logic"] == 18 and res["LUT_as_memory"] == 8 and res["LUT"] == 26
    assert res["FF"] == 42 and res["DSP48E1"] == 64 and res["CARRY4"] == 7
    assert res["BRAM36"] == 17.5
    assert res["utilization"]["DSP48E1"] == round(64 / 220, 4)


@pytest.mark.parametrize(
    "kernel, rows, cols", [("gemm", 3, 8), ("gemm", 8, 4), ("psg_wgrad", 8, 16), ("conv", 8, 8)]
)
def test_parameters_refuse_bad_arrays(kernel: str, rows: int, cols: int) -> None:
    with pytest.raises(ValueError):
        synth_mod.parameters(kernel, rows, cols)


def test_missing_yosys_names_the_install_command(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("YOSYS", raising=False)
    with pytest.raises(synth_mod.SynthError, match="apt-get install -y yosys"):
        synth_mod.synth("gemm", 8, 8, tmp_path)
    result = CliRunner().invoke(synth_cli, ["--kernel", "gemm", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "apt-get install -y yosys" in result.output


def test_summary_says_estimates_only(tmp_path) -> None:
    report = {
        "kernel": "gemm",
        "rows": 8,
        "cols": 8,
        "tool": "Yosys 0.23 (git sha1 x)",
        "resources": synth_mod.summarize_cells({"LUT6": 1, "DSP48E1": 64}),
    }
    (tmp_path / "synth_gemm_8x8.json").write_text(json.dumps(report))
    text = synth_mod.write_summary(tmp_path).read_text()
    assert "resource estimates only; no timing closure/Fmax; part xc7z020" in text
    assert "| gemm | 8 x 8 |" in text


@pytest.mark.slow
def test_yosys_synth_gemm_small(tmp_path) -> None:
    if shutil.which("yosys") is None:
        pytest.skip(f"yosys not installed: {synth_mod.INSTALL_HINT}")
    report = synth_mod.synth("gemm", 2, 8, tmp_path)
    assert report["resources"]["DSP48E1"] == 16  # one DSP48E1 per 8 x 16-bit MAC
    assert (tmp_path / "synth_gemm_2x8.json").exists() and (tmp_path / "synth.md").exists()
