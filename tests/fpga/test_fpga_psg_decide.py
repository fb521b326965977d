"""cocotb bench of psg_wgrad's decision unit (fpga/rtl/e2_psg_decide.v) on its own, against the reference rule.

Rows of partial sums are loaded on random cycles with thresholds that include the edges: TAU = 0 (all
confident), 2**64 - 1 (none), and TAU exactly at, one below and one above |16 Pr| of an entry; the sums
include 0, +-1 and the 48-bit extremes.  One cycle after a load, ``confident`` must equal
``|16 Pr| >= TAU`` (``e2train.kernels.reference``'s rule) column by column, with ``cap`` / ``cap_row``
naming the row; without a load ``cap`` stays low.
"""

from __future__ import annotations

from pathlib import Path

import e2sim
import numpy as np
import pytest

_HINT = "pip install cocotb==2.1.0 cocotbext-axi==0.1.28"
cocotb = pytest.importorskip("cocotb", reason=f"cocotb is not installed: {_HINT}")
from cocotb.clock import Clock  # noqa: E402
from cocotb.triggers import FallingEdge, ReadOnly  # noqa: E402

S, SW = 8, 3
PARAMS = {"S": S, "SW": SW}
EXTREMES = [0, 1, -1, 2**47 - 1, -(2**47), 2**43, -(2**43)]


def confident(pr: int, tau: int) -> bool:
    return 16 * abs(pr) >= tau


def row_bits(sums: list[int]) -> int:
    return sum((value & (2**48 - 1)) << (48 * j) for j, value in enumerate(sums))


@cocotb.test()
async def decisions_match_the_rule(dut) -> None:
    rng = np.random.default_rng(7)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.clear.value, dut.load.value, dut.row.value, dut.sums.value, dut.tau.value = 1, 0, 0, 0, 0
    await FallingEdge(dut.clk)
    dut.clear.value = 0
    decided = 0
    for step in range(400):
        sums = [int(v) for v in rng.choice(EXTREMES, S)] if step % 5 == 0 else \
            [int(v) for v in rng.integers(-(2**47), 2**47, S)]
        pick = abs(sums[int(rng.integers(S))])
        tau = [0, 2**64 - 1, 16 * pick, 16 * pick - 1, 16 * pick + 1, int(rng.integers(0, 2**53))][step % 6]
        tau = max(tau, 0)
        load, row = int(rng.random() < 0.7), int(rng.integers(S))
        dut.load.value, dut.row.value, dut.sums.value, dut.tau.value = load, row, row_bits(sums), tau
        await FallingEdge(dut.clk)  # the load happens at the rising edge in between
        dut.load.value = 0
        await ReadOnly()
        assert int(dut.cap.value) == load
        if load:
            assert int(dut.cap_row.value) == row
            got = [bool((int(dut.confident.value) >> j) & 1) for j in range(S)]
            assert got == [confident(v, tau) for v in sums], (sums, tau)
            decided += 1
        await FallingEdge(dut.clk)
        await ReadOnly()
        assert int(dut.cap.value) == 0, "cap without a load"
        await FallingEdge(dut.clk)
    assert decided > 200


@pytest.mark.parametrize("sim", [pytest.param("icarus"),
                                 pytest.param("verilator", marks=pytest.mark.verilator)])
def test_psg_decide(sim: str, require_sim) -> None:
    require_sim(sim)
    e2sim.run(sim, "e2_psg_decide", "test_fpga_psg_decide", params=PARAMS, python_paths=(Path(__file__).parent,))
