"""cocotb bench of the gemm RTL (fpga/rtl/e2_gemm.v), driven from pytest through cocotb's runner.

The cocotb tests (``gemm_*`` coroutines) and their pytest runners live in this one file: pytest
builds the RTL once per simulator and parameter set, then runs each cocotb test in the simulator.
Most tests use a small build (KC=64, TMAX=2) so that short operands already exercise the K-chunked
path, several A blocks and partial tiles; one case runs on the default (synthesised) parameters.
Everything is compared bit for bit with ``e2train.kernels.reference.gemm``.
"""

from __future__ import annotations

from pathlib import Path

# fpga/tb is on sys.path (conftest), and cocotb's runner hands sys.path to the simulator's Python
import e2sim
import numpy as np
import pytest

from e2train.device.memory_stalls import bursty_latency, pause_pattern
from e2train.kernels import regmap
from e2train.kernels.reference import gemm as ref_gemm

_HINT = "pip install cocotb==2.1.0 cocotbext-axi==0.1.28"
cocotb = pytest.importorskip("cocotb", reason=f"cocotb is not installed: {_HINT}")
pytest.importorskip("cocotbext.axi", reason=f"cocotbext-axi is not installed: {_HINT}")
from e2tb import (  # noqa: E402  (needs cocotb, checked just above)
    KernelTB,
    check_unmapped_words,
    random_operands,
    run_gemm,
)

SMALL = {"KC": 64, "TMAX": 2}
DEFAULT: dict[str, int] = {}


def check_gemm(run, a: np.ndarray, b: np.ndarray, mode: str) -> None:
    """Outputs and counters of one run against the reference."""
    ref = ref_gemm(a, b, mode)
    c = run.outputs["c"]
    if not np.array_equal(c, ref.c):
        bad = np.argwhere(c != ref.c)
        i, j = bad[0]
        raise AssertionError(
            f"{len(bad)} wrong entries for {a.shape}x{b.shape} {mode}; first ({i},{j}): "
            f"got {c[i, j]} want {ref.c[i, j]}"
        )
    cnt = run.counters
    m, k = a.shape
    n = b.shape[1]
    assert cnt["MACS"] == ref.macs == m * n * k, cnt
    assert cnt["OVERFLOWS"] == ref.overflows, (cnt, ref.overflows)
    assert bool(cnt["STATUS"] & regmap.STATUS_OVERFLOW) == (ref.overflows > 0), cnt
    assert cnt["STATUS"] & ~regmap.STATUS_OVERFLOW == 0, cnt
    assert cnt["BYTES_WRITTEN"] == m * n * 4, cnt
    assert cnt["BYTES_READ"] >= a.nbytes + b.nbytes, cnt
    assert 0 <= cnt["CYCLES_MEM_STALL"] < cnt["CYCLES_BUSY"], cnt
    assert cnt["CYCLES_BUSY"] * _array_size() >= cnt["MACS"], cnt
    assert cnt["RECOMPUTED"] == 0, cnt


def _array_size() -> int:
    params = e2sim.build_params()
    return params.get("ROWS", 8) * params.get("COLS", 8)


