"""A PYNQ board as a device: overlay from ``bitstreams/``, registers through MMIO, buffers from
``pynq.allocate``.

Why the care around pynq: it is an optional extra (it pins ``numpy<2``) and on any machine that
is not a board it either is not installed or raises ``RuntimeError: No Devices Found`` from
``Overlay`` / ``allocate`` / ``MMIO``.  Both become a ``NoBoardError`` that says what to do.

Register offsets: the overlay's ``.hwh`` describes each IP's registers
(``ol.ip_dict[ip]["registers"]``); where it does, the offsets come from there, never from
literals.  Vitis HLS names a 64-bit argument's words ``<arg>_1`` / ``<arg>_2`` and the control
block ``CTRL`` / ``GIER`` / ``IP_IER`` / ``IP_ISR``, and places its output registers (the counters)
differently from ``regmap`` (an ``ap_vld`` word follows each): ``map_from_hwh`` translates.  An
IP without registers in its ``.hwh`` uses the map of its build source as the manifest records it:
``KernelSpec.registers`` for packaged RTL, ``KernelSpec.hls_registers`` for Vitis HLS.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from e2train.device.base import Buffer, Device, DeviceError, KernelLimits, NoBoardError, UnknownKernelError
from e2train.device.manifest import Manifest, ManifestError, bitstreams_root, detect_board, load_manifest
from e2train.kernels.regmap import Register, RegisterMap
from e2train.kernels.spec import KERNELS

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install the pynq extra on the board (pip install 'e2train[pynq]', which installs pynq and pandas "
    "together), or use --backend emulate (in-process) or --backend rtl (the Verilog in a simulator)"
)
_CONTROL_ALIASES = {
    "CTRL": ("CTRL", "AP_CTRL", "CONTROL"),
    "GIE": ("GIE", "GIER"),
    "IER": ("IER", "IP_IER"),
    "ISR": ("ISR", "IP_ISR"),
}


def import_pynq() -> ModuleType:
    """``import pynq``, or ``NoBoardError`` naming the fix."""
    try:
        import pynq
    except ImportError as err:
        raise NoBoardError(f"no PYNQ board found: pynq is not installed ({err}); {INSTALL_HINT}") from err
    except Exception as err:  # pynq's import probes the board; anything failing there means "no board"
        raise NoBoardError(
            f"no PYNQ board found: importing pynq failed ({type(err).__name__}: {err}); {INSTALL_HINT}"
        ) from err
    return pynq


def _no_devices(err: BaseException) -> bool:
    return isinstance(err, RuntimeError) and "no devices found" in str(err).lower()


def map_from_hwh(kernel: str, hwh_registers: dict[str, Any], ip: str = "") -> RegisterMap:
    """The register map of ``kernel`` with offsets (and word counts) from an IP's .hwh registers.

    Read-only registers the IP lacks (an HLS IP has no cycle counters) are left out; a writable
    one it lacks is an error, since the driver could not program the kernel.
    """
    canonical = KERNELS[kernel].registers
    by_name = {str(name).upper(): info for name, info in hwh_registers.items()}

    def offset_of(name: str) -> int | None:
        info = by_name.get(name.upper())
        return None if info is None else int(info["address_offset"])

    def size_of(name: str) -> int:
        return int(by_name[name.upper()].get("size", 32))

    registers = []
    for reg in canonical.registers:
        names = _CONTROL_ALIASES.get(reg.name, (reg.name,))
        found: Register | None = None
        for name in names:
            off = offset_of(name)
            if off is not None:
                width = 64 if reg.width_bits == 64 and size_of(name) >= 64 else 32
                found = Register(reg.name, off, width, reg.read_only, reg.doc)
                break
            low, high = offset_of(f"{name}_1"), offset_of(f"{name}_2")
            if low is not None:
                width = 64 if reg.width_bits == 64 and high == low + 4 else 32
                found = Register(reg.name, low, width, reg.read_only, reg.doc)
                break
        if found is None:
            if reg.read_only:
                log.info(
                    "%s %s: no %s register in the .hwh; it is left out of the counters", kernel, ip, reg.name
                )
                continue
            raise DeviceError(
                f"{kernel} IP {ip!r}: the .hwh has no register for {reg.name} (it has: {', '.join(hwh_registers)}); "
                "the overlay's kernel does not match this driver's register map"
            )
        if found.width_bits < reg.width_bits:
            log.warning(
                "%s %s: %s is %d bits on this IP (register map: %d); larger values are refused",
                kernel,
                ip,
                reg.name,
                found.width_bits,
                reg.width_bits,
            )
        registers.append(found)
    return RegisterMap(kernel, tuple(registers))


def fallback_map(kernel: str, ip: str, source: str | None) -> RegisterMap:
    """The map of an IP whose .hwh lists no registers (a partial .hwh): the manifest's build source
    decides, since the HLS IP places its counters elsewhere than the RTL (``regmap``)."""
    if source == "hls":
        return KERNELS[kernel].hls_registers
    if source not in (None, "rtl"):
        raise ManifestError(f"{kernel} IP {ip!r}: manifest source {source!r} is neither 'hls' nor 'rtl'")
    if source is None:
        log.warning("%s IP %s: no registers in the .hwh and no manifest: assuming the packaged RTL's "
                    "register map (an HLS IP's counters sit elsewhere)", kernel, ip)
    return KERNELS[kernel].registers


class PynqDevice(Device):
    """The overlay's kernels on a PYNQ board.

    ``bitstream`` names a ``.bit`` (its manifest is the ``.json`` beside it); otherwise the overlay is
    ``bitstreams/<board>/<overlay>.bit`` with ``board`` from the argument or the image's ``$BOARD``.
    ``require_manifest=False`` accepts a bare ``.bit`` + ``.hwh`` (logged: nothing is verified then).
    ``pynq`` injects a module with pynq's API (tests use a fake backed by the emulation).
    """

    kind = "pynq"

    def __init__(
        self,
        bitstream: Path | str | None = None,
        *,
        board: str | None = None,
        overlay: str = "e2train",
        bitstreams_dir: Path | None = None,
        require_manifest: bool = True,
        download: bool = True,
        power_rails: tuple[str, ...] = (),
        pynq: ModuleType | None = None,
    ) -> None:
        # pynq first: on a machine without a board that is the error that matters
        self._pynq = pynq or import_pynq()
        self.manifest = self._find_manifest(bitstream, board, overlay, bitstreams_dir, require_manifest)
        bit = Path(bitstream) if bitstream is not None else self.manifest.bitstream  # type: ignore[union-attr]
        super().__init__(f"pynq:{bit.stem}")
        try:
            self.overlay = self._pynq.Overlay(str(bit), download=download)
        except Exception as err:
            if _no_devices(err):
                raise NoBoardError(f"no PYNQ board found: pynq says {err!r}; {INSTALL_HINT}") from err
            raise
        self._ips: dict[str, str] = {}
        self._maps: dict[str, RegisterMap] = {}
        self._mmio: dict[str, Any] = {}
        self._limits: dict[str, KernelLimits] = {}
        self._resolve_kernels()
        self._power_rails = power_rails
        self._power: Any = None
        self._power_reason: str | None = None

    @staticmethod
    def _find_manifest(
        bitstream: Path | str | None, board: str | None, overlay: str, root: Path | None, required: bool
    ) -> Manifest | None:
        if bitstream is not None:
            path = Path(bitstream).with_suffix(".json")
        else:
            board = board or detect_board()
            if board is None:
                raise NoBoardError(
                    "no PYNQ board found: $BOARD is not set (a PYNQ image sets it) and no board= was given; "
                    f"{INSTALL_HINT}"
                )
            path = (root or bitstreams_root()) / board / f"{overlay}.json"
        if path.is_file() or required:
            return load_manifest(path)
        log.warning("%s: no manifest beside the bitstream; its build and integrity are unverified", bitstream)
        return None

    def _resolve_kernels(self) -> None:
        ip_dict: dict[str, Any] = dict(self.overlay.ip_dict)
        wanted = self.manifest.kernels if self.manifest else {}
        for kernel in KERNELS:
            entry = wanted.get(kernel)
            ip = self._find_ip(kernel, ip_dict, entry.ip if entry is not None else None)
            if ip is None:
                if kernel in wanted:
                    raise ManifestError(
                        f"the manifest names IP {wanted[kernel].ip!r} for {kernel}, but the overlay has "
                        f"{', '.join(ip_dict) or 'no IP'}: the .hwh and the manifest disagree"
                    )
                continue
            info = ip_dict[ip]
            hwh_regs = info.get("registers") or {}
            source = entry.source if entry is not None else None
            self._maps[kernel] = map_from_hwh(kernel, hwh_regs, ip) if hwh_regs else fallback_map(kernel, ip, source)
            self._mmio[kernel] = self._pynq.MMIO(int(info["phys_addr"]), int(info["addr_range"]))
            self._ips[kernel] = ip
            self._limits[kernel] = wanted[kernel].limits if kernel in wanted else KernelLimits()
            log.info(
                "%s: %s at %#x (%s offsets)",
                self.name,
                kernel,
                int(info["phys_addr"]),
                ".hwh" if hwh_regs else "regmap",
            )

    @staticmethod
    def _find_ip(kernel: str, ip_dict: dict[str, Any], named: str | None) -> str | None:
        if named is not None:
            for key in ip_dict:
                if key == named or key.endswith("/" + named):
                    return key
            return None
        matches = [key for key in ip_dict if kernel in key.split("/")[-1].lower()]
        return matches[0] if len(matches) == 1 else None

    # Device interface -------------------------------------------------------------------------
    @property
    def kernel_names(self) -> tuple[str, ...]:
        return tuple(self._maps)

    def register_map(self, kernel: str) -> RegisterMap:
        if kernel not in self._maps:
            raise UnknownKernelError(f"{self.name} has no kernel {kernel!r}")
        return self._maps[kernel]

    def limits(self, kernel: str) -> KernelLimits:
        return self._limits.get(kernel, KernelLimits())

    def allocate(self, shape: int | tuple[int, ...], dtype: Any = np.uint8) -> Buffer:
        try:
            return self._pynq.allocate(shape, dtype)  # type: ignore[no-any-return]
        except Exception as err:
            if _no_devices(err):
                raise NoBoardError(f"no PYNQ board found: {err!r}; {INSTALL_HINT}") from err
            raise

    def _read_word(self, kernel: str, offset: int) -> int:
        return int(self._mmio[kernel].read(offset)) & 0xFFFFFFFF

    def _write_word(self, kernel: str, offset: int, value: int) -> None:
        self._mmio[kernel].write(offset, int(value))

    @property
    def clock_mhz(self) -> float | None:
        return self.manifest.clock_mhz if self.manifest else None

    def _open_power(self) -> None:
        if self._power is not None or self._power_reason is not None:
            return
        from e2train.power.base import PowerSourceError

        try:
            from e2train.power.pynq_rails import PynqSource

            self._power = PynqSource(self._power_rails)
        except PowerSourceError as err:
            board = self.manifest.board if self.manifest else "this board"
            self._power_reason = (
                f"{board}: {err} (PYNQ-Z1/Z2 and ZedBoard have no PS-readable rails: use an external meter)"
            )

    @property
    def power_source(self) -> Any:
        self._open_power()
        return self._power

    @property
    def power_unavailable_reason(self) -> str:
        self._open_power()
        return self._power_reason or ""

    def close(self) -> None:
        self._mmio.clear()
