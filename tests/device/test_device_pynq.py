"""PynqDevice against a fake ``pynq`` module (pynq's API shape, the emulation behind it), the
manifest it reads, and the no-board errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from device_fakes import BASES, FakeBoard, hls_layout

from e2train.device import NoBoardError, open_device
from e2train.device.manifest import ManifestError, write_manifest
from e2train.device.pynq_device import PynqDevice, map_from_hwh
from e2train.drivers import GemmDriver, PsgDriver
from e2train.kernels import reference, regmap
from e2train.kernels.spec import KERNELS


def _overlay(root: Path, board: str = "pynq-z2", overlay: str = "e2train", source: str = "hls") -> Path:
    out = root / board
    out.mkdir(parents=True)
    (out / f"{overlay}.bit").write_bytes(b"\x00\x09bitstream" * 100)
    (out / f"{overlay}.hwh").write_text("<EDKSYSTEM/>")
    kernels = {
        k: {"ip": f"{k}_0", "source": source, "max_dim": regmap.MAX_DIM, "max_p": regmap.MAX_P} for k in BASES
    }
    return write_manifest(out, board, overlay, tools={"vivado": "v2023.2"}, kernels=kernels)


@pytest.fixture
def bitstreams(tmp_path: Path) -> Path:
    _overlay(tmp_path)
    return tmp_path


def test_drivers_run_on_the_fake_board_through_hwh_offsets(bitstreams: Path) -> None:
    board = FakeBoard()
    dev = PynqDevice(board="pynq-z2", bitstreams_dir=bitstreams, pynq=board.module())
    assert dev.kernel_names == ("gemm", "psg_wgrad")
    assert board.overlays == [str(bitstreams / "pynq-z2" / "e2train.bit")]
    # the HLS layout moved the counters: the device's map must say so
    assert dev.register_map("gemm")["MACS"].offset == 0x88
    assert "CYCLES_BUSY" not in dev.register_map("gemm").names
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (7, 9)).astype(np.int8)
    b = rng.integers(0, 256, (9, 5)).astype(np.uint8)
    got = GemmDriver(dev).run(a, b, "i8u8")
    np.testing.assert_array_equal(got.c, reference.gemm(a, b, "i8u8").c)
    assert got.counters["MACS"] == 7 * 9 * 5 and "CYCLES_BUSY" not in got.counters
    x = rng.integers(-128, 128, (6, 30)).astype(np.int8)
    g = rng.integers(-999, 999, (4, 30)).astype(np.int16)
    res = PsgDriver(dev).run(x, g, 2**40, True)
    want = reference.psg_wgrad(x, g, 2**40, True)
    np.testing.assert_array_equal(res.signs, want.signs)
    assert res.recomputed == want.recomputed == 24
    assert board.mmio_accesses > 0


def test_packaged_rtl_without_hwh_registers_uses_regmap(tmp_path: Path, bitstreams: Path) -> None:
    """A packaged-RTL IP lists no registers in its .hwh: the manifest's source 'rtl' selects regmap,
    whose counter offsets differ from the HLS IP's."""
    _overlay(tmp_path / "rtl", source="rtl")
    board = FakeBoard(with_registers=False)
    hls_board = FakeBoard()
    dev = PynqDevice(board="pynq-z2", bitstreams_dir=tmp_path / "rtl", pynq=board.module())
    assert dev.register_map("gemm") is regmap.GEMM
    hls_dev = PynqDevice(board="pynq-z2", bitstreams_dir=bitstreams, pynq=hls_board.module())
    assert hls_dev.register_map("gemm")["MACS"].offset != regmap.GEMM["MACS"].offset


def test_map_from_hwh_translates_hls_names() -> None:
    expected, hwh = hls_layout("psg_wgrad")
    got = map_from_hwh("psg_wgrad", hwh, "psg_wgrad_0")
    for reg in expected.registers:
        assert got[reg.name].offset == reg.offset
        assert got[reg.name].width_bits == reg.width_bits


def test_map_from_hwh_narrow_tau_is_refused_not_truncated(caplog: pytest.LogCaptureFixture) -> None:
    """An IP whose TAU is 32 bits (an older HLS export): large thresholds raise instead of wrapping."""
    _, hwh = hls_layout("psg_wgrad")
    del hwh["tau_2"]
    got = map_from_hwh("psg_wgrad", hwh)
    assert got["TAU"].width_bits == 32
    assert "larger values are refused" in caplog.text


