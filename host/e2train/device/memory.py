"""Device memory for the devices that are not a board: an address space, an allocator, and
buffers that behave like ``pynq.buffer.PynqBuffer``.

Why a separate host mirror: on a Zynq the buffers ``pynq.allocate`` returns are cached, so data the
host wrote reaches DDR only after ``flush()`` and data the kernel wrote is seen only after
``invalidate()``.  A driver that forgets one of them works by luck on a coherent machine and
fails on the board.  Here the host's array (the mirror) and device memory are distinct bytes
unless the device is built coherent, and ``flush`` / ``invalidate`` copy between them, so a
missing call shows up as stale data in a unit test.

Addresses start at a non-zero base (``DEFAULT_BASE``, like a CMA region in DDR) so that a driver
that passes an offset where an address belongs fails too.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import threading
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import numpy as np

from e2train.device.base import Device, DeviceMemoryError

if TYPE_CHECKING:  # typing.Self is 3.11+; the package supports 3.10
    from typing import Self

    from e2train.power.simulated_rails import SimulatedRails

log = logging.getLogger(__name__)

DEFAULT_BASE = 0x1000_0000
ALLOC_ALIGN = 64  # bytes; >= regmap.ADDRESS_ALIGN, and a cache line


def _byte_bounds(array: np.ndarray) -> tuple[int, int]:
    """First and one-past-last byte address a (possibly strided) array touches."""
    try:
        from numpy.lib.array_utils import byte_bounds  # numpy >= 2.0
    except ImportError:  # pragma: no cover - numpy 1.x
        byte_bounds = np.byte_bounds  # type: ignore[attr-defined]
    low, high = byte_bounds(array)
    return int(low), int(high)


class Allocator:
    """First-fit allocator over ``[base, base + size)`` with aligned, coalescing free blocks."""

    def __init__(self, base: int, size: int, align: int = ALLOC_ALIGN) -> None:
        if base % align:
            raise ValueError(f"base {base:#x} is not a multiple of {align}")
        self.base = base
        self.size = size
        self.align = align
        self._free: list[tuple[int, int]] = [(base, size)]  # sorted (start, length)
        self._used: dict[int, int] = {}
        self._lock = threading.Lock()

    @property
    def bytes_in_use(self) -> int:
        return sum(self._used.values())

    @property
    def largest_free(self) -> int:
        return max((length for _, length in self._free), default=0)

    def alloc(self, nbytes: int) -> int:
        length = -(-max(nbytes, 1) // self.align) * self.align
        with self._lock:
            for i, (start, free_len) in enumerate(self._free):
                if free_len >= length:
                    if free_len == length:
                        del self._free[i]
                    else:
                        self._free[i] = (start + length, free_len - length)
                    self._used[start] = length
                    return start
        raise DeviceMemoryError(
            f"device memory exhausted: {nbytes} bytes requested, {self.size - self.bytes_in_use} of "
            f"{self.size} free (largest block {self.largest_free}); free buffers you no longer need or "
            "create the device with a larger memory_bytes"
        )

    def free(self, address: int) -> None:
        with self._lock:
            length = self._used.pop(address, None)
            if length is None:
                raise DeviceMemoryError(f"free of {address:#x}, which is not an allocated block")
            i = bisect.bisect_left(self._free, (address, 0))
            self._free.insert(i, (address, length))
            # coalesce with the neighbours
            if i + 1 < len(self._free) and address + length == self._free[i + 1][0]:
                self._free[i] = (address, length + self._free.pop(i + 1)[1])
            if i > 0 and self._free[i - 1][0] + self._free[i - 1][1] == address:
                prev_start, prev_len = self._free[i - 1]
                self._free[i - 1] = (prev_start, prev_len + self._free.pop(i)[1])


class MirroredMemory(ABC):
    """Host mirror (numpy) + device memory (subclass) + allocator, handing out ``MirrorBuffer``s."""

    def __init__(self, size: int, base: int = DEFAULT_BASE, coherent: bool = False) -> None:
        self.size = size
        self.base = base
        self.coherent = coherent
        self.allocator = Allocator(base, size)
        self.host = np.zeros(size, dtype=np.uint8)  # zero pages are mapped lazily by the OS
        self.flushes = 0
        self.invalidates = 0

    # device side ------------------------------------------------------------------------------
    @abstractmethod
    def device_read(self, address: int, nbytes: int) -> np.ndarray:
        """Bytes of device memory (what the kernel sees), as a uint8 array."""

    @abstractmethod
    def device_write(self, address: int, data: np.ndarray | bytes) -> None:
        """Write device memory (what the kernel does)."""

    def in_mirror(self, virtual_address: int) -> bool:
        """Whether host memory at ``virtual_address`` lies in the mirror (ufunc results do not)."""
        host0 = self.host.ctypes.data
        return host0 <= virtual_address < host0 + self.size

    def contains(self, address: int, nbytes: int) -> bool:
        return self.base <= address and address + nbytes <= self.base + self.size

    # host side --------------------------------------------------------------------------------
    def allocate(self, shape: int | tuple[int, ...], dtype: Any = np.uint8) -> MirrorBuffer:
        shape_t = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
        dt = np.dtype(dtype)
        nbytes = int(np.prod(shape_t, dtype=np.int64)) * dt.itemsize
        address = self.allocator.alloc(nbytes)
        offset = address - self.base
        buf = np.ndarray.__new__(MirrorBuffer, shape_t, dt, buffer=self.host, offset=offset)
        buf._init_base(self, address)
        return buf

    def _span(self, buf: MirrorBuffer) -> tuple[int, int]:
        low, high = _byte_bounds(buf)
        host0 = self.host.ctypes.data
        return low - host0, high - host0

    def flush(self, buf: MirrorBuffer) -> None:
        self.flushes += 1
        if self.coherent:
            return
        lo, hi = self._span(buf)
        if hi > lo:
            self.device_write(self.base + lo, self.host[lo:hi])

    def invalidate(self, buf: MirrorBuffer) -> None:
        self.invalidates += 1
        if self.coherent:
            return
        lo, hi = self._span(buf)
        if hi > lo:
            self.host[lo:hi] = self.device_read(self.base + lo, hi - lo)


class ArrayMemory(MirroredMemory):
    """Device memory as a second numpy array (or the mirror itself when coherent)."""

    def __init__(self, size: int, base: int = DEFAULT_BASE, coherent: bool = False) -> None:
        super().__init__(size, base, coherent)
        self.dev = self.host if coherent else np.zeros(size, dtype=np.uint8)

    def _offset(self, address: int, nbytes: int) -> int:
        if not self.contains(address, nbytes):
            raise DeviceMemoryError(
                f"access of {nbytes} bytes at {address:#x} lies outside device memory "
                f"[{self.base:#x}, {self.base + self.size:#x})"
            )
        return address - self.base

    def device_read(self, address: int, nbytes: int) -> np.ndarray:
        off = self._offset(address, nbytes)
        return self.dev[off : off + nbytes].copy()

    def device_write(self, address: int, data: np.ndarray | bytes) -> None:
        raw = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray)) else data
        raw = np.ascontiguousarray(raw).reshape(-1).view(np.uint8)
        off = self._offset(address, raw.size)
        self.dev[off : off + raw.size] = raw


class MirrorBuffer(np.ndarray):
    """A numpy array in the host mirror, shaped like ``pynq.buffer.PynqBuffer``.

    Views (slices, ``.view(dtype)``, ``reshape``) keep ``device_address`` pointing at their own
    first byte, exactly as PynqBuffer's views do, so a driver may hand out sub-buffers of a pool.
    """

    _memory: MirroredMemory | None
    device_address: Any  # int; None for an array that is not device memory (as in PynqBuffer)
    _owner_address: int | None

    def _init_base(self, memory: MirroredMemory, address: int) -> None:
        self._memory = memory
        self.device_address = address
        self._owner_address = address  # only the allocation itself may free

    def __array_finalize__(self, obj: Any) -> None:
        memory = getattr(obj, "_memory", None)
        self._owner_address = None
        if (
            isinstance(obj, MirrorBuffer)
            and memory is not None
            and obj.device_address is not None
            and memory.in_mirror(self.virtual_address)
        ):
            self._memory = memory
            self.device_address = obj.device_address + (self.virtual_address - obj.virtual_address)
        else:  # e.g. the result of arithmetic: an ordinary array that happens to be this type
            self._memory = None
            self.device_address = None

    @property
    def virtual_address(self) -> int:
        return int(self.__array_interface__["data"][0])

    @property
    def physical_address(self) -> int | None:
        return self.device_address

    @property
    def coherent(self) -> bool:
        return self._memory is not None and self._memory.coherent

    def _require_memory(self) -> MirroredMemory:
        if self._memory is None:
            raise DeviceMemoryError("this array is not (a view of) device memory: flush/invalidate need one")
        return self._memory

    def flush(self) -> None:
        """Make what the host wrote visible to the device."""
        self._require_memory().flush(self)

    def invalidate(self) -> None:
        """Make what the device wrote visible to the host."""
        self._require_memory().invalidate(self)

    def freebuffer(self) -> None:
        """Return the allocation to the device (only the allocated array itself, not a view)."""
        if self._owner_address is not None and self._memory is not None:
            self._memory.allocator.free(self._owner_address)
            self._owner_address = None

    close = freebuffer

    def __del__(self) -> None:
        # PynqBuffer frees on garbage collection too; views keep the allocation alive via .base.
        with contextlib.suppress(DeviceMemoryError, AttributeError, TypeError):  # e.g. at interpreter exit
            self.freebuffer()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.freebuffer()

    def __reduce__(self) -> Any:  # pickling gives a plain array: an address means nothing elsewhere
        return np.asarray(self).copy().__reduce__()


class MirroredMemoryDevice(Device):
    """A device whose memory is a ``MirroredMemory`` in this process (the emulation, the cocotb
    RTL) and whose power source, if any, is ``rails`` (simulated rails, or None)."""

    memory: MirroredMemory
    rails: SimulatedRails | None
    description = "simulated"  # "the <description> device was created with rails=False"

    def allocate(self, shape: int | tuple[int, ...], dtype: Any = np.uint8) -> MirrorBuffer:
        return self.memory.allocate(shape, dtype)

    @property
    def memory_budget_bytes(self) -> int:
        return self.memory.size // 2

    @property
    def power_source(self) -> SimulatedRails | None:
        return self.rails

    @property
    def power_unavailable_reason(self) -> str:
        return "" if self.rails is not None else f"the {self.description} device was created with rails=False"
