"""Fixtures of the device tests: emulated devices, a fake ``pynq`` module, opt-in markers.

- Tests marked ``verilator`` or ``slow`` run only when the ``-m`` expression names the marker
  (``pytest tests/device -m verilator``), so that a plain ``pytest`` stays fast.
- ``emulated`` is a device with the register map's limits; ``small_device`` one whose kernels
  accept only tiny problems, so drivers must tile small operands.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from e2train.device import EmulatedDevice, KernelLimits

DEVICE_TESTS = Path(__file__).resolve().parent
OPT_IN_MARKERS = ("verilator", "slow")
SMALL_LIMITS = KernelLimits(max_dim=5, max_p=64)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "verilator: cocotb simulation on Verilator (opt-in: -m verilator)")
    config.addinivalue_line("markers", "slow: long-running test (opt-in: -m slow)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    markexpr = config.getoption("markexpr") or ""
    for item in items:
        if DEVICE_TESTS not in Path(str(item.fspath)).resolve().parents:
            continue
        for marker in OPT_IN_MARKERS:
            if item.get_closest_marker(marker) is not None and marker not in markexpr:
                item.add_marker(pytest.mark.skip(reason=f"opt-in test: run with -m {marker}"))


@pytest.fixture
def emulated() -> EmulatedDevice:
    return EmulatedDevice(memory_bytes=8 << 20)


@pytest.fixture
def small_device() -> EmulatedDevice:
    return EmulatedDevice(memory_bytes=8 << 20, limits=SMALL_LIMITS)
