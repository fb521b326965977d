"""Fixtures of the device tests: emulated devices, a fake ``pynq`` module.

- Tests marked ``verilator`` or ``slow`` are opt-in: pyproject.toml registers the markers and
  deselects them unless ``-m`` names them (``pytest tests/device -m verilator``).
- ``emulated`` is a device with the register map's limits; ``small_device`` one whose kernels
  accept only tiny problems, so drivers must tile small operands.
"""

from __future__ import annotations

import pytest

from e2train.device import EmulatedDevice, KernelLimits

SMALL_LIMITS = KernelLimits(max_dim=5, max_p=64)


@pytest.fixture
def emulated() -> EmulatedDevice:
    return EmulatedDevice(memory_bytes=8 << 20)


@pytest.fixture
def small_device() -> EmulatedDevice:
    return EmulatedDevice(memory_bytes=8 << 20, limits=SMALL_LIMITS)
