"""cocotb bench of the operand bank (fpga/rtl/e2_bank_ram.v) on its own, against a Python model.

Random writes and reads on random cycles, including a read and a write of the same address in one
cycle (the old word comes out, as the kernels' cycle counts assume) and cycles without a read (the
output holds).  Both kernels build their operand banks from this module, so their benches cover it
in place as well.
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

PARAMS = {"DEPTH": 24, "AW": 5}  # not a power of two: the top addresses stay unused


@cocotb.test()
async def bank_ram_matches_a_model(dut) -> None:
    depth = int(dut.DEPTH.value)
    rng = np.random.default_rng(3)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.we.value = 0
    dut.re.value = 0
    await RisingEdge(dut.clk)
    model: dict[int, int] = {}
    expected_q = None
    same_address_cycles = 0
    for _ in range(600):
        we, re = bool(rng.random() < 0.5), bool(rng.random() < 0.6)
        waddr = int(rng.integers(depth))
        raddr = waddr if rng.random() < 0.2 else int(rng.integers(depth))
        wdata = int(rng.integers(0, 1 << 63)) * 2 + int(rng.integers(2))  # all 64 bits
        await FallingEdge(dut.clk)  # inputs change away from the sampling edge
        dut.we.value, dut.waddr.value, dut.wdata.value = int(we), waddr, wdata
        dut.re.value, dut.raddr.value = int(re), raddr
        await RisingEdge(dut.clk)
        if re and raddr in model:
            expected_q = model[raddr]  # the word before this cycle's write
            same_address_cycles += we and raddr == waddr
        elif re:
            expected_q = None  # never written: undefined
        if we:
            model[waddr] = wdata
        await ReadOnly()
        if expected_q is not None:
            assert int(dut.q.value) == expected_q, (raddr, hex(int(dut.q.value)), hex(expected_q))
    assert same_address_cycles > 10


@pytest.mark.parametrize("sim", [pytest.param("icarus"),
                                 pytest.param("verilator", marks=pytest.mark.verilator)])
def test_bank_ram(sim: str, require_sim) -> None:
    require_sim(sim)
    e2sim.run(sim, "e2_bank_ram", "test_fpga_bank_ram", params=PARAMS, python_paths=(Path(__file__).parent,))
