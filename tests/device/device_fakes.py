"""A fake ``pynq`` module with pynq's API shape, backed by the emulated device.

What it mimics (pynq 4.0): ``Overlay(path, download=True)`` with ``ip_dict`` entries holding
``phys_addr``, ``addr_range``, ``type`` and ``registers`` (``{name: {"address_offset", "size",
"access"}}``, as parsed from the ``.hwh``); ``allocate(shape, dtype)`` returning arrays with
``device_address`` / ``flush`` / ``invalidate`` / ``freebuffer``; ``MMIO(base, length)`` with
``read(offset)`` / ``write(offset, value)``.  ``no_devices=True`` makes all three raise
``RuntimeError("No Devices Found")`` as pynq does on a machine without a board.

The IPs look like the Vitis HLS export (``hls_layout``): control registers named CTRL / GIER /
IP_IER / IP_ISR, 64-bit arguments as ``<arg>_1`` / ``<arg>_2``, output registers each followed by
an ``ap_vld`` word (so the counters sit at other offsets than in ``regmap``), no cycle counters.
The emulated hardware really uses that layout, so a driver that ignored the .hwh would fail.
"""

from __future__ import annotations

import types
from typing import Any

from e2train.device import EmulatedDevice
from e2train.kernels.regmap import RegisterMap
from e2train.kernels.spec import KERNELS

BASES = {"gemm": 0x4000_0000, "psg_wgrad": 0x4001_0000}
RANGE = 0x1_0000
HLS_CONTROL = {"CTRL": "CTRL", "GIE": "GIER", "IER": "IP_IER", "ISR": "IP_ISR"}


def hls_layout(kernel: str) -> tuple[RegisterMap, dict[str, dict[str, Any]]]:
    """The HLS IP's register map (regmap names) and its .hwh ``registers`` dict (HLS names)."""
    hls_map = KERNELS[kernel].hls_registers  # STATUS at 0x80, the rest each followed by an ap_vld word
    hwh: dict[str, dict[str, Any]] = {}
    for reg in hls_map.registers:
        offset = reg.offset
        access = "read-only" if reg.read_only else "read-write"
        if reg.name in HLS_CONTROL:
            hwh[HLS_CONTROL[reg.name]] = {"address_offset": offset, "size": 32, "access": access}
        elif reg.width_bits == 64:
            hwh[f"{reg.name.lower()}_1"] = {"address_offset": offset, "size": 32, "access": access}
            hwh[f"{reg.name.lower()}_2"] = {"address_offset": offset + 4, "size": 32, "access": access}
        else:
            hwh[reg.name.lower()] = {"address_offset": offset, "size": 32, "access": access}
        if reg.read_only:
            hwh[f"{reg.name.lower()}_ctrl"] = {
                "address_offset": offset + reg.width_bits // 8,
                "size": 32,
                "access": "read-only",
            }
    return hls_map, hwh


class FakeBoard:
    """The 'hardware' behind the fake pynq: an emulated device with the HLS register layout."""

    def __init__(self, *, with_registers: bool = True, no_devices: bool = False, hwh_registers: bool = True) -> None:
        """``with_registers=False``: IPs with the RTL's register map and none in the .hwh (packaged RTL);
        ``hwh_registers=False``: HLS IPs whose .hwh lists no registers (a partial Vitis export)."""
        maps = {k: hls_layout(k)[0] for k in BASES} if with_registers else {}
        self.device = EmulatedDevice(memory_bytes=8 << 20, register_maps=maps)
        self.with_registers = with_registers and hwh_registers
        self.no_devices = no_devices
        self.overlays: list[str] = []
        self.mmio_accesses = 0

    def ip_dict(self) -> dict[str, dict[str, Any]]:
        out = {}
        for kernel, base in BASES.items():
            entry: dict[str, Any] = {
                "phys_addr": base,
                "addr_range": RANGE,
                "type": f"e2train.org:hls:{kernel}:1.0",
            }
            if self.with_registers:
                entry["registers"] = hls_layout(kernel)[1]
            out[f"{kernel}_0"] = entry
        return out

    def module(self) -> types.ModuleType:
        """A module object with pynq's API, to pass as ``pynq=`` or put in ``sys.modules``."""
        board = self
        mod = types.ModuleType("pynq")

        def check() -> None:
            if board.no_devices:
                raise RuntimeError("No Devices Found")

        class Overlay:
            def __init__(self, path: str, download: bool = True) -> None:
                check()
                board.overlays.append(path)
                self.ip_dict = board.ip_dict()

        class MMIO:
            def __init__(self, base: int, length: int) -> None:
                check()
                self.kernel = next(k for k, b in BASES.items() if b == base)
                self.length = length

            def read(self, offset: int) -> int:
                assert 0 <= offset < self.length and offset % 4 == 0
                board.mmio_accesses += 1
                return board.device._read_word(self.kernel, offset)

            def write(self, offset: int, value: int) -> None:
                assert 0 <= offset < self.length and offset % 4 == 0 and 0 <= value < 2**32
                board.mmio_accesses += 1
                board.device._write_word(self.kernel, offset, value)

        def allocate(shape: Any, dtype: Any = "u1", **_: Any) -> Any:
            check()
            return board.device.allocate(shape, dtype)

        mod.Overlay = Overlay  # type: ignore[attr-defined]
        mod.MMIO = MMIO  # type: ignore[attr-defined]
        mod.allocate = allocate  # type: ignore[attr-defined]
        return mod
