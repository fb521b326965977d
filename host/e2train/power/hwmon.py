"""Linux hwmon power monitors (INA2xx and friends) read straight from sysfs.

Why not through PYNQ: on ZCU102 and Kria, PYNQ's ``get_rails()`` is empty although the kernel exposes the
INA226/INA260 monitors under ``/sys/class/hwmon``; reading sysfs is also faster than libsensors.

Formats (Linux hwmon ABI and the ina2xx driver, see docs/HARDWARE.md):

- ``name``: the chip (``ina226``) or, through iio-hwmon, the device-tree node with '-' -> '_'
  (``ina226_u79``).
- ``energyN_input`` microjoules (cumulative), ``powerN_input`` microwatts, ``currN_input`` milliamps,
  ``inN_input`` millivolts, ``update_interval`` milliseconds, ``shunt_resistor`` micro-ohms.
- Plain ina2xx numbering: ``in0`` shunt voltage, ``in1`` bus voltage. iio-hwmon numbering starts at 1:
  ``in1`` shunt, ``in2`` bus.

Per channel the preferred reading is a cumulative energy counter, then power, then bus voltage x current.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
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

DEFAULT_HWMON_ROOT = Path("/sys/class/hwmon")
ATTR_BYTES = 32  # an attribute is one integer and a newline: 20 digits at most

# INA226 with the kernel's default averaging (16 conversions of 1.1 ms each, shunt and bus):
# a fresh value about every 35 ms. Used when the device has no update_interval file (iio-hwmon).
DEFAULT_REFRESH_S = 0.035

# ina2xx driver constants: current_lsb_uA = round(1e9 / shunt_div / rshunt_uohm),
# power_lsb_uW = power_lsb_factor * current_lsb_uA.
_INA_LSB = {
    "ina219": (100, 20),
    "ina220": (100, 20),
    "ina226": (400, 25),
    "ina230": (400, 25),
    "ina231": (400, 25),
}
# Chips with a fixed internal shunt: power LSB in W from their datasheets.
_FIXED_POWER_LSB_W = {"ina260": 0.010}

_CHANNEL_FILE = re.compile(r"^(energy|power|curr|in)(\d+)_input$")


@dataclass(frozen=True)
class HwmonChannel:
    """How to read one rail: which files, and how to turn their integers into W or J."""

    rail: RailInfo
    method: str  # "energy" | "power" | "vxi"
    paths: tuple[Path, ...]  # energy/power: (file,); vxi: (curr, bus voltage)
    device: Path


def _read_text(path: Path) -> str:
    with open(path, encoding="ascii") as fh:
        return fh.read().strip()


def _read_int(path: Path) -> int:
    return int(_read_text(path))


def _chip_of(name: str) -> str:
    """``ina226_u79`` -> ``ina226``: iio-hwmon names start with the compatible's chip name."""
    return name.split("_", 1)[0].split("-", 1)[0].lower()


def _bus_voltage_file(
    device: Path, channel: int, files: dict[str, dict[int, Path]], multichannel: bool
) -> Path | None:
    """Find the bus-voltage input that pairs with current channel ``channel``.

    Labels win where the driver provides them; otherwise the numbering tells plain ina2xx (``in0`` exists:
    bus is ``in1``) from iio-hwmon (starts at ``in1`` = shunt: bus is ``in2``). Multi-channel chips
    (ina3221) pair ``currN`` with ``inN``.
    """
    volts = files.get("in", {})
    for idx, path in volts.items():
        label_file = device / f"in{idx}_label"
        if label_file.exists():
            label = _read_text(label_file).lower()
            if "bus" in label or label in ("vbus", "vin"):
                return path
    if multichannel:
        return volts.get(channel)
    if 0 in volts:
        return volts.get(1)
    if 2 in volts:
        return volts.get(2)
    return volts.get(1)


