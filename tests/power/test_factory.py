"""Spec parsing, the source listing (never a silent absence), and the lazily imported PYNQ/NVML sources
driven by fake modules shaped like the real ones."""

from __future__ import annotations

import importlib.machinery
import sys
import types
from pathlib import Path

import pytest

from e2train.power import (
    PowerSourceUnavailable,
    PowerSpecError,
    Quantity,
    list_power_sources,
    open_power_source,
    parse_spec,
)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("hwmon:ina226_u79", ("hwmon", ("ina226_u79",))),
        ("rapl", ("rapl", ())),
        ("nvml:0", ("nvml", ("0",))),
        ("pynq:INT,12V", ("pynq", ("INT", "12V"))),
        ("pynq: INT , 12V ,", ("pynq", ("INT", "12V"))),
        ("rapl:intel-rapl:0:1", ("rapl", ("intel-rapl:0:1",))),
        ("simulated", ("simulated", ())),
        ("sim:a,b", ("simulated", ("a", "b"))),
    ],
)
def test_parse_spec(spec: str, expected: tuple[str, tuple[str, ...]]) -> None:
    assert parse_spec(spec) == expected


@pytest.mark.parametrize("spec", ["", "   ", "ina999", "gpu:0"])
def test_bad_spec_names_choices(spec: str) -> None:
    with pytest.raises(PowerSpecError, match="simulated, pynq, hwmon, rapl, nvml"):
        parse_spec(spec)


def test_simulated_spec_rails() -> None:
    with open_power_source("simulated:fpga,ddr") as src:
        assert src.rail_names == ("fpga", "ddr")
        assert all(v > 0 for v in src.read().values)


def test_listing_covers_every_kind_with_reasons(hwmon_root: Path, rapl_root: Path) -> None:
    infos = list_power_sources(hwmon_root=hwmon_root, powercap_root=rapl_root)
    kinds = {i.kind for i in infos}
    assert kinds == {"simulated", "pynq", "hwmon", "rapl", "nvml"}
    for info in infos:
        assert info.reason, f"{info.spec} has no reason"
        if info.available:
            assert info.rails and all(r.unit in ("W", "J") for r in info.rails)
    hw = [i for i in infos if i.kind == "hwmon"]
    assert {i.spec for i in hw} == {
        "hwmon:ina226",
        "hwmon:ina226_u79",
        "hwmon:ina226_u81",
        "hwmon:ina238_u14",
    }


def test_listing_on_a_bare_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynq", None)  # import pynq -> ImportError, find_spec -> ValueError
    monkeypatch.setitem(sys.modules, "pynvml", None)
    infos = list_power_sources(hwmon_root=tmp_path / "h", powercap_root=tmp_path / "p")
    unavailable = {i.kind: i.reason for i in infos if not i.available}
    assert set(unavailable) == {"pynq", "hwmon", "rapl", "nvml"}
    assert all(unavailable.values())


# -- PYNQ ------------------------------------------------------------------------------------------------


class FakeSensor:
    def __init__(self, value: float) -> None:
        self.value = value


class FakeRail:
    def __init__(
        self, name: str, power: float | None = None, volts: float | None = None, amps: float | None = None
    ):
        self.name = name
        self.power = FakeSensor(power) if power is not None else None
        self.voltage = FakeSensor(volts) if volts is not None else None
        self.current = FakeSensor(amps) if amps is not None else None


def _fake_module(name: str, **attrs: object) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__spec__ = importlib.machinery.ModuleSpec(name, None)
    for k, v in attrs.items():
        setattr(mod, k, v)
    return mod


def test_pynq_rails_power_and_vxi(monkeypatch: pytest.MonkeyPatch) -> None:
    rails = {
        "12V": FakeRail("12V", power=9.5),
        "INT": FakeRail("INT", volts=0.85, amps=2.0),
        "FMC": FakeRail("FMC"),
    }
    monkeypatch.setitem(sys.modules, "pynq", _fake_module("pynq", get_rails=lambda: rails))
    with open_power_source("pynq:INT,12V") as src:
        assert src.rail_names == ("INT", "12V")
        assert src.read().values == (pytest.approx(1.7), pytest.approx(9.5))
        assert src.rails[0].resolution == 0.125
    with pytest.raises(PowerSpecError, match="available: 12V, INT"):
        open_power_source("pynq:FMC")


def test_pynq_empty_rails_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynq", _fake_module("pynq", get_rails=dict))
    with pytest.raises(PowerSourceUnavailable, match="libsensors"):
        open_power_source("pynq")
    (info,) = [i for i in list_power_sources() if i.kind == "pynq"]
    assert not info.available and "hwmon" in info.reason


def test_pynq_all_zero_reads_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    rails = {"12V": FakeRail("12V", power=0.0)}
    monkeypatch.setitem(sys.modules, "pynq", _fake_module("pynq", get_rails=lambda: rails))
    with pytest.raises(PowerSourceUnavailable, match="exactly 0 W"):
        open_power_source("pynq")


# -- NVML ------------------------------------------------------------------------------------------------


def _fake_pynvml(energy_supported: bool) -> types.ModuleType:
    class NVMLError(Exception):
        pass

    state = {"energy_mj": 123_456, "power_mw": 87_500, "shutdown": 0}

    def energy(handle: int) -> int:
        if not energy_supported:
            raise NVMLError("Not Supported")
        return state["energy_mj"]

    def shutdown() -> None:
        state["shutdown"] += 1

    return _fake_module(
        "pynvml",
        NVMLError=NVMLError,
        nvmlInit=lambda: None,
        nvmlShutdown=shutdown,
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetTotalEnergyConsumption=energy,
        nvmlDeviceGetPowerUsage=lambda h: state["power_mw"],
        state=state,
    )


def test_nvml_energy_counter_in_joules(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_pynvml(energy_supported=True)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    with open_power_source("nvml:1") as src:
        assert src.rail_names == ("gpu1",)
        assert src.rails[0].quantity is Quantity.ENERGY
        assert src.read().values == (pytest.approx(123.456),)
    assert fake.state["shutdown"] == 1


def test_nvml_power_fallback_in_watts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(energy_supported=False))
    with open_power_source("nvml") as src:
        assert src.rail_names == ("gpu0", "gpu1")
        assert all(r.quantity is Quantity.POWER for r in src.rails)
        assert src.read().values == (pytest.approx(87.5), pytest.approx(87.5))


def test_nvml_bad_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(energy_supported=True))
    with pytest.raises(PowerSpecError, match="indices 0..1"):
        open_power_source("nvml:5")
    with pytest.raises(PowerSpecError, match="GPU indices"):
        open_power_source("nvml:gpu0")