def test_map_from_hwh_missing_argument_is_an_error() -> None:
    _, hwh = hls_layout("gemm")
    del hwh["mode"]
    with pytest.raises(Exception, match="no register for MODE"):
        map_from_hwh("gemm", hwh, "gemm_0")


def test_checksum_mismatch_is_refused(bitstreams: Path) -> None:
    bit = bitstreams / "pynq-z2" / "e2train.bit"
    bit.write_bytes(bit.read_bytes() + b"x")
    with pytest.raises(ManifestError, match="sha256 .* differs"):
        PynqDevice(board="pynq-z2", bitstreams_dir=bitstreams, pynq=FakeBoard().module())


def test_manifest_and_overlay_must_agree_on_ip_names(tmp_path: Path) -> None:
    path = _overlay(tmp_path)
    data = json.loads(path.read_text())
    data["kernels"]["gemm"]["ip"] = "matmul_7"
    path.write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="matmul_7"):
        PynqDevice(board="pynq-z2", bitstreams_dir=tmp_path, pynq=FakeBoard().module())


def test_missing_manifest_says_how_to_build(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="make -C fpga/board"):
        PynqDevice(board="zcu104", bitstreams_dir=tmp_path, pynq=FakeBoard().module())


def test_bare_bitstream_without_manifest_when_allowed(tmp_path: Path) -> None:
    bit = tmp_path / "x.bit"
    bit.write_bytes(b"bit")
    dev = PynqDevice(bit, require_manifest=False, pynq=FakeBoard().module())
    assert dev.manifest is None and set(dev.kernel_names) == {"gemm", "psg_wgrad"}


def test_no_devices_found_becomes_no_board_error(bitstreams: Path) -> None:
    with pytest.raises(NoBoardError, match=r"no PYNQ board found.*--backend emulate"):
        PynqDevice(board="pynq-z2", bitstreams_dir=bitstreams, pynq=FakeBoard(no_devices=True).module())


def test_pynq_not_installed_is_no_board_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynq", None)  # import pynq -> ImportError
    with pytest.raises(NoBoardError, match=r"pynq is not installed.*e2train\[pynq\]"):
        open_device("pynq", board="pynq-z2")


def test_no_board_env_is_no_board_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOARD", raising=False)
    with pytest.raises(NoBoardError, match=r"\$BOARD is not set"):
        PynqDevice(pynq=FakeBoard().module())


def test_board_from_pynq_image_env(bitstreams: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOARD", "Pynq-Z2")
    dev = PynqDevice(bitstreams_dir=bitstreams, pynq=FakeBoard().module())
    assert dev.manifest is not None and dev.manifest.board == "pynq-z2"


def test_power_source_absent_with_reason(bitstreams: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynq", None)
    dev = PynqDevice(board="pynq-z2", bitstreams_dir=bitstreams, pynq=FakeBoard().module())
    assert dev.power_source is None
    assert "pynq" in dev.power_unavailable_reason and "external meter" in dev.power_unavailable_reason


def test_hls_ip_with_a_partial_hwh_uses_the_hls_map_from_the_manifest(bitstreams: Path) -> None:
    board = FakeBoard(hwh_registers=False)  # Vitis HLS 2022.1 partial .hwh: no registers listed
    dev = PynqDevice(board="pynq-z2", bitstreams_dir=bitstreams, pynq=board.module())  # manifest: source hls
    assert dev.register_map("gemm") == KERNELS["gemm"].hls_registers
    rng = np.random.default_rng(1)
    a = rng.integers(-128, 128, (5, 6)).astype(np.int8)
    b = rng.integers(-128, 128, (6, 4)).astype(np.int8)
    got = GemmDriver(dev).run(a, b, "i8i8")
    assert got.counters["MACS"] == 5 * 6 * 4 and got.counters["BYTES_WRITTEN"] == 5 * 4 * 4


def test_partial_hwh_with_an_unknown_source_is_refused(tmp_path: Path) -> None:
    from e2train.device.pynq_device import fallback_map

    with pytest.raises(ManifestError, match="neither 'hls' nor 'rtl'"):
        fallback_map("gemm", "gemm_0", "chisel")
