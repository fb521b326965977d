"""cocotb bench of one psg_wgrad PE (fpga/rtl/e2_psg_pe.v) on its own, against numpy.

Scenarios as the kernel's sequencer drives them: a prediction run per subtile (G x msb4(X) dot
products), the accumulator written back and a later chunk continuing from the stored sum, the
decision (confident: the predicted sign; unconfident: cleared and recomputed from column sums),
and the result registers.  The whole kernel's benches cover the PE in place as well.
"""

from __future__ import annotations

from pathlib import Path

import e2sim
import numpy as np
import pytest

_HINT = "pip install cocotb==2.1.0 cocotbext-axi==0.1.28"
cocotb = pytest.importorskip("cocotb", reason=f"cocotb is not installed: {_HINT}")
from cocotb.clock import Clock  # noqa: E402
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge  # noqa: E402

PARAMS = {"V": 4, "VW": 2, "SW": 3}
INPUTS = ("s1_valid", "s1_pred", "x_signed", "g_pred", "xm_pred", "g_rec", "x_rec", "acc_pred", "acc_rec",
          "acc_first", "acc_keep", "s2_zero", "mine", "colsum", "wb_en", "acc_v", "dec_clear", "c_v", "sum_rv",
          "dec_cap", "valid", "confident", "fin_now")


def _bits(value: int, width: int) -> int:
    return value & ((1 << width) - 1)


def _signed(value: int, width: int) -> int:
    return value - (1 << width) if value >> (width - 1) else value


async def _cycle(dut, **signals: int) -> None:
    """Drive one cycle: every input not named is 0."""
    await FallingEdge(dut.clk)
    widths = {"g_pred": 16, "xm_pred": 10, "g_rec": 16, "x_rec": 8, "colsum": 29}
    for name in INPUTS:
        value = signals.get(name, 0)
        getattr(dut, name).value = _bits(value, widths[name]) if name in widths else value
    await RisingEdge(dut.clk)


async def _sum(dut, v: int) -> int:
    await FallingEdge(dut.clk)
    dut.sum_rv.value = v
    await ReadOnly()
    return _signed(int(dut.sum_q.value), 48)


async def _predict(dut, v: int, g: np.ndarray, m: np.ndarray, fresh: bool) -> None:
    """One prediction run of subtile v: the product of cycle p is accumulated in cycle p + 1."""
    for p in range(len(g) + 1):
        acc = p > 0
        await _cycle(dut, s1_valid=p < len(g), s1_pred=1, g_pred=int(g[p]) if p < len(g) else 0,
                     xm_pred=int(m[p]) if p < len(g) else 0, acc_pred=acc, acc_first=p == 1, s2_zero=fresh,
                     sum_rv=v)
    await _cycle(dut, wb_en=1, acc_v=v)  # the accumulator back to the subtile's sum


@cocotb.test()
async def pe_predicts_decides_and_recomputes(dut) -> None:
    rng = np.random.default_rng(5)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    await _cycle(dut)
    g = rng.integers(-32768, 32768, (3, 40))
    m = rng.integers(-8, 8, (3, 40))
    await _predict(dut, 0, g[0], m[0], fresh=True)
    await _predict(dut, 1, -np.abs(g[1]), np.abs(m[1]) + 1, fresh=True)  # a surely negative sum
    assert await _sum(dut, 0) == int(g[0] @ m[0])
    await _predict(dut, 0, g[2], m[2], fresh=False)  # the next chunk continues subtile 0's sum
    assert await _sum(dut, 0) == int(g[0] @ m[0] + g[2] @ m[2])
    predicted_1 = await _sum(dut, 1)
    assert predicted_1 == int(-np.abs(g[1]) @ (np.abs(m[1]) + 1)) < 0

    # decision: subtile 0 unconfident (cleared, recomputed from column sums), subtile 1 confident
    await _cycle(dut, dec_cap=1, valid=1, confident=0, c_v=0, sum_rv=0)
    await _cycle(dut, dec_cap=1, valid=1, confident=1, c_v=1, sum_rv=1)
    await _cycle(dut, dec_clear=1, c_v=0)
    assert await _sum(dut, 0) == 0
    colsums = [int(c) for c in rng.integers(-(1 << 27), 1 << 27, 6)]
    mine = [1, 0, 1, 1, 0, 1]  # steps in which the column works on this entry
    for step, (c, on) in enumerate(zip(colsums, mine, strict=True)):
        await _cycle(dut, acc_rec=1, acc_first=step == 0, mine=on, colsum=c, sum_rv=0)
    await _cycle(dut, wb_en=1, acc_v=0)
    full = sum(c for c, on in zip(colsums, mine, strict=True) if on)
    assert await _sum(dut, 0) == full

    for v, (neg, nz, mask) in [(0, (full < 0, full != 0, 1)), (1, (1, 1, 0))]:
        await _cycle(dut, fin_now=1, c_v=v, sum_rv=v)
        await ReadOnly()
        got = (int(dut.r_neg.value), int(dut.r_nz.value), int(dut.r_mask.value))
        assert got == (int(neg), int(nz), mask), (v, got)


@pytest.mark.parametrize("sim", [pytest.param("icarus"),
                                 pytest.param("verilator", marks=pytest.mark.verilator)])
def test_psg_pe(sim: str, require_sim) -> None:
    require_sim(sim)
    e2sim.run(sim, "e2_psg_pe", "test_fpga_psg_pe", params=PARAMS, python_paths=(Path(__file__).parent,))
