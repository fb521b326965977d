"""hwmon INA2xx parsing against fake sysfs trees: numbering, units, method preference, selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2train.power import PowerSourceUnavailable, PowerSpecError, Quantity, open_power_source
from e2train.power.fake_sysfs import write_device
from e2train.power.hwmon import HwmonSource, describe_hwmon, discover_channels


def test_discovers_power_channels_and_ignores_temperature(hwmon_root: Path) -> None:
    channels = discover_channels(hwmon_root)
    assert set(channels) == {"ina226", "ina226_u79", "ina226_u81", "ina238_u14"}
    assert channels["ina226"].method == "power"
    assert channels["ina226_u79"].method == "power"
    assert channels["ina226_u81"].method == "vxi"
    assert channels["ina238_u14"].method == "energy"


def test_plain_ina226_power_in_microwatts(hwmon_root: Path) -> None:
    with HwmonSource(("ina226",), root=hwmon_root) as src:
        (watts,) = src.read().values
        rail = src.rails[0]
    assert watts == pytest.approx(18.0)
    assert rail.quantity is Quantity.POWER and rail.unit == "W"
    # update_interval is in ms.
    assert rail.refresh_s == pytest.approx(0.002)
    # ina226: current LSB = 1e9/400/2000 uOhm = 1250 uA; power LSB = 25 x 1250 uW.
    assert rail.resolution == pytest.approx(0.03125)


def test_iio_hwmon_vxi_uses_bus_voltage_in2_not_shunt_in1(hwmon_root: Path) -> None:
    with HwmonSource(("ina226_u81",), root=hwmon_root) as src:
        (watts,) = src.read().values
        rail = src.rails[0]
    assert watts == pytest.approx(0.900 * 2.000)  # in2 (mV) x curr1 (mA)
    # No update_interval through iio-hwmon: the INA226 default refresh is assumed, and said so.
    assert rail.refresh_s == pytest.approx(0.035)
    assert "35 ms" in rail.note
    assert rail.resolution == pytest.approx(1e-3 * 0.9)  # 1 mA quantum x bus voltage


def test_plain_numbering_vxi_uses_in1(tmp_path: Path) -> None:
    write_device(tmp_path, 0, "ina219", {"in0_input": 40, "in1_input": 5000, "curr1_input": 800})
    with HwmonSource(root=tmp_path) as src:
        assert src.read().values == (pytest.approx(4.0),)


def test_bus_voltage_found_by_label(tmp_path: Path) -> None:
    write_device(
        tmp_path,
        0,
        "pac1934",
        {"in1_input": 7, "in1_label": "vsense", "in3_input": 3300, "in3_label": "vbus", "curr1_input": 100},
    )
    with HwmonSource(root=tmp_path) as src:
        assert src.read().values == (pytest.approx(0.33),)


def test_energy_counter_preferred_in_joules(hwmon_root: Path) -> None:
    with open_power_source("hwmon:ina238_u14", root=hwmon_root) as src:
        assert src.rails[0].quantity is Quantity.ENERGY
        assert src.rails[0].unit == "J"
        assert src.read().values == (pytest.approx(5.0),)
        assert src.has_energy_counters


def test_reads_fresh_values_each_time(hwmon_root: Path) -> None:
    with open_power_source("hwmon:ina226_u79,ina226", root=hwmon_root) as src:
        assert src.rail_names == ("ina226_u79", "ina226")
        first = src.read()
        (hwmon_root / "hwmon2" / "power1_input").write_text("3000000\n")
        second = src.read()
    assert first.values[0] == pytest.approx(2.125)
    assert second.values == (pytest.approx(3.0), pytest.approx(18.0))
    assert second.t_s > first.t_s


def test_duplicate_device_names_get_hwmon_suffix(tmp_path: Path) -> None:
    write_device(tmp_path, 0, "ina226", {"in0_input": 1, "in1_input": 5000, "power1_input": 1000000})
    write_device(tmp_path, 1, "ina226", {"in0_input": 1, "in1_input": 5000, "power1_input": 2000000})
    with HwmonSource(root=tmp_path) as src:
        assert src.rail_names == ("ina226@hwmon0", "ina226@hwmon1")
        assert src.read().values == (pytest.approx(1.0), pytest.approx(2.0))


def test_unknown_rail_lists_available(hwmon_root: Path) -> None:
    with pytest.raises(PowerSpecError, match=r"ina226_u99.*available: ina226, ina226_u79"):
        open_power_source("hwmon:ina226_u99", root=hwmon_root)


def test_no_power_devices_is_unavailable_with_reason(tmp_path: Path) -> None:
    write_device(tmp_path, 0, "coretemp", {"temp1_input": 45000})
    with pytest.raises(PowerSourceUnavailable, match="found: coretemp"):
        HwmonSource(root=tmp_path)
    (info,) = describe_hwmon(tmp_path)
    assert not info.available and "coretemp" in info.reason


def test_missing_root_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(PowerSourceUnavailable, match="does not exist"):
        HwmonSource(root=tmp_path / "nope")


def test_describe_lists_each_rail_with_unit(hwmon_root: Path) -> None:
    infos = describe_hwmon(hwmon_root)
    by_spec = {i.spec: i for i in infos}
    assert by_spec["hwmon:ina238_u14"].rails[0].unit == "J"
    assert by_spec["hwmon:ina226"].available


def test_resolution_override(hwmon_root: Path) -> None:
    with HwmonSource(("ina226_u79",), root=hwmon_root, resolution_w=0.025, refresh_s=0.01) as src:
        assert src.rails[0].resolution == 0.025
        assert src.refresh_period_s == 0.01
