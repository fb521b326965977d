"""The device backend: reference signatures, devices by name, and the registry-facing module API."""

from __future__ import annotations

import numpy as np
import pytest

from e2train.backends import device_backend
from e2train.device import DeviceError, EmulatedDevice, KernelLimits, open_device
from e2train.kernels import reference


@pytest.fixture(autouse=True)
def _fresh_selection(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(device_backend, "_current", None)
    monkeypatch.setattr(device_backend, "_current_name", None)
    yield


def test_module_api_defaults_to_emulation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(device_backend.ENV_DEVICE, raising=False)
    rng = np.random.default_rng(1)
    a = rng.integers(-128, 128, (5, 6)).astype(np.int8)
    b = rng.integers(-128, 128, (6, 7)).astype(np.int8)
    got = device_backend.gemm(a, b, "i8i8")
    np.testing.assert_array_equal(got.c, reference.gemm(a, b).c)
    assert isinstance(device_backend.current(), device_backend.DeviceBackend)
    assert isinstance(device_backend.current().device, EmulatedDevice)  # type: ignore[union-attr]
    x = rng.integers(0, 256, (4, 9)).astype(np.uint8)
    g = rng.integers(-100, 100, (3, 9)).astype(np.int16)
    res = device_backend.psg_wgrad(x, g, 64, False)
    np.testing.assert_array_equal(res.signs, reference.psg_wgrad(x, g, 64, False).signs)


def test_use_passes_options_to_the_device() -> None:
    backend = device_backend.use("emulate", limits=KernelLimits(max_dim=3))
    a = np.ones((7, 7), np.int8)
    got = device_backend.gemm(a, a)
    assert got.counters["CALLS"] == 27
    assert backend is device_backend.current()


def test_unknown_device_names_the_choices() -> None:
    with pytest.raises(ValueError, match="emulate, pynq, rtl"):
        device_backend.use("fpga")
    with pytest.raises(ValueError, match="emulate, pynq, rtl"):
        open_device("fpga")


def test_rtl_device_outside_a_simulation() -> None:
    with pytest.raises(DeviceError, match="run_in_simulator"):
        open_device("rtl")
    assert isinstance(device_backend.use("rtl"), device_backend._OneShotRtl)
