"""Fixtures: fake hwmon and powercap trees (helpers in power_sysfs_fakes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2train.power.fake_sysfs import write_device, write_rapl_zone


@pytest.fixture
def hwmon_root(tmp_path: Path) -> Path:
    """A ZCU102-like tree: a plain ina226, two iio-hwmon INA226 (one with power, one V x I only),
    a device with an energy counter, and a temperature sensor that must be ignored."""
    root = tmp_path / "hwmon"
    write_device(root, 0, "coretemp", {"temp1_input": 45000})
    # Plain ina2xx numbering: in0 shunt (mV), in1 bus (mV); 2 mOhm shunt; 2 ms update interval.
    write_device(
        root,
        1,
        "ina226",
        {
            "in0_input": 12,
            "in1_input": 12000,
            "curr1_input": 1500,
            "power1_input": 18000000,
            "shunt_resistor": 2000,
            "update_interval": 2,
        },
    )
    # iio-hwmon numbering from 1: in1 shunt, in2 bus. Power present.
    write_device(
        root,
        2,
        "ina226_u79",
        {"in1_input": 3, "in2_input": 850, "curr1_input": 2500, "power1_input": 2125000},
    )
    # iio-hwmon without power: V x I from in2 (bus) and curr1. in1 (shunt, 5 mV) must not be used.
    write_device(root, 3, "ina226_u81", {"in1_input": 5, "in2_input": 900, "curr1_input": 2000})
    # A monitor with a cumulative energy counter (uJ) next to its power: the counter wins.
    write_device(
        root, 4, "ina238_u14", {"in1_input": 5000, "power1_input": 4000000, "energy1_input": 5000000}
    )
    return root


@pytest.fixture
def rapl_root(tmp_path: Path) -> Path:
    root = tmp_path / "powercap"
    write_rapl_zone(root, "intel-rapl:0", "package-0", 900_000, max_uj=1_000_000)
    write_rapl_zone(root, "intel-rapl:0:0", "core", 400_000, max_uj=1_000_000)
    write_rapl_zone(root, "intel-rapl:1", "package-1", 10_000_000)
    write_rapl_zone(root, "intel-rapl:2", "psys", 50_000_000)
    (root / "intel-rapl").mkdir()  # the control-type directory, not a zone
    return root
