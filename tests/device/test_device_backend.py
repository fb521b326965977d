"""The device backend: reference signatures, devices by name, and what the backend registry returns."""

from __future__ import annotations

import numpy as np
import pytest

from e2train.backends import device_backend, get_backend
from e2train.device import DeviceError, EmulatedDevice, KernelLimits, open_device
from e2train.kernels import reference


def test_an_emulated_backend_runs_both_kernels_bit_exact() -> None:
    backend = device_backend.open_backend("emulate")
    assert isinstance(backend.device, EmulatedDevice)
    rng = np.random.default_rng(1)
    a = rng.integers(-128, 128, (5, 6)).astype(np.int8)
    b = rng.integers(-128, 128, (6, 7)).astype(np.int8)
    np.testing.assert_array_equal(backend.gemm(a, b, "i8i8").c, reference.gemm(a, b).c)
    x = rng.integers(0, 256, (4, 9)).astype(np.uint8)
    g = rng.integers(-100, 100, (3, 9)).astype(np.int16)
    res = backend.psg_wgrad(x, g, 64, False)
    np.testing.assert_array_equal(res.signs, reference.psg_wgrad(x, g, 64, False).signs)
    backend.close()


def test_options_go_to_the_device_and_each_backend_owns_its_own() -> None:
    small = device_backend.open_backend("emulate", limits=KernelLimits(max_dim=3))
    a = np.ones((7, 7), np.int8)
    assert small.gemm(a, a).counters["CALLS"] == 27
    other = get_backend("emulate")
    assert other.device is not small.device and other.gemm(a, a).counters["CALLS"] == 1


def test_unknown_device_names_the_choices() -> None:
    with pytest.raises(ValueError, match="emulate, pynq, rtl"):
        device_backend.open_backend("fpga")
    with pytest.raises(ValueError, match="emulate, pynq, rtl"):
        open_device("fpga")


def test_rtl_device_outside_a_simulation() -> None:
    with pytest.raises(DeviceError, match="run_in_simulator"):
        open_device("rtl")
