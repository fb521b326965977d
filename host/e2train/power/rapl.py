"""Intel/AMD RAPL energy counters through the Linux powercap interface.

Each zone ``/sys/class/powercap/intel-rapl:N[:M]`` has ``name`` (``package-0``, ``core``, ``dram``,
``psys``), ``energy_uj`` (cumulative microjoules) and ``max_energy_range_uj`` (where ``energy_uj`` wraps
to zero). The source unwraps the counter so that it reads as a monotonically increasing energy in J;
this only works if it is read at least once per wrap period (tens of minutes at package power), which
any recorder does.

Since Linux 5.10 ``energy_uj`` is readable by root only (CVE-2020-8694); the unavailable reason says so.
"""

from __future__ import annotations

import logging
from pathlib import Path

from e2train.power.base import (
    PowerSource,
    PowerSourceUnavailable,
    Quantity,
    RailInfo,
    SourceInfo,
    select_rails,
)

log = logging.getLogger(__name__)

DEFAULT_POWERCAP_ROOT = Path("/sys/class/powercap")

# The RAPL energy status unit is 2^-14 J (61 uJ) on most Intel parts (15.3 uJ on some servers); the
# counter is updated about every 1 ms.
RAPL_RESOLUTION_J = 2.0**-14
RAPL_REFRESH_S = 1e-3


def _zone_rail_names(root: Path) -> dict[str, Path]:
    """Rail name -> zone directory. Subzones are prefixed by their parent's name: ``package-0/core``."""
    zones = sorted(root.glob("intel-rapl:*"), key=lambda p: p.name)
    names: dict[str, Path] = {}
    by_id = {z.name: z for z in zones}
    for zone in zones:
        try:
            name = (zone / "name").read_text().strip()
        except OSError:
            continue
        parts = zone.name.split(":")
        if len(parts) > 2:
            parent = by_id.get(":".join(parts[:2]))
            parent_name = (parent / "name").read_text().strip() if parent else parts[1]
            name = f"{parent_name}/{name}"
        if name in names:
            name = f"{name}@{zone.name}"
        names[name] = zone
    return names


def _default_rails(names: dict[str, Path]) -> tuple[str, ...]:
    """Top-level zones except ``psys``: their sum is meaningful (core/uncore sit inside a package,
    psys contains everything), so summing the default rails does not double count."""
    top = [n for n, z in names.items() if len(z.name.split(":")) == 2]
    packages = [n for n in top if not n.startswith("psys")]
    return tuple(packages or top)


class RaplSource(PowerSource):
    """Cumulative energy (J) per RAPL zone, unwrapped at ``max_energy_range_uj``."""

    kind = "rapl"

    def __init__(self, rails: tuple[str, ...] = (), root: Path | str = DEFAULT_POWERCAP_ROOT) -> None:
        self.root = Path(root)
        names = _zone_rail_names(self.root)
        if not names:
            raise PowerSourceUnavailable(rapl_unavailable_reason(self.root))
        # Zone ids (intel-rapl:0:1) are accepted as rail names too.
        by_id = {z.name: n for n, z in names.items()}
        wanted = tuple(by_id.get(w, w) for w in rails) or _default_rails(names)
        available = {
            n: RailInfo(n, Quantity.ENERGY, RAPL_RESOLUTION_J, RAPL_REFRESH_S, note=f"{z.name} energy_uj")
            for n, z in names.items()
        }
        selected = select_rails(available, wanted, f"rapl ({self.root})")
        zones = [names[r.name] for r in selected]
        self._max_uj = [int((z / "max_energy_range_uj").read_text()) for z in zones]
        try:
            self._files = [open(z / "energy_uj", "rb", buffering=0) for z in zones]  # noqa: SIM115
        except PermissionError as err:
            raise PowerSourceUnavailable(_permission_reason(err.filename)) from err
        self._last_uj: list[int | None] = [None] * len(zones)
        self._offset_uj = [0] * len(zones)
        super().__init__(f"rapl:{','.join(r.name for r in selected)}", selected)
        self._read_values()  # fail now, not inside the recorder thread

    def _read_values(self) -> tuple[float, ...]:
        out = []
        for i, fh in enumerate(self._files):
            fh.seek(0)
            try:
                raw = int(fh.read())
            except PermissionError as err:
                raise PowerSourceUnavailable(_permission_reason(fh.name)) from err
            last = self._last_uj[i]
            if last is not None and raw < last:
                # Wrapped: the counter counts modulo max_energy_range_uj (as the kernel and Zeus treat it).
                self._offset_uj[i] += self._max_uj[i]
                log.debug("RAPL %s wrapped (%d -> %d)", self.rails[i].name, last, raw)
            self._last_uj[i] = raw
            out.append((raw + self._offset_uj[i]) * 1e-6)
        return tuple(out)

    def close(self) -> None:
        for fh in getattr(self, "_files", []):
            fh.close()
        self._files = []


def _permission_reason(path: object) -> str:
    return (
        f"cannot read {path}: RAPL counters are root-only since Linux 5.10; run as root or "
        f"`sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj` (resets at reboot)"
    )


def rapl_unavailable_reason(root: Path) -> str:
    if not root.is_dir():
        return f"{root} does not exist (no powercap framework: not Linux, or a VM/ARM board without RAPL)"
    return f"no intel-rapl:* zones under {root} (CPU without RAPL, a VM, or the intel_rapl driver not loaded)"


def describe_rapl(root: Path | str = DEFAULT_POWERCAP_ROOT) -> list[SourceInfo]:
    root = Path(root)
    try:
        source = RaplSource((), root)
    except PowerSourceUnavailable as err:
        return [SourceInfo("rapl", "rapl", False, str(err))]
    except OSError as err:
        return [SourceInfo("rapl", "rapl", False, f"cannot read {root}: {err}")]
    with source:
        rails = tuple(
            RailInfo(n, Quantity.ENERGY, RAPL_RESOLUTION_J, RAPL_REFRESH_S, note=f"{z.name} energy_uj")
            for n, z in _zone_rail_names(root).items()
        )
        return [SourceInfo("rapl", "rapl", True, f"default rails: {', '.join(source.rail_names)}", rails)]