# =========================================================================================
# cocotb tests
# =========================================================================================
@cocotb.test()
async def gemm_regmap(dut):
    """Register map: reset values, argument read-back, read-only counters, handshake bits."""
    tb = KernelTB(dut, "gemm")
    await tb.reset()
    ctrl = await tb.read_ctrl()
    assert ctrl == regmap.AP_IDLE, f"after reset CTRL={ctrl:#x}"
    rmap = regmap.GEMM
    for index, reg in enumerate(r for r in rmap.registers if not r.read_only and r.offset >= 0x10):
        value = (0x1234_5678_9ABC_DEF0 + index * 0x1111) & ((1 << reg.width_bits) - 1)
        await tb.write_reg(reg.name, value)
        assert await tb.read_reg(reg.name) == value, reg.name
        if reg.width_bits == 64:  # the reserved word after a 64-bit address reads 0
            await tb.axil.write_dword(reg.offset + 8, 0xFFFFFFFF)
            assert await tb.axil.read_dword(reg.offset + 8) == 0, f"reserved word after {reg.name}"
    await check_unmapped_words(tb)
    for name in ("STATUS", "CYCLES_BUSY", "OVERFLOWS"):
        await tb.axil.write_dword(rmap[name].offset, 0xFFFFFFFF)
        assert await tb.read_reg(name) == 0, f"{name} is read-only"
    for name, value in (("GIE", 1), ("IER", 3)):
        await tb.write_reg(name, value)
        assert await tb.read_reg(name) == value

    # a run: ap_start held and ap_idle low while busy, done/ready clear on read, ISR toggles
    rng = np.random.default_rng(1)
    a, b = random_operands(rng, 16, 96, 24, "i8i8")
    tb.reset_alloc()
    a_addr, b_addr, c_addr = tb.alloc(a.nbytes), tb.alloc(b.nbytes), tb.alloc(16 * 24 * 4)
    tb.put(a_addr, a)
    tb.put(b_addr, b)
    for name, value in (
        ("A_ADDR", a_addr),
        ("B_ADDR", b_addr),
        ("C_ADDR", c_addr),
        ("M", 16),
        ("N", 24),
        ("K", 96),
        ("MODE", 0),
    ):
        await tb.write_reg(name, value)
    await tb.write_reg("IER", 1)
    await tb.write_reg("CTRL", regmap.AP_START)
    ctrl = await tb.read_ctrl()
    assert ctrl & regmap.AP_START and not ctrl & regmap.AP_IDLE and not ctrl & regmap.AP_DONE, hex(ctrl)
    await tb.wait_done(100_000)
    assert int(dut.irq.value) == 0, "ISR write did not clear the interrupt"
    assert await tb.read_reg("ISR") == 0
    ctrl = await tb.read_ctrl()
    assert ctrl == regmap.AP_IDLE, f"ap_done/ap_ready must clear on read, CTRL={ctrl:#x}"
    assert np.array_equal(tb.get(c_addr, (16, 24), np.int32), ref_gemm(a, b).c)

    # polled mode, interrupts off: the line stays low, ap_done shows once
    await tb.write_reg("GIE", 0)
    await tb.write_reg("CTRL", regmap.AP_START)
    seen_done = 0
    for _ in range(2000):
        await tb.cycles(20)
        assert int(dut.irq.value) == 0
        ctrl = await tb.read_ctrl()
        if ctrl & regmap.AP_DONE:
            seen_done += 1
            assert ctrl & regmap.AP_READY and ctrl & regmap.AP_IDLE
            break
    assert seen_done == 1
    assert await tb.read_ctrl() == regmap.AP_IDLE
    await tb.write_reg("ISR", await tb.read_reg("ISR"))  # acknowledge the latched status

    # auto-restart: two completions without a new ap_start, then stop
    await tb.write_reg("GIE", 1)
    await tb.write_reg("CTRL", regmap.AP_START | regmap.AUTO_RESTART)
    await tb.wait_done(100_000)
    await tb.wait_done(100_000)
    await tb.write_reg("CTRL", 0)  # clears auto_restart; the current run finishes
    for _ in range(2000):
        await tb.cycles(20)
        if (await tb.read_ctrl()) & regmap.AP_IDLE:
            break
    assert (await tb.read_ctrl()) & (regmap.AP_IDLE | regmap.AP_START) == regmap.AP_IDLE
    assert np.array_equal(tb.get(c_addr, (16, 24), np.int32), ref_gemm(a, b).c)


@cocotb.test()
async def gemm_random(dut):
    """Random shapes (1, non-multiples of the array, several chunks and blocks) in all modes."""
    tb = KernelTB(dut, "gemm")
    await tb.reset()
    rng = np.random.default_rng(2024)
    shapes = [
        (1, 1, 1),
        (1, 9, 1),
        (8, 8, 8),
        (5, 13, 7),
        (17, 64, 9),
        (3, 65, 23),
        (33, 40, 17),
        (9, 130, 2),
        (2, 7, 33),
        (16, 200, 8),
    ]
    modes = ["i8i8", "i8u8", "i8i16"]
    for index, (m, k, n) in enumerate(shapes):
        mode = modes[index % 3]
        a, b = random_operands(rng, m, k, n, mode)
        check_gemm(await run_gemm(tb, a, b, mode), a, b, mode)
    for mode in modes:  # every mode on one shape with all corner cases at once
        a, b = random_operands(rng, 11, 70, 10, mode)
        check_gemm(await run_gemm(tb, a, b, mode), a, b, mode)