def _power_resolution_w(device: Path, chip: str, method: str, bus_v: float | None) -> tuple[float, str]:
    """The power LSB in W, and a note on where it came from (it feeds the uncertainty model)."""
    shunt_file = device / "shunt_resistor"
    if chip in _INA_LSB and shunt_file.exists():
        shunt_div, factor = _INA_LSB[chip]
        current_lsb_ua = round(1e9 / shunt_div / max(_read_int(shunt_file), 1))
        if method == "power":
            return factor * current_lsb_ua * 1e-6, f"{chip} power LSB from shunt_resistor"
        volts = bus_v if bus_v is not None else 0.0
        # sysfs reports mA, so the current quantum is at least 1 mA whatever the chip's LSB.
        return max(current_lsb_ua * 1e-6, 1e-3) * volts, f"{chip} V x I: current LSB x bus V"
    if chip in _FIXED_POWER_LSB_W and method == "power":
        return _FIXED_POWER_LSB_W[chip], f"{chip} datasheet power LSB"
    if method == "vxi":
        # sysfs quanta: 1 mA x bus voltage dominates 1 mV x current for a board rail.
        volts = bus_v if bus_v is not None else 0.0
        return 1e-3 * volts, "V x I, sysfs quantum 1 mA x bus V (chip LSB unknown)"
    return 1e-6, "chip LSB unknown: sysfs quantum 1 uW (uncertainty may be understated; pass resolution_w)"


def _scan_device(
    device: Path,
) -> tuple[str, list[tuple[int, str, tuple[Path, ...]]], dict[str, dict[int, Path]]]:
    """List a hwmon device's measurable channels: (index, method, files), best method per index."""
    name = _read_text(device / "name")
    files: dict[str, dict[int, Path]] = {}
    for entry in os.listdir(device):
        m = _CHANNEL_FILE.match(entry)
        if m:
            files.setdefault(m.group(1), {})[int(m.group(2))] = device / entry
    indices = sorted(set(files.get("energy", {})) | set(files.get("power", {})) | set(files.get("curr", {})))
    multichannel = len(set(files.get("curr", {})) | set(files.get("power", {}))) > 1
    channels = []
    for idx in indices:
        if idx in files.get("energy", {}):
            channels.append((idx, "energy", (files["energy"][idx],)))
        elif idx in files.get("power", {}):
            channels.append((idx, "power", (files["power"][idx],)))
        elif idx in files.get("curr", {}):
            bus = _bus_voltage_file(device, idx, files, multichannel)
            if bus is not None:
                channels.append((idx, "vxi", (files["curr"][idx], bus)))
    return name, channels, files


def discover_channels(
    root: Path = DEFAULT_HWMON_ROOT, resolution_w: float | None = None, refresh_s: float | None = None
) -> dict[str, HwmonChannel]:
    """Every readable power/energy channel under ``root``, keyed by rail name.

    A rail is named after the device (``ina226_u79``); multi-channel devices add ``.N``; devices that share
    a name (two plain ``ina226``) add ``@hwmonK`` so that every rail stays addressable.
    """
    root = Path(root)
    if not root.is_dir():
        return {}
    found: list[tuple[str, Path, int, str, tuple[Path, ...], bool]] = []
    for device in sorted(root.iterdir(), key=lambda p: (len(p.name), p.name)):
        if not (device / "name").exists():
            continue
        try:
            name, channels, _ = _scan_device(device)
        except OSError as err:
            log.info("skipping %s: %s", device, err)
            continue
        for idx, method, paths in channels:
            found.append((name, device, idx, method, paths, len(channels) > 1))
    base_names = [n + (f".{i}" if multi else "") for n, _, i, _, _, multi in found]
    result: dict[str, HwmonChannel] = {}
    for base, (name, device, _idx, method, paths, _multi) in zip(base_names, found, strict=True):
        rail_name = base if base_names.count(base) == 1 else f"{base}@{device.name}"
        result[rail_name] = _make_channel(rail_name, name, device, method, paths, resolution_w, refresh_s)
    return result


def _make_channel(
    rail_name: str,
    dev_name: str,
    device: Path,
    method: str,
    paths: tuple[Path, ...],
    resolution_w: float | None,
    refresh_s: float | None,
) -> HwmonChannel:
    interval_file = device / "update_interval"
    if refresh_s is None:
        refresh_s = _read_int(interval_file) * 1e-3 if interval_file.exists() else DEFAULT_REFRESH_S
    refresh_note = "update_interval" if interval_file.exists() else "no update_interval: INA226 default 35 ms"
    chip = _chip_of(dev_name)
    if method == "energy":
        quantity, resolution, note = Quantity.ENERGY, 1e-6, "energy counter, 1 uJ"
    else:
        bus_v = _read_int(paths[1]) * 1e-3 if method == "vxi" else None
        quantity = Quantity.POWER
        resolution, note = _power_resolution_w(device, chip, method, bus_v)
        if resolution_w is not None:
            resolution, note = resolution_w, "resolution given by caller"
    rail = RailInfo(
        rail_name, quantity, resolution, refresh_s, note=f"{device.name} {method}; {note}; {refresh_note}"
    )
    return HwmonChannel(rail=rail, method=method, paths=paths, device=device)


