"""The PYNQ-shaped device interface that every kernel driver is written against, once.

Why an interface: the same driver code must run a kernel on a board (``pynq``), in the RTL
simulator (cocotb) and in an in-process emulation.  What a driver needs from any of them is small
and PYNQ already named it: device memory that the host sees as a numpy array with a physical
address and explicit cache maintenance (``allocate``, ``flush``, ``invalidate``), a kernel's
registers by offset (``ip.read`` / ``ip.write``), and a way to start a run and wait for
``ap_done``.  This module adds what PYNQ leaves out: registers by *name* from the one register map
(``e2train.kernels.regmap``, 64-bit registers as two words, low word first), a wait that always
has a timeout and raises ``DeviceTimeout`` instead of hanging, and an explicit "no power source,
because ..." instead of a silent zero.

Implementations: ``EmulatedDevice`` (in-process, executes the Python reference), ``PynqDevice``
(a board through pynq), ``CocotbDevice`` (the Verilog RTL in cocotb).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from e2train.errors import E2TrainError
from e2train.kernels import regmap
from e2train.kernels.regmap import RegisterMap

if TYPE_CHECKING:  # typing.Self is 3.11+; the package supports 3.10
    from typing import Self

    from e2train.power.base import PowerSource

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
WORD_MASK = regmap.WORD_MASK  # kept under its old name here


# ---------------------------------------------------------------------------------------------
# Errors: small domain exceptions whose messages say what to do next
# ---------------------------------------------------------------------------------------------


class DeviceError(E2TrainError, RuntimeError):
    """Base class of the device layer's errors."""


class DeviceTimeout(DeviceError, TimeoutError):
    """A kernel did not raise ap_done in time: a hang, or a problem too large for the timeout."""

    def __init__(self, kernel: str, timeout_s: float, ctrl: int | None, device: str = "",
                 cycles: int | None = None) -> None:
        state = "CTRL unreadable" if ctrl is None else f"CTRL={ctrl:#x} ({describe_ctrl(ctrl)})"
        where = f" on {device}" if device else ""
        limit = f"{cycles:,} simulated cycles" if cycles is not None else f"{timeout_s:g} s"
        super().__init__(
            f"kernel {kernel!r}{where} did not finish within {limit} ({state}); the kernel may "
            "be hung (check the bitstream / RTL, reset the device) or the problem needs a longer "
            "timeout (timeout_s=...)"
        )
        self.kernel = kernel
        self.timeout_s = timeout_s
        self.ctrl = ctrl
        self.device = device
        self.cycles = cycles

    def __reduce__(self) -> tuple[Any, ...]:  # crosses the simulator's process boundary
        return (type(self), (self.kernel, self.timeout_s, self.ctrl, self.device, self.cycles))


class DeviceBusy(DeviceError):
    """``start`` was called while the kernel is still running a previous job."""


class NoBoardError(DeviceError):
    """No PYNQ board is reachable from this machine (pynq missing, or no device found)."""


class DeviceMemoryError(DeviceError, MemoryError):
    """Device memory is exhausted, or a kernel was pointed outside it."""