@cocotb.test()
async def gemm_edges(dut):
    """Extreme codes, zero matrices and int32 saturation in both directions."""
    tb = KernelTB(dut, "gemm")
    await tb.reset()
    cases = []
    cases.append(("i8i8", np.zeros((4, 9), np.int8), np.zeros((9, 5), np.int8)))
    cases.append(("i8i8", np.full((3, 17), -128, np.int8), np.full((17, 9), -128, np.int8)))
    cases.append(("i8u8", np.full((3, 17), 127, np.int8), np.full((17, 9), 255, np.uint8)))
    cases.append(("i8u8", np.full((2, 5), -128, np.int8), np.full((5, 3), 255, np.uint8)))
    # |sum| = 600 * 2**22 > 2**31: saturates high (first row) and low (second row)
    a = np.stack([np.full(600, -128, np.int8), np.full(600, 127, np.int8)])
    b = np.full((600, 3), -32768, np.int16)
    b[:, 2] = 0  # column 2 never overflows
    cases.append(("i8i16", a, b))
    rng = np.random.default_rng(7)
    a = rng.choice(np.array([-128, 127], np.int8), size=(9, 520))
    b = rng.choice(np.array([-32768, 32767], np.int16), size=(520, 11))
    cases.append(("i8i16", a, b))
    for mode, a, b in cases:
        check_gemm(await run_gemm(tb, a, b, mode), a, b, mode)


@cocotb.test()
async def gemm_backpressure(dut):
    """Random stalls on all five AXI channels and bursty read latency: results unchanged."""
    tb = KernelTB(dut, "gemm")
    await tb.reset()
    rng = np.random.default_rng(99)
    tb.set_memory_stalls(lambda ch: pause_pattern(ch + 11, 0.4))
    shapes = [(7, 70, 13, "i8i8"), (17, 33, 9, "i8i16")]
    stalls = []
    for m, k, n, mode in shapes:
        a, b = random_operands(rng, m, k, n, mode)
        run = await run_gemm(tb, a, b, mode)
        check_gemm(run, a, b, mode)
        stalls.append(run.counters["CYCLES_MEM_STALL"])
    tb.set_memory_stalls(lambda ch: bursty_latency(ch + 5, 40))
    a, b = random_operands(rng, 12, 90, 10, "i8u8")
    run = await run_gemm(tb, a, b, "i8u8")
    check_gemm(run, a, b, "i8u8")
    tb.set_memory_stalls(None)
    clean = await run_gemm(tb, a, b, "i8u8")
    check_gemm(clean, a, b, "i8u8")
    assert run.counters["CYCLES_MEM_STALL"] > clean.counters["CYCLES_MEM_STALL"], (
        run.counters,
        clean.counters,
    )


@cocotb.test()
async def gemm_reset_midrun(dut):
    """Reset while bursts are in flight: back to idle, bus quiet, counters cleared, next run exact."""
    tb = KernelTB(dut, "gemm")
    await tb.reset()
    rng = np.random.default_rng(5)
    a, b = random_operands(rng, 40, 150, 48, "i8i16")
    tb.reset_alloc()
    a_addr, b_addr, c_addr = tb.alloc(a.nbytes), tb.alloc(b.nbytes), tb.alloc(40 * 48 * 4)
    tb.put(a_addr, a)
    tb.put(b_addr, b)
    for name, value in (
        ("A_ADDR", a_addr),
        ("B_ADDR", b_addr),
        ("C_ADDR", c_addr),
        ("M", 40),
        ("N", 48),
        ("K", 150),
        ("MODE", 2),
    ):
        await tb.write_reg(name, value)
    await tb.start()
    for delay in (700, 23):
        await tb.cycles(delay)
        assert not (await tb.read_ctrl()) & regmap.AP_IDLE, "kernel should still be running"
        await tb.reset(cycles=3)
        for _ in range(20):
            assert int(dut.m_axi_gmem_arvalid.value) == 0 and int(dut.m_axi_gmem_awvalid.value) == 0
            assert int(dut.m_axi_gmem_wvalid.value) == 0 and int(dut.irq.value) == 0
            await tb.cycles(1)
        assert await tb.read_ctrl() == regmap.AP_IDLE
        assert await tb.read_reg("CYCLES_BUSY") == 0 and await tb.read_reg("MACS") == 0
        if delay == 700:  # restart the same job (registers were cleared by reset)
            for name, value in (
                ("A_ADDR", a_addr),
                ("B_ADDR", b_addr),
                ("C_ADDR", c_addr),
                ("M", 40),
                ("N", 48),
                ("K", 150),
                ("MODE", 2),
            ):
                await tb.write_reg(name, value)
            await tb.start()
    a2, b2 = random_operands(rng, 9, 77, 10, "i8u8")
    check_gemm(await run_gemm(tb, a2, b2, "i8u8"), a2, b2, "i8u8")


