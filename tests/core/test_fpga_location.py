"""Where the RTL and its harness are found: one lookup (``kernels.toolchain.fpga_dir``), and each layer
that needs them says so in its own error when they are not there."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2train.backends import BackendUnavailable
from e2train.backends.rtl import check_simulator
from e2train.device.rtl_sim import missing_reason
from e2train.kernels.toolchain import fpga_dir, harness
from e2train.synth import SynthError, fpga_rtl_dir

REPO = Path(__file__).resolve().parents[2]


def test_a_checkout_finds_its_own_fpga_folder(monkeypatch) -> None:
    monkeypatch.delenv("E2TRAIN_FPGA_DIR", raising=False)
    assert fpga_dir() == REPO / "fpga"
    assert harness().RTL_DIR == REPO / "fpga" / "rtl"


def test_a_folder_without_the_rtl_is_a_clear_error_in_every_layer(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("E2TRAIN_FPGA_DIR", str(tmp_path))
    assert fpga_dir() == tmp_path  # read at each call
    with pytest.raises(FileNotFoundError, match="set E2TRAIN_FPGA_DIR"):
        harness()
    with pytest.raises(BackendUnavailable, match="set E2TRAIN_FPGA_DIR"):
        check_simulator("icarus")
    assert "set E2TRAIN_FPGA_DIR" in (missing_reason("icarus") or "")
    with pytest.raises(SynthError, match="E2TRAIN_FPGA_DIR"):
        fpga_rtl_dir()