class UnknownKernelError(DeviceError, KeyError):
    """The device has no kernel of that name (e.g. an overlay built without it)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def describe_ctrl(ctrl: int) -> str:
    """Human-readable bits of the control register (ap_ctrl_hs)."""
    names = [
        (regmap.AP_START, "ap_start"),
        (regmap.AP_DONE, "ap_done"),
        (regmap.AP_IDLE, "ap_idle"),
        (regmap.AP_READY, "ap_ready"),
        (regmap.AUTO_RESTART, "auto_restart"),
    ]
    bits = [name for bit, name in names if ctrl & bit]
    return ", ".join(bits) if bits else "no bit set: running"


# ---------------------------------------------------------------------------------------------
# Buffers and limits
# ---------------------------------------------------------------------------------------------


@runtime_checkable
class Buffer(Protocol):
    """What ``Device.allocate`` returns: a numpy array (``pynq.buffer.PynqBuffer`` on a board)
    whose views keep the matching ``device_address``, with explicit cache maintenance.

    ``flush()`` before the device reads what the host wrote; ``invalidate()`` before the host reads
    what the device wrote.  On a cache-coherent device both are no-ops, but a driver calls them
    anyway: the emulation can be told to be non-coherent to catch a missing call.
    """

    @property
    def device_address(self) -> Any: ...  # int; a PynqBuffer view's attribute

    @property
    def nbytes(self) -> int: ...

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype[Any]: ...

    def flush(self) -> None: ...

    def invalidate(self) -> None: ...


@dataclass(frozen=True)
class KernelLimits:
    """Largest problem one kernel run accepts (drivers tile anything bigger).

    Defaults are the register map's; a build with other limits (or a test that wants tiling on
    small operands) passes its own.
    """

    max_dim: int = regmap.MAX_DIM
    max_p: int = regmap.MAX_P

    def __post_init__(self) -> None:
        if self.max_dim < 1 or self.max_p < 1:
            raise ValueError(f"kernel limits must be >= 1, got {self}")


# ---------------------------------------------------------------------------------------------
# Kernel handle: registers by name, start, wait
# ---------------------------------------------------------------------------------------------


class KernelHandle:
    """One kernel's control registers on one device, addressed by name.

    Register *offsets* come from the handle's register map: ``regmap`` by default, the overlay's
    ``.hwh`` on a board whose IP lays them out differently.  A register the map lacks (an HLS IP
    has no cycle counters) raises ``KeyError`` on access and is left out of ``counters()``.
    """

    def __init__(self, device: Device, name: str, register_map: RegisterMap) -> None:
        self.device = device
        self.name = name
        self.map = register_map

    def __repr__(self) -> str:
        return f"KernelHandle({self.name!r} on {self.device.name})"

    # registers --------------------------------------------------------------------------------
    def write(self, reg_name: str, value: int) -> None:
        """Write a register; a 64-bit one as two words, low word first (as Vitis HLS lays it out)."""
        reg = self.map[reg_name]
        if reg.read_only:
            raise ValueError(f"{self.name}.{reg_name} is read-only")
        ivalue = int(value)
        if ivalue != value or not 0 <= ivalue < 1 << reg.width_bits:
            raise ValueError(
                f"{self.name}.{reg_name}={value!r} does not fit its {reg.width_bits}-bit register"
            )
        for offset, word in zip(reg.word_offsets, reg.split(ivalue), strict=True):
            self.device._write_word(self.name, offset, word)

    def read(self, reg_name: str) -> int:
        """Read a register; a 64-bit one from its two words, low word first."""
        reg = self.map[reg_name]
        return reg.join(self.device._read_word(self.name, offset) for offset in reg.word_offsets)

    def write_many(self, values: dict[str, int] | Iterable[tuple[str, int]]) -> None:
        items = values.items() if isinstance(values, dict) else values
        for reg_name, value in items:
            self.write(reg_name, value)

    def counters(self) -> dict[str, int]:
        """Every read-only register the map has (STATUS and the performance counters)."""
        counters = {reg.name: self.read(reg.name) for reg in self.map.registers if reg.read_only}
        self.device._after_counters(self, counters)
        return counters

    # run control ------------------------------------------------------------------------------
    def start(self) -> None:
        """Set ap_start; refuses (``DeviceBusy``) while a previous run has not finished."""
        ctrl = self.read("CTRL")  # also clears a stale ap_done of a run nobody waited for
        if not ctrl & regmap.AP_IDLE:
            raise DeviceBusy(
                f"kernel {self.name!r} on {self.device.name} is busy (CTRL={ctrl:#x}: {describe_ctrl(ctrl)}); "
                "wait() for the previous run, or reset the device if it hung"
            )
        self.write("CTRL", regmap.AP_START)

    def wait(self, timeout_s: float = DEFAULT_TIMEOUT_S, budget_cycles: int | None = None) -> int:
        """Block until ap_done (or raise ``DeviceTimeout``); return the CTRL value that showed it.

        ap_done is clear-on-read, so exactly one reader sees it: this one.  How the device waits
        is its own business (``Device._wait_done``): a board polls MMIO, the simulator advances
        simulated time between polls.
        """
        return self.device._wait_done(self, timeout_s, budget_cycles)

    def run(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> dict[str, int]:
        """``start`` + ``wait`` + ``counters``: the common case."""
        self.start()
        self.wait(timeout_s)
        return self.counters()


# ---------------------------------------------------------------------------------------------
# Device
# ---------------------------------------------------------------------------------------------


class Device(ABC):
    """A place where kernels run: memory, kernels' registers, and (perhaps) a power source.

    Subclasses implement word access (``_read_word`` / ``_write_word``), ``allocate`` and the
    register map of each kernel; the base class builds name-addressed ``KernelHandle`` objects.
    """

    #: short name used in messages and by ``open_device`` ("emulate", "pynq", "rtl")
    kind: str = "abstract"

    def __init__(self, name: str) -> None:
        self.name = name
        self._handles: dict[str, KernelHandle] = {}

    # what subclasses provide -------------------------------------------------------------------
    @property
    @abstractmethod
    def kernel_names(self) -> tuple[str, ...]:
        """Kernels this device has (an overlay may carry only some)."""

    @abstractmethod
    def register_map(self, kernel: str) -> RegisterMap:
        """The register layout of ``kernel`` on this device."""

    @abstractmethod
    def allocate(self, shape: int | tuple[int, ...], dtype: Any = np.uint8) -> Buffer:
        """Device memory as a numpy array with ``device_address``, ``flush`` and ``invalidate``."""

    @abstractmethod
    def _read_word(self, kernel: str, offset: int) -> int:
        """Read one 32-bit word of a kernel's register block."""

    @abstractmethod
    def _write_word(self, kernel: str, offset: int, value: int) -> None:
        """Write one 32-bit word of a kernel's register block."""

    # shared behaviour --------------------------------------------------------------------------
    def _wait_done(self, handle: KernelHandle, timeout_s: float, budget_cycles: int | None = None) -> int:
        """Poll CTRL until ap_done, backing off from busy reads to 1 ms sleeps (a board: wall-clock
        time is its time, so ``budget_cycles`` does not apply).

        A board's MMIO read takes about a microsecond and short runs finish in microseconds, so the
        first polls do not sleep; a long run then does not burn a CPU core.
        """
        deadline = time.monotonic() + timeout_s
        sleep_s = 0.0
        polls = 0
        while True:
            ctrl = handle.read("CTRL")
            if ctrl & regmap.AP_DONE:
                return ctrl
            if ctrl & regmap.AP_IDLE and not ctrl & regmap.AP_START:
                # Idle, nothing pending, no ap_done: no run was started, or another reader of CTRL
                # consumed ap_done (clear-on-read).  Waiting longer cannot help.
                raise DeviceError(
                    f"{handle}: kernel is idle with no run pending and no ap_done (CTRL={ctrl:#x}): call "
                    "start() before wait(), and let nothing else read CTRL in between"
                )
            if time.monotonic() >= deadline:
                raise DeviceTimeout(handle.name, timeout_s, ctrl, self.name)
            polls += 1
            if polls > 64:
                sleep_s = min(1e-3, max(1e-5, 2 * sleep_s))
                time.sleep(sleep_s)

    def _after_counters(self, handle: KernelHandle, counters: dict[str, int]) -> None:
        """Hook: a device that models power from counters records the run here."""

    def timeout_for(self, macs: int) -> float:
        """A generous wall-clock timeout for a run of ``macs`` MACs on this device."""
        return DEFAULT_TIMEOUT_S + macs / 1e8

    def cycle_budget(self, macs: int) -> int | None:
        """Simulated cycles after which a run of ``macs`` MACs counts as hung; None where time is real."""
        return None

    def kernel(self, name: str) -> KernelHandle:
        """The handle of one kernel, by its name in ``e2train.kernels.spec.KERNELS`` ("gemm", "psg_wgrad")."""
        if name not in self.kernel_names:
            raise UnknownKernelError(
                f"{self.name} has no kernel {name!r}; it has: {', '.join(self.kernel_names) or 'none'}"
            )
        handle = self._handles.get(name)
        if handle is None:
            handle = self._handles[name] = KernelHandle(self, name, self.register_map(name))
        return handle

    def limits(self, kernel: str) -> KernelLimits:
        """Largest problem one run of ``kernel`` accepts (the register map's unless overridden)."""
        return KernelLimits()

    @property
    def power_source(self) -> PowerSource | None:
        """A power source for this device's rails, or None (then ``power_unavailable_reason`` says why)."""
        return None

    @property
    def power_unavailable_reason(self) -> str:
        return "" if self.power_source is not None else f"{self.kind} devices have no power source"

    @property
    def memory_budget_bytes(self) -> int | None:
        """Device memory a driver may use for one tile's operands (None: no known limit)."""
        return None

    def close(self) -> None:
        """Release the device (safe to call twice)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, kernels={self.kernel_names})"
