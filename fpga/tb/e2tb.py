"""cocotb test-bench pieces shared by the kernel benches.

``KernelTB`` wraps one kernel top level in cocotbext-axi bus models: an ``AxiLiteMaster`` on the
``s_axi_control`` register port and an ``AxiRam`` on the ``m_axi_gmem`` master port.  Register
offsets come from ``e2train.kernels.regmap`` only.  ``run_gemm`` / ``run_psg`` place operands in
the RAM, program the registers, start the kernel, wait for ap_done through the interrupt line and
return the outputs and the hardware counters.  Guard bytes around every output detect writes
outside the output (wrong strobes, wrong row addresses).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam

from e2train.device.memory_stalls import set_memory_stalls
from e2train.kernels import regmap
from e2train.kernels.reference import GEMM_MODES
from e2train.kernels.spec import KERNELS

CLOCK_NS = 10
GUARD = 0xA5  # byte pattern around outputs
GUARD_BYTES = 64
COUNTER_NAMES = regmap.COUNTER_NAMES


class KernelTimeout(AssertionError):
    """The kernel did not raise ap_done in time (a hang)."""


def align_up(value: int, align: int = regmap.ADDRESS_ALIGN) -> int:
    return (value + align - 1) // align * align


class KernelTB:
    """Clock, reset, register port and AXI RAM around one kernel top level."""

    def __init__(self, dut, kernel: str, mem_size: int = 1 << 22) -> None:
        self.dut = dut
        self.map = KERNELS[kernel].registers
        self.log = dut._log
        cocotb.start_soon(Clock(dut.ap_clk, CLOCK_NS, unit="ns").start())
        self.axil = AxiLiteMaster(
            AxiLiteBus.from_prefix(dut, "s_axi_control"), dut.ap_clk, dut.ap_rst_n, reset_active_level=False
        )
        self.ram = AxiRam(
            AxiBus.from_prefix(dut, "m_axi_gmem"),
            dut.ap_clk,
            dut.ap_rst_n,
            reset_active_level=False,
            size=mem_size,
        )
        self.mem_size = mem_size
        self._next_free = 0x1000

    # ------------------------------------------------------------------ clocking and reset
    async def reset(self, cycles: int = 4) -> None:
        self.dut.ap_rst_n.value = 0
        await ClockCycles(self.dut.ap_clk, cycles)
        self.dut.ap_rst_n.value = 1
        await ClockCycles(self.dut.ap_clk, 2)

    async def cycles(self, n: int) -> None:
        await ClockCycles(self.dut.ap_clk, n)

    def set_memory_stalls(self, generator_factory) -> None:
        """Install pause generators on all five AXI channels of the RAM (None removes them)."""
        set_memory_stalls(self.ram, generator_factory)

    # ------------------------------------------------------------------ registers
    async def write_reg(self, name: str, value: int) -> None:
        reg = self.map[name]
        for offset, word in zip(reg.word_offsets, reg.split(value), strict=True):
            await self.axil.write_dword(offset, word)

    async def read_reg(self, name: str) -> int:
        reg = self.map[name]
        return reg.join([await self.axil.read_dword(offset) for offset in reg.word_offsets])

    async def read_ctrl(self) -> int:
        return await self.axil.read_dword(self.map["CTRL"].offset)

    async def read_counters(self) -> dict[str, int]:
        return {name: await self.read_reg(name) for name in COUNTER_NAMES}

    async def start(self) -> None:
        """Enable the ap_done interrupt and set ap_start."""
        await self.write_reg("GIE", 1)
        await self.write_reg("IER", 1)
        await self.write_reg("CTRL", regmap.AP_START)

    async def wait_done(self, timeout_cycles: int) -> None:
        """Wait for the interrupt, acknowledge it (ISR toggle) and check ap_done (clear on read)."""
        if not int(self.dut.irq.value):
            try:
                await with_timeout(RisingEdge(self.dut.irq), timeout_cycles * CLOCK_NS, "ns")
            except cocotb.triggers.SimTimeoutError:
                raise KernelTimeout(f"no ap_done within {timeout_cycles} cycles") from None
        isr = await self.read_reg("ISR")
        await self.write_reg("ISR", isr)
        ctrl = await self.read_ctrl()
        assert ctrl & regmap.AP_DONE, f"interrupt without ap_done: CTRL={ctrl:#x}"

    # ------------------------------------------------------------------ memory
    def alloc(self, nbytes: int, misalign: int = 0) -> int:
        """Aligned buffer with guard space on both sides (misalign > 0 only for error tests)."""
        addr = align_up(self._next_free + GUARD_BYTES) + misalign
        self._next_free = addr + max(nbytes, 1) + GUARD_BYTES
        if self._next_free > self.mem_size:
            raise MemoryError(f"test RAM of {self.mem_size} bytes is too small")
        return addr

    def reset_alloc(self) -> None:
        self._next_free = 0x1000

    def put(self, addr: int, array: np.ndarray) -> None:
        self.ram.write(addr, np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes())

    def get(self, addr: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        count = int(np.prod(shape))
        raw = self.ram.read(addr, count * np.dtype(dtype).itemsize)
        return np.frombuffer(bytes(raw), dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)

    def guard(self, addr: int, nbytes: int) -> None:
        """Fill an output buffer and the bytes around it with the guard pattern."""
        self.ram.write(addr - GUARD_BYTES, bytes([GUARD]) * (nbytes + 2 * GUARD_BYTES))

    def check_guard(self, addr: int, nbytes: int) -> None:
        before = self.ram.read(addr - GUARD_BYTES, GUARD_BYTES)
        after = self.ram.read(addr + nbytes, GUARD_BYTES)
        assert set(before) == {GUARD} and set(after) == {GUARD}, f"write outside output at {addr:#x}"


async def check_unmapped_words(tb: KernelTB) -> None:
    """Argument-area words that no register covers (reserved words) ignore writes and read 0."""
    covered = {offset for r in tb.map.registers for offset in r.word_offsets}
    for offset in range(0x10, 0x80, 4):
        if offset not in covered:
            await tb.axil.write_dword(offset, 0xFFFFFFFF)
            assert await tb.axil.read_dword(offset) == 0, f"reserved word {offset:#x} is not zero"


@dataclass
class KernelRun:
    """Outputs of one kernel invocation plus its counters."""

    outputs: dict[str, np.ndarray]
    counters: dict[str, int]


def timeout_for(work: int) -> int:
    """Generous cycle budget: a hang shows up as a timeout rather than a stuck simulation."""
    return 20_000 + 40 * work


async def run_gemm(
    tb: KernelTB,
    a: np.ndarray,
    b: np.ndarray,
    mode: str = "i8i8",
    *,
    mode_code: int | None = None,
    dims: tuple[int, int, int] | None = None,
    misalign: tuple[int, int, int] = (0, 0, 0),
    timeout: int | None = None,
) -> KernelRun:
    """Run C = A x B once.  `mode_code` / `dims` / `misalign` override what is programmed
    (argument-error tests); outputs are read back according to the true shapes."""
    m, k = a.shape
    n = b.shape[1]
    tb.reset_alloc()
    a_addr = tb.alloc(a.nbytes, misalign[0])
    b_addr = tb.alloc(b.nbytes, misalign[1])
    c_addr = tb.alloc(m * n * 4, misalign[2])
    tb.put(a_addr, a)
    tb.put(b_addr, b)
    tb.guard(c_addr, m * n * 4)
    pm, pn, pk = dims if dims is not None else (m, n, k)
    code = mode_code if mode_code is not None else regmap.GEMM_MODE_CODES[mode]
    for name, value in (
        ("A_ADDR", a_addr),
        ("B_ADDR", b_addr),
        ("C_ADDR", c_addr),
        ("M", pm),
        ("N", pn),
        ("K", pk),
        ("MODE", code),
    ):
        await tb.write_reg(name, value)
    await tb.start()
    await tb.wait_done(timeout or timeout_for(m * n * k // 16 + (m * k + k * n * 2 + m * n * 4) // 4))
    counters = await tb.read_counters()
    tb.check_guard(c_addr, m * n * 4)
    return KernelRun({"c": tb.get(c_addr, (m, n), np.int32)}, counters)


async def run_psg(
    tb: KernelTB,
    x: np.ndarray,
    g: np.ndarray,
    tau: int,
    x_signed: bool,
    *,
    mode_code: int | None = None,
    dims: tuple[int, int, int] | None = None,
    misalign: tuple[int, int, int, int] = (0, 0, 0, 0),
    timeout: int | None = None,
) -> KernelRun:
    """Run the predictive-sign weight gradient once (see run_gemm for the overrides)."""
    k, p = x.shape
    n = g.shape[0]
    tb.reset_alloc()
    x_addr = tb.alloc(x.nbytes, misalign[0])
    g_addr = tb.alloc(g.nbytes, misalign[1])
    s_addr = tb.alloc(n * k, misalign[2])
    m_addr = tb.alloc(n * k, misalign[3])
    tb.put(x_addr, x)
    tb.put(g_addr, g)
    tb.guard(s_addr, n * k)
    tb.guard(m_addr, n * k)
    pn, pk, pp = dims if dims is not None else (n, k, p)
    code = mode_code if mode_code is not None else regmap.PSG_MODE_CODES["signed" if x_signed else "unsigned"]
    for name, value in (
        ("X_ADDR", x_addr),
        ("G_ADDR", g_addr),
        ("S_ADDR", s_addr),
        ("MASK_ADDR", m_addr),
        ("N", pn),
        ("K", pk),
        ("P", pp),
        ("TAU", tau),
        ("MODE", code),
    ):
        await tb.write_reg(name, value)
    await tb.start()
    await tb.wait_done(timeout or timeout_for(2 * n * k * p // 16 + (k * p + n * p * 2) * 2))
    counters = await tb.read_counters()
    tb.check_guard(s_addr, n * k)
    tb.check_guard(m_addr, n * k)
    return KernelRun(
        {"signs": tb.get(s_addr, (n, k), np.int8), "mask": tb.get(m_addr, (n, k), np.uint8)}, counters
    )


def random_operands(
    rng: np.random.Generator, m: int, k: int, n: int, mode: str
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random codes over each dtype's full range."""
    a_dtype, b_dtype = GEMM_MODES[mode]
    info_a, info_b = np.iinfo(a_dtype), np.iinfo(b_dtype)
    a = rng.integers(info_a.min, info_a.max, size=(m, k), endpoint=True).astype(a_dtype)
    b = rng.integers(info_b.min, info_b.max, size=(k, n), endpoint=True).astype(b_dtype)
    return a, b


def shapes_product(*axes: Iterable[int]) -> list[tuple[int, ...]]:
    return list(itertools.product(*axes))
