"""The Verilog RTL as a device: cocotb bus models behind the PYNQ-shaped interface.

Why this shape: the driver is blocking code (``kernel.write``, ``kernel.wait``), the simulator is
event-driven.  cocotb 2 joins them with ``bridge`` / ``resume``: the whole driver-level job runs
in a bridged thread (see ``rtl_sim.run_in_simulator``), and every register access is a
``resume``-converted coroutine that performs one AXI-Lite transaction through cocotbext-axi's
``AxiLiteMaster`` and hands the result back (about 85 us of wall time per round trip).  While the
job's thread runs, simulated time stands still (cocotb requires a bridged thread to finish or
block in a ``resume`` call before the simulator continues), so touching the ``AxiRam``'s memory
directly from the thread for ``flush`` / ``invalidate`` is safe.

Waiting: ``wait`` polls CTRL from *inside* the simulator (one resume call advances up to
``POLL_CHUNK_CYCLES`` cycles, reading CTRL every few cycles).  "Hung" is measured in simulated
cycles (``cycle_budget``: ``HANG_FACTOR`` times what the run's MACs need on the array, plus
``HANG_SLACK_CYCLES``), never in wall-clock time, which depends on how loaded the machine is; a
caller's explicit ``timeout_s`` (no budget) still bounds wall time.

This module is imported inside the simulator only (it needs a running cocotb).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from e2train.device.base import DeviceTimeout, KernelHandle, KernelLimits
from e2train.device.memory import DEFAULT_BASE, MirroredMemory, MirroredMemoryDevice
from e2train.energy.cycle_model import CycleModel
from e2train.kernels import regmap
from e2train.kernels.regmap import RegisterMap
from e2train.kernels.spec import KERNELS
from e2train.power.simulated_rails import SimulatedRails

log = logging.getLogger(__name__)

POLL_CHUNK_CYCLES = 20_000  # cycles simulated per resume call while waiting for ap_done
# measured runs take at most about 2x their MACs / (ROWS x COLS) (memory-bound ResNet-20 layers)
HANG_FACTOR = 8
HANG_SLACK_CYCLES = 200_000
POLL_MIN_CYCLES = 8
POLL_MAX_CYCLES = 256

class AxiRamMemory(MirroredMemory):
    """Device memory = the ``AxiRam`` models' shared sparse memory (what the RTL's masters see)."""

    def __init__(self, ram: Any, size: int, base: int = DEFAULT_BASE) -> None:
        super().__init__(size, base, coherent=False)
        self.ram = ram

    def device_read(self, address: int, nbytes: int) -> np.ndarray:
        return np.frombuffer(bytes(self.ram.read(address, nbytes)), dtype=np.uint8).copy()

    def device_write(self, address: int, data: np.ndarray | bytes) -> None:
        raw = (
            data
            if isinstance(data, (bytes, bytearray))
            else np.ascontiguousarray(data).view(np.uint8).tobytes()
        )
        self.ram.write(address, raw)


class CocotbDevice(MirroredMemoryDevice):
    """Kernels of an RTL top level in a running cocotb simulation.

    ``ports`` maps each kernel to its ``(AxiLiteMaster, irq signal or None)``; ``ram`` is one of the
    ``AxiRam`` models (they share one memory); ``clk`` is the kernels' clock signal.
    """

    kind = "rtl"
    description = "RTL"

    def __init__(
        self,
        ports: dict[str, Any],
        ram: Any,
        clk: Any,
        *,
        memory_bytes: int = 64 << 20,
        base_address: int = DEFAULT_BASE,
        clock_hz: float = 100e6,
        limits: dict[str, KernelLimits] | None = None,
        rails: bool = True,
        sim: str = "",
    ) -> None:
        from cocotb.task import resume

        super().__init__(f"rtl-{sim}" if sim else "rtl")
        self._ports = ports
        self._clk = clk
        self.memory = AxiRamMemory(ram, memory_bytes, base_address)
        self._limits = limits or {}
        self.clock_hz = clock_hz
        self.rails: SimulatedRails | None = SimulatedRails(clock_hz=clock_hz) if rails else None
        self._read_sync = resume(self._read_coro)
        self._write_sync = resume(self._write_coro)
        self._poll_sync = resume(self._poll_coro)
        self.runs = 0
        self._unrecorded: set[str] = set()

    # coroutines, run in the simulator's thread ------------------------------------------------
    async def _read_coro(self, kernel: str, offset: int) -> int:
        return int(await self._ports[kernel].read_dword(offset))

    async def _write_coro(self, kernel: str, offset: int, value: int) -> None:
        await self._ports[kernel].write_dword(offset, value)

    async def _poll_coro(self, kernel: str, budget_cycles: int) -> tuple[int, int]:
        """Read CTRL every few cycles until ap_done or the budget is spent; (last CTRL, cycles used)."""
        from cocotb.triggers import ClockCycles

        ctrl_off = self.register_map(kernel)["CTRL"].offset
        used = 0
        interval = POLL_MIN_CYCLES
        ctrl = 0
        while used < budget_cycles:
            await ClockCycles(self._clk, interval)
            used += interval
            ctrl = int(await self._ports[kernel].read_dword(ctrl_off))
            if ctrl & regmap.AP_DONE:
                break
            interval = min(POLL_MAX_CYCLES, 2 * interval)
        return ctrl, used

    # Device interface -------------------------------------------------------------------------
    @property
    def kernel_names(self) -> tuple[str, ...]:
        return tuple(self._ports)

    def register_map(self, kernel: str) -> RegisterMap:
        return KERNELS[kernel].registers

    def limits(self, kernel: str) -> KernelLimits:
        return self._limits.get(kernel) or KernelLimits()

    def _read_word(self, kernel: str, offset: int) -> int:
        return self._read_sync(kernel, offset)

    def _write_word(self, kernel: str, offset: int, value: int) -> None:
        self._write_sync(kernel, offset, value)

    def _wait_done(self, handle: KernelHandle, timeout_s: float, budget_cycles: int | None = None) -> int:
        deadline = time.monotonic() + timeout_s
        ctrl = 0
        simulated = 0
        while True:
            chunk = POLL_CHUNK_CYCLES if budget_cycles is None else min(POLL_CHUNK_CYCLES, budget_cycles - simulated)
            ctrl, used = self._poll_sync(handle.name, chunk)
            simulated += used
            if ctrl & regmap.AP_DONE:
                self.runs += 1
                self._unrecorded.add(handle.name)
                return ctrl
            if budget_cycles is not None and simulated >= budget_cycles:
                raise DeviceTimeout(handle.name, timeout_s, ctrl, self.name, cycles=simulated)
            if budget_cycles is None and time.monotonic() >= deadline:
                raise DeviceTimeout(handle.name, timeout_s, ctrl, self.name)

    def _after_counters(self, handle: KernelHandle, counters: dict[str, int]) -> None:
        """Feed the simulated rails with the RTL's own counters of the run that just finished.

        Done when the driver reads the counters anyway, so that each run costs no extra AXI reads.
        """
        if handle.name in self._unrecorded and self.rails is not None and counters.get("CYCLES_BUSY"):
            self.rails.record_run(
                handle.name,
                counters["CYCLES_BUSY"],
                counters.get("MACS", 0),
                counters.get("BYTES_READ", 0),
                counters.get("BYTES_WRITTEN", 0),
            )
        self._unrecorded.discard(handle.name)

    def cycle_budget(self, macs: int) -> int:
        rows, cols = CycleModel().rows, CycleModel().cols  # the RTL's default array
        return HANG_FACTOR * (macs // (rows * cols)) + HANG_SLACK_CYCLES