class HwmonSource(PowerSource):
    """Rails read from hwmon sysfs files; each rail is one channel of one device."""

    kind = "hwmon"

    def __init__(
        self,
        rails: tuple[str, ...] = (),
        root: Path | str = DEFAULT_HWMON_ROOT,
        resolution_w: float | None = None,
        refresh_s: float | None = None,
    ) -> None:
        self.root = Path(root)
        channels = discover_channels(self.root, resolution_w, refresh_s)
        if not channels:
            raise PowerSourceUnavailable(hwmon_unavailable_reason(self.root))
        selected = select_rails({k: c.rail for k, c in channels.items()}, rails, f"hwmon ({self.root})")
        self._channels = tuple(channels[r.name] for r in selected)
        super().__init__(f"hwmon:{','.join(r.name for r in selected)}", selected)
        # Open files once: reopening costs more than the read on small ARM cores.
        self._files = [[open(p, "rb", buffering=0) for p in c.paths] for c in self._channels]  # noqa: SIM115

    def _read_values(self) -> tuple[float, ...]:
        out = []
        for chan, fhs in zip(self._channels, self._files, strict=True):
            # pread at offset 0: one system call per attribute, and no shared file offset to race on
            # when a forked sampler and this process both read the same open files.
            raw = [int(os.pread(fh.fileno(), ATTR_BYTES, 0)) for fh in fhs]
            if chan.method == "energy":
                out.append(raw[0] * 1e-6)  # uJ -> J
            elif chan.method == "power":
                out.append(raw[0] * 1e-6)  # uW -> W
            else:
                out.append(raw[0] * raw[1] * 1e-6)  # mA x mV -> W
        return tuple(out)

    def native_files(self) -> tuple[list[int], list[bool]]:
        """For the C sampler loop (``native_sampler``): every rail's open files in order, and whether the
        rail is two of them multiplied (current x bus voltage); the same reads and units as ``_read_values``."""
        fds = [fh.fileno() for fhs in self._files for fh in fhs]
        return fds, [chan.method == "vxi" for chan in self._channels]

    def close(self) -> None:
        for fhs in getattr(self, "_files", []):
            for fh in fhs:
                fh.close()
        self._files = []


def hwmon_unavailable_reason(root: Path) -> str:
    if not root.is_dir():
        return f"{root} does not exist (not Linux, or sysfs not mounted)"
    names = []
    for device in sorted(root.iterdir()):
        try:
            names.append(_read_text(device / "name"))
        except OSError:
            continue
    if not names:
        return f"no hwmon devices under {root}"
    return (
        f"no hwmon device under {root} has energy, power or current+voltage inputs "
        f"(found: {', '.join(sorted(set(names)))}); on a board, check that the ina2xx driver is loaded"
    )


def describe_hwmon(root: Path | str = DEFAULT_HWMON_ROOT) -> list[SourceInfo]:
    """One entry per hwmon power rail, or a single unavailable entry saying why there is none."""
    root = Path(root)
    try:
        channels = discover_channels(root)
    except OSError as err:
        return [SourceInfo("hwmon", "hwmon", False, f"cannot read {root}: {err}")]
    if not channels:
        return [SourceInfo("hwmon", "hwmon", False, hwmon_unavailable_reason(root))]
    infos = []
    for rail_name, chan in channels.items():
        try:
            for p in chan.paths:
                _read_int(p)
            infos.append(SourceInfo("hwmon", f"hwmon:{rail_name}", True, chan.rail.note, (chan.rail,)))
        except (OSError, ValueError) as err:
            infos.append(
                SourceInfo("hwmon", f"hwmon:{rail_name}", False, f"reading {chan.paths[0]} failed: {err}")
            )
    return infos
