"""RAPL powercap counters: zone naming, default rails, unit conversion and wrap-around."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2train.power import PowerSourceUnavailable, Quantity, open_power_source
from e2train.power import rapl as rapl_mod
from e2train.power.rapl import RaplSource, describe_rapl


def _set(root: Path, zone: str, uj: int) -> None:
    (root / zone / "energy_uj").write_text(f"{uj}\n")


def test_default_rails_are_packages_not_psys_or_subzones(rapl_root: Path) -> None:
    with RaplSource(root=rapl_root) as src:
        assert src.rail_names == ("package-0", "package-1")
        assert all(r.quantity is Quantity.ENERGY and r.unit == "J" for r in src.rails)
        assert src.read().values == (pytest.approx(0.9), pytest.approx(10.0))


def test_subzone_named_after_parent_and_selectable_by_zone_id(rapl_root: Path) -> None:
    with open_power_source("rapl:intel-rapl:0:0", root=rapl_root) as src:
        assert src.rail_names == ("package-0/core",)
        assert src.read().values == (pytest.approx(0.4),)


def test_wrap_around_is_unwrapped(rapl_root: Path) -> None:
    with open_power_source("rapl:package-0", root=rapl_root) as src:
        readings = []
        for uj in (950_000, 100_000, 200_000, 999_000, 5_000):
            _set(rapl_root, "intel-rapl:0", uj)
            readings.append(src.read().values[0])
    # max_energy_range_uj = 1e6: each wrap adds 1 J.
    assert readings == pytest.approx([0.95, 1.1, 1.2, 1.999, 2.005])


def test_permission_denied_says_how_to_fix(rapl_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(path: object, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(rapl_mod, "open", denied, raising=False)
    with pytest.raises(PowerSourceUnavailable, match="root-only since Linux 5.10"):
        RaplSource(root=rapl_root)


def test_missing_powercap_is_unavailable(tmp_path: Path) -> None:
    (info,) = describe_rapl(tmp_path / "none")
    assert not info.available and "does not exist" in info.reason
    (tmp_path / "empty").mkdir()
    (info,) = describe_rapl(tmp_path / "empty")
    assert not info.available and "no intel-rapl" in info.reason


def test_describe_lists_all_zones(rapl_root: Path) -> None:
    (info,) = describe_rapl(rapl_root)
    assert info.available
    assert {r.name for r in info.rails} == {"package-0", "package-0/core", "package-1", "psys"}
