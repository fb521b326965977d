"""In-process emulation of the accelerator: the register protocol of the RTL, the math of the
Python reference.

Why: drivers are written once against the device interface and must be tested fast, without a
simulator or a board.  This device behaves like the RTL at its registers: the Vitis-HLS control
block (ap_start, ap_done clear-on-read, ap_idle, ap_ready clear-on-read, auto_restart stored,
GIE / IER / ISR with toggle-on-write), argument words that ignore writes to reserved words, the
same argument checks in the same STATUS bits (``BAD_DIMS`` for a zero dimension or one above the
limit, ``MISALIGNED`` for an address that is not a multiple of ``ADDRESS_ALIGN``, ``BAD_MODE``,
``OVERFLOW`` after a gemm that saturated), counters cleared at start.  Writing ap_start reads the
operands from *device* memory at the programmed addresses, runs ``e2train.kernels.reference``
and writes the results back to device memory; a refused run touches no memory.  Cycle and
traffic counters come from ``cycle_model`` (documented estimates), and each run is reported to
the simulated power rails.

Deliberate differences from hardware, for testing:
- memory is non-coherent by default (see ``memory``): a driver that forgets ``flush`` or
  ``invalidate`` reads stale data here, as it would on a board;
- an operand or result outside device memory raises ``DeviceMemoryError`` at start (hardware
  would read or overwrite someone else's memory);
- fault injection (``inject_fault``): a kernel that never finishes (``"hang"``) to test timeouts,
  and a completion latency in wall-clock seconds to test polling;
- auto_restart is stored and read back, but a finished run is not restarted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from e2train.device.base import DeviceError, DeviceMemoryError, KernelLimits, UnknownKernelError
from e2train.device.memory import DEFAULT_BASE, ArrayMemory, MirroredMemoryDevice
from e2train.energy.cycle_model import CycleModel, RunCost
from e2train.kernels import reference, regmap
from e2train.kernels.regmap import RegisterMap
from e2train.kernels.spec import KERNEL_NAMES, KERNELS
from e2train.power.simulated_rails import SimulatedRails

log = logging.getLogger(__name__)

DEFAULT_MEMORY_BYTES = 64 << 20
FAULTS = ("hang", "latency")
_COUNTER_WIDTHS = {r.name: r.width_bits for r in regmap.GEMM.registers if r.read_only}


@dataclass
class RunRecord:
    """What one emulated run did: for tests (how many runs a tiled call made) and for debugging."""

    kernel: str
    args: dict[str, int]
    status: int
    counters: dict[str, int] = field(default_factory=dict)


@dataclass
class _Pending:
    done_at: float  # monotonic seconds; inf = never (hang)
    commit: Callable[[], None]


class _EmulatedKernel:
    """Register file and execution of one kernel."""

    def __init__(self, device: EmulatedDevice, name: str, register_map: RegisterMap) -> None:
        self.device = device
        self.name = name
        self.map = register_map
        self.ctrl_off = {r: register_map[r].offset for r in ("CTRL", "GIE", "IER", "ISR")}
        # argument words: every word of every writable register beyond the control block
        self.arg_words = {
            offset
            for r in register_map.registers
            if not r.read_only and r.name not in self.ctrl_off
            for offset in r.word_offsets
        }
        self.counter_words: dict[int, tuple[str, int]] = {
            offset: (r.name, w)
            for r in register_map.registers
            if r.read_only
            for w, offset in enumerate(r.word_offsets)
        }
        self.fault: str | None = None
        self.latency_s = 0.0
        self.reset()

    def reset(self) -> None:
        self.args: dict[int, int] = {}
        self.ap_start = self.ap_done = self.ap_ready = self.running = self.auto_restart = False
        self.gie = 0
        self.ier = 0
        self.isr = 0
        self.regs: dict[str, int] = {name: 0 for name in self.map.names if self.map[name].read_only}
        self.pending: _Pending | None = None

    # register access ------------------------------------------------------------------------------
    def read_word(self, offset: int) -> int:
        self._update()
        if offset == self.ctrl_off["CTRL"]:
            value = (
                int(self.ap_start) * regmap.AP_START
                | int(self.ap_done) * regmap.AP_DONE
                | int(not self.running) * regmap.AP_IDLE
                | int(self.ap_ready) * regmap.AP_READY
                | int(self.auto_restart) * regmap.AUTO_RESTART
            )
            self.ap_done = self.ap_ready = False  # clear on read
            return value
        if offset == self.ctrl_off["GIE"]:
            return self.gie
        if offset == self.ctrl_off["IER"]:
            return self.ier
        if offset == self.ctrl_off["ISR"]:
            return self.isr
        if offset in self.counter_words:
            name, word = self.counter_words[offset]
            return self.map[name].split(self.regs[name])[word]
        return self.args.get(offset, 0) if offset in self.arg_words else 0

    def write_word(self, offset: int, value: int) -> None:
        self._update()
        value &= regmap.WORD_MASK
        if offset == self.ctrl_off["CTRL"]:
            self.auto_restart = bool(value & regmap.AUTO_RESTART)
            if self.auto_restart:
                log.warning("%s: auto_restart is stored but not emulated (runs are not restarted)", self.name)
            if value & regmap.AP_START:
                self.ap_start = True
                if not self.running:
                    self._launch()
        elif offset == self.ctrl_off["GIE"]:
            self.gie = value & 1
        elif offset == self.ctrl_off["IER"]:
            self.ier = value & 3
        elif offset == self.ctrl_off["ISR"]:
            self.isr ^= value & 3
        elif offset in self.arg_words:
            self.args[offset] = value
        # writes to read-only counters and reserved words are ignored, as in the RTL

    @property
    def irq(self) -> bool:
        self._update()
        return bool(self.gie and self.isr)

    # execution ----------------------------------------------------------------------------------
    def arg(self, name: str) -> int:
        reg = self.map[name]
        return reg.join(self.args.get(offset, 0) for offset in reg.word_offsets)

    def _launch(self) -> None:
        args = {r.name: self.arg(r.name) for r in self.map.registers if r.offset in self.arg_words}
        self.running = True
        self.regs = dict.fromkeys(self.regs, 0)  # counters clear at start
        status, cost, commit_outputs, extra = self.device._execute(self.name, args)
        start_t = self.device.clock()

        def commit() -> None:
            commit_outputs()
            counters = {
                "STATUS": status,
                "CYCLES_BUSY": cost.cycles_busy,
                "CYCLES_MEM_STALL": cost.cycles_mem_stall,
                "MACS": cost.macs,
                "BYTES_READ": cost.bytes_read,
                "BYTES_WRITTEN": cost.bytes_written,
                **extra,
            }
            for name in self.regs:
                self.regs[name] = counters.get(name, 0) % (1 << _COUNTER_WIDTHS.get(name, 32))
            self.running = False
            self.ap_done = self.ap_ready = True
            self.ap_start = False  # auto_restart not emulated
            self.isr |= self.ier
            self.device.runs.append(RunRecord(self.name, args, status, dict(self.regs)))
            if self.device.rails is not None and cost.cycles_busy:
                self.device.rails.record_run(
                    self.name, cost.cycles_busy, cost.macs, cost.bytes_read, cost.bytes_written, start_t
                )

        if self.fault == "hang":
            done_at = float("inf")
            log.info("%s: injected fault 'hang': this run never finishes", self.name)
        else:
            done_at = start_t + self.latency_s
        self.pending = _Pending(done_at, commit)
        self._update()

    def _update(self) -> None:
        if self.pending is not None and self.device.clock() >= self.pending.done_at:
            pending, self.pending = self.pending, None
            pending.commit()


class EmulatedDevice(MirroredMemoryDevice):
    """The accelerator's kernels emulated in-process (see the module docstring).

    ``limits`` (one ``KernelLimits`` for every kernel or a dict per kernel) may be *smaller* than the
    register map's, so that tests exercise a driver's tiling with small operands; ``register_maps``
    replaces a kernel's layout (e.g. the HLS IP's, to test a board driver's .hwh handling).
    """

    kind = "emulate"
    description = "emulated"

    def __init__(
        self,
        kernels: tuple[str, ...] = KERNEL_NAMES,
        *,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
        base_address: int = DEFAULT_BASE,
        coherent: bool = False,
        limits: KernelLimits | dict[str, KernelLimits] | None = None,
        register_maps: dict[str, RegisterMap] | None = None,
        cycle_model: CycleModel | None = None,
        rails: SimulatedRails | bool = True,
        clock: Callable[[], float] = time.monotonic,
        name: str = "emulated",
    ) -> None:
        super().__init__(name)
        unknown = [k for k in kernels if k not in KERNELS]
        if unknown:
            raise UnknownKernelError(f"unknown kernel(s) {unknown}; known: {', '.join(KERNELS)}")
        self.memory = ArrayMemory(memory_bytes, base_address, coherent)
        self.cycle_model = cycle_model or CycleModel()
        self.clock = clock
        self._limits = self._resolve_limits(kernels, limits)
        maps = {k: KERNELS[k].registers for k in kernels}
        maps.update(register_maps or {})
        self._kernels = {k: _EmulatedKernel(self, k, maps[k]) for k in kernels}
        if rails is True:
            rails = SimulatedRails(clock_hz=self.cycle_model.clock_hz, clock=clock)
        self.rails: SimulatedRails | None = rails or None
        self.runs: list[RunRecord] = []
        self._lock = threading.RLock()

    @staticmethod
    def _resolve_limits(
        kernels: tuple[str, ...], limits: KernelLimits | dict[str, KernelLimits] | None
    ) -> dict[str, KernelLimits]:
        per_kernel = {k: limits for k in kernels} if isinstance(limits, KernelLimits) else dict(limits or {})
        resolved = {k: per_kernel.get(k) or KernelLimits() for k in kernels}
        for k, lim in resolved.items():
            if lim.max_dim > regmap.MAX_DIM or lim.max_p > regmap.MAX_P:
                raise ValueError(f"{k}: limits {lim} exceed the register map's (MAX_DIM, MAX_P)")
        return resolved

    # Device interface ---------------------------------------------------------------------------
    @property
    def kernel_names(self) -> tuple[str, ...]:
        return tuple(self._kernels)

    def register_map(self, kernel: str) -> RegisterMap:
        return self._kernels[kernel].map

    def limits(self, kernel: str) -> KernelLimits:
        return self._limits[kernel]

    def _read_word(self, kernel: str, offset: int) -> int:
        with self._lock:
            return self._kernels[kernel].read_word(offset)

    def _write_word(self, kernel: str, offset: int, value: int) -> None:
        with self._lock:
            self._kernels[kernel].write_word(offset, value)

    # testing hooks ------------------------------------------------------------------------------
    def inject_fault(self, kernel: str, fault: str | None, *, seconds: float = 0.0) -> None:
        """``"hang"``: runs never finish; ``"latency"``: runs finish ``seconds`` after start; None: normal."""
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; allowed: {', '.join(FAULTS)} or None")
        emu = self._kernels[kernel]
        emu.fault = "hang" if fault == "hang" else None
        emu.latency_s = seconds if fault == "latency" else 0.0

    def reset(self, kernel: str | None = None) -> None:
        """Reset one kernel's (or every kernel's) registers, as ap_rst_n would; ends a hung run."""
        with self._lock:
            for name in [kernel] if kernel else list(self._kernels):
                self._kernels[name].reset()

    def irq(self, kernel: str) -> bool:
        """The kernel's interrupt line (GIE and any enabled ISR bit)."""
        with self._lock:
            return self._kernels[kernel].irq

    # execution ----------------------------------------------------------------------------------
    def _execute(
        self, kernel: str, args: dict[str, int]
    ) -> tuple[int, RunCost, Callable[[], None], dict[str, int]]:
        """Check arguments as the RTL does; compute outputs now, write them when the run completes."""
        if kernel == "gemm":
            return self._execute_gemm(args)
        if kernel == "psg_wgrad":
            return self._execute_psg(args)
        raise DeviceError(f"no emulation for kernel {kernel!r}")  # pragma: no cover

    def _arg_status(self, dims_ok: bool, addresses: list[int], mode: int, mode_max: int) -> int:
        status = 0 if dims_ok else regmap.STATUS_BAD_DIMS
        if any(a % regmap.ADDRESS_ALIGN for a in addresses):
            status |= regmap.STATUS_MISALIGNED
        if mode > mode_max:
            status |= regmap.STATUS_BAD_MODE
        return status

    def _read_matrix(self, address: int, shape: tuple[int, int], dtype: Any) -> np.ndarray:
        nbytes = shape[0] * shape[1] * np.dtype(dtype).itemsize
        return self.memory.device_read(address, nbytes).view(np.dtype(dtype).newbyteorder("<")).reshape(shape)

    def _check_region(self, name: str, address: int, nbytes: int) -> None:
        if not self.memory.contains(address, nbytes):
            raise DeviceMemoryError(
                f"{name}: {nbytes} bytes at {address:#x} lie outside device memory "
                f"[{self.memory.base:#x}, {self.memory.base + self.memory.size:#x}); on a board this run would "
                "read or overwrite memory it does not own: pass device_address of an allocated buffer"
            )

    def _execute_gemm(self, args: dict[str, int]) -> tuple[int, RunCost, Callable[[], None], dict[str, int]]:
        m, n, k, mode = args["M"], args["N"], args["K"], args["MODE"]
        a_addr, b_addr, c_addr = args["A_ADDR"], args["B_ADDR"], args["C_ADDR"]
        limit = self._limits["gemm"].max_dim
        status = self._arg_status(
            all(1 <= d <= limit for d in (m, n, k)),
            [a_addr, b_addr, c_addr],
            mode,
            max(regmap.GEMM_MODE_CODES.values()),
        )
        if status:
            return status, self.cycle_model.refused(), lambda: None, {}
        mode_name = {v: key for key, v in regmap.GEMM_MODE_CODES.items()}[mode]
        a_dtype, b_dtype = reference.GEMM_MODES[mode_name]
        b_size = np.dtype(b_dtype).itemsize
        self._check_region("A", a_addr, m * k)
        self._check_region("B", b_addr, k * n * b_size)
        self._check_region("C", c_addr, m * n * 4)
        result = reference.gemm(
            self._read_matrix(a_addr, (m, k), a_dtype).astype(a_dtype),
            self._read_matrix(b_addr, (k, n), b_dtype).astype(b_dtype),
            mode_name,
        )
        if result.overflows:
            status |= regmap.STATUS_OVERFLOW
        c_bytes = result.c.astype("<i4").view(np.uint8).reshape(-1)

        def commit() -> None:
            self.memory.device_write(c_addr, c_bytes)

        return status, self.cycle_model.gemm(m, n, k, b_size), commit, {"OVERFLOWS": result.overflows}

    def _execute_psg(self, args: dict[str, int]) -> tuple[int, RunCost, Callable[[], None], dict[str, int]]:
        n, k, p, tau, mode = args["N"], args["K"], args["P"], args["TAU"], args["MODE"]
        x_addr, g_addr, s_addr, m_addr = args["X_ADDR"], args["G_ADDR"], args["S_ADDR"], args["MASK_ADDR"]
        lim = self._limits["psg_wgrad"]
        dims_ok = all(1 <= d <= lim.max_dim for d in (n, k)) and 1 <= p <= lim.max_p
        status = self._arg_status(
            dims_ok, [x_addr, g_addr, s_addr, m_addr], mode, max(regmap.PSG_MODE_CODES.values())
        )
        if status:
            return status, self.cycle_model.refused(), lambda: None, {}
        x_signed = mode == regmap.PSG_MODE_CODES["signed"]
        x_dtype = reference.PSG_X_DTYPES["signed" if x_signed else "unsigned"]
        self._check_region("X", x_addr, k * p)
        self._check_region("G", g_addr, n * p * 2)
        self._check_region("S", s_addr, n * k)
        self._check_region("MASK", m_addr, n * k)
        x = self._read_matrix(x_addr, (k, p), x_dtype).astype(x_dtype)
        g = self._read_matrix(g_addr, (n, p), np.int16).astype(np.int16)
        result = reference.psg_wgrad(x, g, tau, x_signed)
        signs = np.ascontiguousarray(result.signs).view(np.uint8).reshape(-1)
        mask = np.ascontiguousarray(result.recompute_mask).reshape(-1)

        def commit() -> None:
            self.memory.device_write(s_addr, signs)
            self.memory.device_write(m_addr, mask)

        cost = self.cycle_model.psg(n, k, p, result.recompute_mask)
        return status, cost, commit, {"RECOMPUTED": result.recomputed}
