"""cocotb bench of the psg_wgrad RTL (fpga/rtl/e2_psg_wgrad.v), driven from pytest.

Same layout as test_fpga_gemm.py: cocotb tests and their pytest runners in one file.  The small
build (PC=32) makes short reductions span several P chunks, so the chunked prediction pass, the
decision hand-shake and the reloaded recompute pass are all exercised.  Outputs (signs, mask) and
RECOMPUTED / MACS are compared exactly with ``e2train.kernels.reference.psg_wgrad``.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import e2sim
import numpy as np
import pytest

from e2train.device.memory_stalls import bursty_latency, pause_pattern
from e2train.energy.cycle_model import CycleModel
from e2train.kernels import regmap
from e2train.kernels.reference import exact_matmul, msb4
from e2train.kernels.reference import psg_wgrad as ref_psg

_HINT = "pip install cocotb==2.1.0 cocotbext-axi==0.1.28"
cocotb = pytest.importorskip("cocotb", reason=f"cocotb is not installed: {_HINT}")
pytest.importorskip("cocotbext.axi", reason=f"cocotbext-axi is not installed: {_HINT}")
from e2tb import (  # noqa: E402  (needs cocotb, checked just above)
    KernelTB,
    check_unmapped_words,
    run_psg,
)

SMALL = {"PC": 32, "MAXB": 4, "U": 2, "TB": 2}  # short P chunks, bursts split every 4 beats, 16 x 16 blocks
DEFAULT: dict[str, int] = {}
TAU_ALL = 2**64 - 1  # |16 * Pr| < TAU everywhere: recompute every entry


def random_psg(
    rng: np.random.Generator, n: int, k: int, p: int, x_signed: bool
) -> tuple[np.ndarray, np.ndarray]:
    x = (
        rng.integers(-128, 127, (k, p), endpoint=True).astype(np.int8)
        if x_signed
        else rng.integers(0, 255, (k, p), endpoint=True).astype(np.uint8)
    )
    g = rng.integers(-32768, 32767, (n, p), endpoint=True).astype(np.int16)
    return x, g


def tau_for_fraction(x: np.ndarray, g: np.ndarray, x_signed: bool, fraction: float) -> int:
    """A threshold under which about `fraction` of the entries fall (recompute fraction)."""
    mags = np.sort(np.abs(16 * exact_matmul(g, msb4(x, x_signed).T)).ravel())
    if fraction <= 0:
        return 0
    if fraction >= 1:
        return TAU_ALL
    index = min(round(fraction * mags.size), mags.size - 1)
    return int(min(mags[index], TAU_ALL))


def check_psg(run, x: np.ndarray, g: np.ndarray, tau: int, x_signed: bool) -> None:
    ref = ref_psg(x, g, tau, x_signed)
    signs, mask = run.outputs["signs"], run.outputs["mask"]
    if not np.array_equal(mask, ref.recompute_mask):
        bad = np.argwhere(mask != ref.recompute_mask)
        raise AssertionError(
            f"mask: {len(bad)} wrong for X{x.shape} G{g.shape} tau={tau}; first {bad[0]}: "
            f"got {mask[tuple(bad[0])]} want {ref.recompute_mask[tuple(bad[0])]}"
        )
    if not np.array_equal(signs, ref.signs):
        bad = np.argwhere(signs != ref.signs)
        raise AssertionError(
            f"signs: {len(bad)} wrong for X{x.shape} G{g.shape} tau={tau}; first {bad[0]}: "
            f"got {signs[tuple(bad[0])]} want {ref.signs[tuple(bad[0])]}"
        )
    cnt = run.counters
    n, k = signs.shape
    assert cnt["STATUS"] == 0, cnt
    assert cnt["RECOMPUTED"] == ref.recomputed, (cnt, ref.recomputed)
    assert cnt["MACS"] == ref.macs_predict + ref.macs_full, (cnt, ref.macs_predict, ref.macs_full)
    assert cnt["BYTES_WRITTEN"] == 2 * n * k, cnt
    assert cnt["BYTES_READ"] >= x.nbytes + g.nbytes, cnt
    if x.shape[1] % 8 == 0:  # every row chunk starts on a bus word: the traffic is exact
        params = e2sim.build_params()
        model = CycleModel(
            psg_pc=params.get("PC", CycleModel.psg_pc),
            psg_u=params.get("U", CycleModel.psg_u),
            psg_tb=params.get("TB", CycleModel.psg_tb),
        )
        want = model.psg_read_bytes(n, k, x.shape[1], ref.recompute_mask)
        assert cnt["BYTES_READ"] == want, (cnt, want)
    assert cnt["OVERFLOWS"] == 0, cnt
    assert 0 <= cnt["CYCLES_MEM_STALL"] < cnt["CYCLES_BUSY"], cnt


# =========================================================================================
# cocotb tests
# =========================================================================================
@cocotb.test()
async def psg_regmap(dut):
    """Register map of psg_wgrad: reset state, argument read-back, read-only counters."""
    tb = KernelTB(dut, "psg_wgrad")
    await tb.reset()
    assert await tb.read_ctrl() == regmap.AP_IDLE
    for index, reg in enumerate(
        r for r in regmap.PSG_WGRAD.registers if not r.read_only and r.offset >= 0x10
    ):
        value = (0x0F1E_2D3C_4B5A_6978 + index * 0x0101) & ((1 << reg.width_bits) - 1)
        await tb.write_reg(reg.name, value)
        assert await tb.read_reg(reg.name) == value, reg.name
    await check_unmapped_words(tb)
    for name in ("STATUS", "RECOMPUTED", "MACS"):
        await tb.axil.write_dword(regmap.PSG_WGRAD[name].offset, 0xFFFFFFFF)
        assert await tb.read_reg(name) == 0, f"{name} is read-only"
    rng = np.random.default_rng(4)
    x, g = random_psg(rng, 5, 6, 40, True)
    tau = tau_for_fraction(x, g, True, 0.3)
    check_psg(await run_psg(tb, x, g, tau, True), x, g, tau, True)
    assert await tb.read_ctrl() == regmap.AP_IDLE


@cocotb.test()
async def psg_random(dut):
    """Random shapes and thresholds (no, some, all entries recomputed), signed and unsigned X."""
    tb = KernelTB(dut, "psg_wgrad")
    await tb.reset()
    rng = np.random.default_rng(77)
    shapes = [(1, 1, 1), (1, 3, 9), (8, 8, 32), (5, 13, 33), (17, 9, 70), (9, 17, 16), (3, 2, 100), (11, 10, 104)]
    for index, (n, k, p) in enumerate(shapes):
        x_signed = index % 2 == 0
        x, g = random_psg(rng, n, k, p, x_signed)
        for fraction in (0.0, 0.25, 1.0):
            tau = tau_for_fraction(x, g, x_signed, fraction)
            check_psg(await run_psg(tb, x, g, tau, x_signed), x, g, tau, x_signed)


@cocotb.test()
async def psg_edges(dut):
    """Extreme codes, zero operands (sign 0), tau 0 and 1, and predictions whose sign is wrong."""
    tb = KernelTB(dut, "psg_wgrad")
    await tb.reset()
    cases = [
        (np.zeros((5, 9), np.int8), np.zeros((3, 9), np.int16), 1, True),
        (np.zeros((5, 9), np.uint8), np.full((3, 9), 7, np.int16), 0, False),
        (np.full((4, 40), 127, np.int8), np.full((6, 40), -32768, np.int16), TAU_ALL, True),
        (np.full((4, 40), -128, np.int8), np.full((6, 40), 32767, np.int16), 1 << 20, True),
        (np.full((3, 35), 255, np.uint8), np.full((2, 35), -32768, np.int16), TAU_ALL, False),
    ]
    # msb4 rounds 7 to 0 and 8 to 1: the prediction sees 0 or the wrong sign, the full product not
    x = np.array([[7, 7, 8, -8], [8, -9, 7, 7]], np.int8)
    g = np.array([[1000, 1000, -900, 100], [-5, 5, 3, -3]], np.int16)
    cases.append((x, g, 1 << 16, True))
    cases.append((x, g, 0, True))
    # |16 * Pr| above 2**32 (TAU needs its high word): 1 << 33 splits these entries
    x = np.full((3, 1100), -128, np.int8)
    x[1, :550] = 100
    g = np.full((2, 1100), -32768, np.int16)
    for tau in (1 << 33, (1 << 32) + 5, TAU_ALL):
        cases.append((x, g, tau, True))
    for x, g, tau, x_signed in cases:
        check_psg(await run_psg(tb, x, g, tau, x_signed), x, g, tau, x_signed)


@cocotb.test()
async def psg_counters(dut):
    """Cycles and MACs fall with the recompute fraction (same operands, several thresholds)."""
    tb = KernelTB(dut, "psg_wgrad")
    await tb.reset()
    rng = np.random.default_rng(8)
    x, g = random_psg(rng, 16, 16, 64, False)
    runs = []
    for fraction in (1.0, 0.5, 0.1, 0.0):
        tau = tau_for_fraction(x, g, False, fraction)
        run = await run_psg(tb, x, g, tau, False)
        check_psg(run, x, g, tau, False)
        runs.append(run.counters)
    for more, less in itertools.pairwise(runs):
        assert more["RECOMPUTED"] > less["RECOMPUTED"], (more, less)
        assert more["MACS"] > less["MACS"], (more, less)
        assert more["CYCLES_BUSY"] >= less["CYCLES_BUSY"], (more, less)
    assert runs[0]["CYCLES_BUSY"] > runs[-1]["CYCLES_BUSY"], runs


@cocotb.test()
async def psg_backpressure(dut):
    """Random stalls on every AXI channel and bursty latency: results unchanged."""
    tb = KernelTB(dut, "psg_wgrad")
    await tb.reset()
    rng = np.random.default_rng(12)
    tb.set_memory_stalls(lambda ch: pause_pattern(ch + 3, 0.45))
    x, g = random_psg(rng, 10, 11, 45, True)
    tau = tau_for_fraction(x, g, True, 0.4)
    check_psg(await run_psg(tb, x, g, tau, True), x, g, tau, True)
    tb.set_memory_stalls(lambda ch: bursty_latency(ch + 9, 30))
    x, g = random_psg(rng, 9, 7, 70, False)
    tau = tau_for_fraction(x, g, False, 0.6)
    check_psg(await run_psg(tb, x, g, tau, False), x, g, tau, False)
    tb.set_memory_stalls(None)


@cocotb.test()
async def psg_reset_midrun(dut):
    """Reset during a run: idle, bus quiet, counters cleared; the next run is exact."""
    tb = KernelTB(dut, "psg_wgrad")
    await tb.reset()
    rng = np.random.default_rng(21)
    x, g = random_psg(rng, 24, 24, 90, True)
    tb.reset_alloc()
    addrs = [tb.alloc(x.nbytes), tb.alloc(g.nbytes), tb.alloc(24 * 24), tb.alloc(24 * 24)]
    tb.put(addrs[0], x)
    tb.put(addrs[1], g)
    for name, value in zip(("X_ADDR", "G_ADDR", "S_ADDR", "MASK_ADDR"), addrs):
        await tb.write_reg(name, value)
    for name, value in (("N", 24), ("K", 24), ("P", 90), ("TAU", TAU_ALL), ("MODE", 0)):
        await tb.write_reg(name, value)
    await tb.start()
    await tb.cycles(900)
    assert not (await tb.read_ctrl()) & regmap.AP_IDLE
    await tb.reset(cycles=2)
    for _ in range(20):
        assert int(dut.m_axi_gmem_arvalid.value) == 0 and int(dut.m_axi_gmem_awvalid.value) == 0
        assert int(dut.m_axi_gmem_wvalid.value) == 0 and int(dut.irq.value) == 0
        await tb.cycles(1)
    assert await tb.read_ctrl() == regmap.AP_IDLE
    assert await tb.read_reg("RECOMPUTED") == 0 and await tb.read_reg("CYCLES_BUSY") == 0
    x2, g2 = random_psg(rng, 7, 5, 41, False)
    tau = tau_for_fraction(x2, g2, False, 0.5)
    check_psg(await run_psg(tb, x2, g2, tau, False), x2, g2, tau, False)


@cocotb.test()
async def psg_bad_args(dut):
    """Invalid dims / addresses / mode: error bits, prompt ap_done, no traffic, outputs untouched."""
    tb = KernelTB(dut, "psg_wgrad")
    await tb.reset()
    rng = np.random.default_rng(2)
    x, g = random_psg(rng, 3, 4, 10, True)
    guard = np.frombuffer(bytes([0xA5]) * 12, np.int8).reshape(3, 4)
    cases = [
        ({"dims": (0, 4, 10)}, regmap.STATUS_BAD_DIMS),
        ({"dims": (3, 0, 10)}, regmap.STATUS_BAD_DIMS),
        ({"dims": (3, 4, 0)}, regmap.STATUS_BAD_DIMS),
        ({"dims": (3, 4, regmap.MAX_P + 1)}, regmap.STATUS_BAD_DIMS),
        ({"dims": (3, regmap.MAX_DIM + 1, 10)}, regmap.STATUS_BAD_DIMS),
        ({"misalign": (1, 0, 0, 0)}, regmap.STATUS_MISALIGNED),
        ({"misalign": (0, 2, 0, 0)}, regmap.STATUS_MISALIGNED),
        ({"misalign": (0, 0, 4, 0)}, regmap.STATUS_MISALIGNED),
        ({"misalign": (0, 0, 0, 7)}, regmap.STATUS_MISALIGNED),
        ({"mode_code": 2}, regmap.STATUS_BAD_MODE),
        ({"mode_code": 9, "dims": (3, 4, 0)}, regmap.STATUS_BAD_MODE | regmap.STATUS_BAD_DIMS),
    ]
    for kwargs, expected in cases:
        run = await run_psg(tb, x, g, 100, True, timeout=200, **kwargs)
        cnt = run.counters
        assert cnt["STATUS"] == expected, (kwargs, cnt)
        assert cnt["BYTES_READ"] == 0 and cnt["BYTES_WRITTEN"] == 0 and cnt["MACS"] == 0, (kwargs, cnt)
        assert np.array_equal(run.outputs["signs"], guard), kwargs
        assert np.array_equal(run.outputs["mask"].view(np.int8), guard), kwargs
    check_psg(await run_psg(tb, x, g, 100, True), x, g, 100, True)


@cocotb.test()
async def psg_default_build(dut):
    """The default (synthesised) parameters on a ResNet-like slice, with a mixed threshold."""
    tb = KernelTB(dut, "psg_wgrad")
    await tb.reset()
    rng = np.random.default_rng(31)
    x, g = random_psg(rng, 16, 18, 256, False)
    for fraction in (0.2, 1.0):
        tau = tau_for_fraction(x, g, False, fraction)
        check_psg(await run_psg(tb, x, g, tau, False), x, g, tau, False)


# =========================================================================================
# pytest runners
# =========================================================================================
SMALL_CASES = [
    "psg_regmap",
    "psg_random",
    "psg_edges",
    "psg_counters",
    "psg_backpressure",
    "psg_reset_midrun",
    "psg_bad_args",
]


def _run(sim: str, case: str, params: dict[str, int]) -> None:
    e2sim.run(sim, "psg_wgrad", "test_fpga_psg", params=params, testcase=case, python_paths=(Path(__file__).parent,))


@pytest.mark.parametrize("case", SMALL_CASES)
def test_psg_icarus(case: str, require_sim) -> None:
    require_sim("icarus")
    _run("icarus", case, SMALL)


def test_psg_icarus_default_build(require_sim) -> None:
    require_sim("icarus")
    _run("icarus", "psg_default_build", DEFAULT)


@pytest.mark.verilator
@pytest.mark.parametrize("case", SMALL_CASES)
def test_psg_verilator(case: str, require_sim) -> None:
    require_sim("verilator")
    _run("verilator", case, SMALL)


@pytest.mark.verilator
def test_psg_verilator_default_build(require_sim) -> None:
    require_sim("verilator")
    _run("verilator", "psg_default_build", DEFAULT)