@cocotb.test()
async def gemm_bad_args(dut):
    """Zero / oversized dims, misaligned addresses and unknown modes: error bits, prompt ap_done,
    no memory traffic; the next valid run is exact."""
    tb = KernelTB(dut, "gemm")
    await tb.reset()
    rng = np.random.default_rng(3)
    a, b = random_operands(rng, 4, 8, 5, "i8i8")
    guard_c = np.frombuffer(bytes([0xA5]) * 80, np.int32).reshape(4, 5)
    cases = [
        ({"dims": (0, 5, 8)}, regmap.STATUS_BAD_DIMS),
        ({"dims": (4, 0, 8)}, regmap.STATUS_BAD_DIMS),
        ({"dims": (4, 5, 0)}, regmap.STATUS_BAD_DIMS),
        ({"dims": (regmap.MAX_DIM + 1, 5, 8)}, regmap.STATUS_BAD_DIMS),
        ({"dims": (4, 5, 1 << 31)}, regmap.STATUS_BAD_DIMS),
        ({"misalign": (4, 0, 0)}, regmap.STATUS_MISALIGNED),
        ({"misalign": (0, 1, 0)}, regmap.STATUS_MISALIGNED),
        ({"misalign": (0, 0, 2)}, regmap.STATUS_MISALIGNED),
        ({"mode_code": 3}, regmap.STATUS_BAD_MODE),
        (
            {"mode_code": 0xFFFFFFFF, "dims": (0, 0, 0), "misalign": (1, 1, 1)},
            regmap.STATUS_BAD_MODE | regmap.STATUS_BAD_DIMS | regmap.STATUS_MISALIGNED,
        ),
    ]
    for kwargs, expected in cases:
        run = await run_gemm(tb, a, b, "i8i8", timeout=200, **kwargs)
        cnt = run.counters
        assert cnt["STATUS"] == expected, (kwargs, cnt)
        assert cnt["BYTES_READ"] == 0 and cnt["BYTES_WRITTEN"] == 0 and cnt["MACS"] == 0, (kwargs, cnt)
        assert np.array_equal(run.outputs["c"], guard_c), f"{kwargs}: output written"
    check_gemm(await run_gemm(tb, a, b, "i8i8"), a, b, "i8i8")


@cocotb.test()
async def gemm_resnet_tile(dut):
    """A ResNet-20-like GEMM on the default build: exact, and the array kept busy (> 80 %)."""
    tb = KernelTB(dut, "gemm")
    await tb.reset()
    rng = np.random.default_rng(11)
    a, b = random_operands(rng, 32, 144, 64, "i8u8")
    run = await run_gemm(tb, a, b, "i8u8")
    check_gemm(run, a, b, "i8u8")
    eff = run.counters["MACS"] / (run.counters["CYCLES_BUSY"] * _array_size())
    dut._log.warning(
        "32x144x64 i8u8: %d cycles, efficiency %.3f, stall %d",
        run.counters["CYCLES_BUSY"],
        eff,
        run.counters["CYCLES_MEM_STALL"],
    )
    assert eff > 0.80, run.counters


# =========================================================================================
# pytest runners
# =========================================================================================
SMALL_CASES = [
    "gemm_regmap",
    "gemm_random",
    "gemm_edges",
    "gemm_backpressure",
    "gemm_reset_midrun",
    "gemm_bad_args",
]


def _run(sim: str, case: str, params: dict[str, int]) -> None:
    e2sim.run(sim, "gemm", "test_fpga_gemm", params=params, testcase=case, python_paths=(Path(__file__).parent,))


@pytest.mark.parametrize("case", SMALL_CASES)
def test_gemm_icarus(case: str, require_sim) -> None:
    require_sim("icarus")
    _run("icarus", case, SMALL)


def test_gemm_icarus_default_build(require_sim) -> None:
    require_sim("icarus")
    _run("icarus", "gemm_resnet_tile", DEFAULT)


@pytest.mark.verilator
@pytest.mark.parametrize("case", SMALL_CASES)
def test_gemm_verilator(case: str, require_sim) -> None:
    require_sim("verilator")
    _run("verilator", case, SMALL)


@pytest.mark.verilator
def test_gemm_verilator_default_build(require_sim) -> None:
    require_sim("verilator")
    _run("verilator", "gemm_resnet_tile", DEFAULT)
