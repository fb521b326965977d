"""cocotb bench of the kernel shell (fpga/rtl/e2_kernel_shell.v) on its own, with a model core.

The bench plays the core: it waits for ``core_start``, stays busy for a random number of cycles with
random stall and MAC inputs, moves one read segment and one write segment through the shell's AXI
master (into and out of a cocotbext-axi RAM), then pulses ``core_done``.  A Python model of the
counters, fed the very inputs each clock edge samples, must match what the host reads over AXI4-Lite:
cleared when a run starts, counting only while the core is not idle, frozen after ap_done.  Two runs
back to back show the clearing.  The kernels' benches cover the shell in place as well.
"""

from __future__ import annotations

from pathlib import Path

import e2sim
import numpy as np
import pytest

_HINT = "pip install cocotb==2.1.0 cocotbext-axi==0.1.28"
cocotb = pytest.importorskip("cocotb", reason=f"cocotb is not installed: {_HINT}")
from cocotb.clock import Clock  # noqa: E402
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly  # noqa: E402
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam  # noqa: E402

from e2train.kernels import regmap  # noqa: E402

MACW = 7
PARAMS = {"MACW": MACW, "TAGW": 4}
LENW = 20  # the shell's default segment-length width
READ_AT, READ_BYTES, READ_TAG = 0x200, 40, 0x9
WRITE_AT, WRITE_WORDS = 0x400, (0x1122334455667788, 0x99AABBCCDDEEFF00)
OVERFLOWS, RECOMPUTED, STATUS = 7, 11, 0x8


class CounterModel:
    """The shell's counting rule, stated independently of the RTL."""

    def __init__(self) -> None:
        self.busy = self.stall = self.macs = 0

    def edge(self, idle: int, start: int, stall: int, macs: int) -> None:
        if idle and start:
            self.busy = self.stall = self.macs = 0
        elif not idle:
            self.busy += 1
            self.stall += stall
            self.macs += macs


class ModelCore:
    """Drives the shell's core-side inputs; every falling edge records what the next rising edge samples."""

    def __init__(self, dut, rng: np.random.Generator) -> None:
        self.dut, self.rng, self.model = dut, rng, CounterModel()
        self.read_words: list[int] = []
        for name, value in [("core_done", 0), ("core_idle", 1), ("core_stall", 0), ("core_macs", 0),
                            ("status", STATUS), ("overflows", OVERFLOWS), ("recomputed", RECOMPUTED),
                            ("rd_cmd_valid", 0), ("wr_cmd_valid", 0), ("wr_dat_valid", 0)]:
            getattr(dut, name).value = value

    async def tick(self) -> dict[str, int]:
        """Let one rising edge pass after the inputs set since the last tick; feed the model what that
        edge samples, and return the handshake signals it saw."""
        await ReadOnly()
        d = self.dut
        self.model.edge(int(d.core_idle.value), int(d.core_start.value), int(d.core_stall.value),
                        int(d.core_macs.value))
        if int(d.rd_out_valid.value):
            assert int(d.rd_out_tag.value) == READ_TAG
            self.read_words.append(int(d.rd_out_data.value))
        seen = {name: int(getattr(d, name).value) for name in ("rd_cmd_valid", "rd_cmd_ready", "wr_cmd_valid",
                                                               "wr_cmd_ready", "wr_dat_valid", "wr_dat_ready")}
        await FallingEdge(d.clk)
        return seen

    async def serve_one_run(self, busy_cycles: int) -> None:
        d = self.dut
        while not int(d.core_start.value):
            await self.tick()
        await self.tick()  # the edge that starts the run (and clears the counters)
        d.core_idle.value = 0
        d.rd_cmd_valid.value, d.rd_cmd_addr.value, d.rd_cmd_len.value = 1, READ_AT, READ_BYTES
        d.rd_cmd_tag.value = READ_TAG
        d.wr_cmd_valid.value, d.wr_cmd.value = 1, (WRITE_AT << LENW) | 8 * len(WRITE_WORDS)
        words = list(WRITE_WORDS)
        d.wr_dat_valid.value, d.wr_dat.value = 1, words.pop(0)
        for _ in range(busy_cycles):
            d.core_stall.value = int(self.rng.random() < 0.3)
            d.core_macs.value = int(self.rng.integers(0, 1 << MACW))
            seen = await self.tick()
            if seen["rd_cmd_valid"] and seen["rd_cmd_ready"]:
                d.rd_cmd_valid.value = 0
            if seen["wr_cmd_valid"] and seen["wr_cmd_ready"]:
                d.wr_cmd_valid.value = 0
            if seen["wr_dat_valid"] and seen["wr_dat_ready"]:
                d.wr_dat_valid.value, d.wr_dat.value = (1, words.pop(0)) if words else (0, 0)
        while not int(d.axi_idle.value) or int(d.rd_cmd_valid.value) or int(d.wr_dat_valid.value):
            await self.tick()  # the kernels finish only once the AXI master is idle
        d.core_stall.value, d.core_macs.value, d.core_done.value = 0, 0, 1
        await self.tick()
        d.core_done.value, d.core_idle.value = 0, 1
        await self.tick()


async def read_counters(axil: AxiLiteMaster) -> dict[str, int]:
    out = {}
    for name in regmap.COUNTER_NAMES:
        reg = regmap.GEMM[name]
        out[name] = reg.join([await axil.read_dword(offset) for offset in reg.word_offsets])
    return out


@cocotb.test()
async def counters_and_data_paths_match_the_model(dut) -> None:
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi_control"), dut.clk, dut.rst)
    ram = AxiRam(AxiBus.from_prefix(dut, "m_axi_gmem"), dut.clk, dut.rst, size=1 << 12)
    source = bytes(range(256))[:READ_BYTES]
    ram.write(READ_AT, source)
    core = ModelCore(dut, np.random.default_rng(5))
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    await FallingEdge(dut.clk)

    for run, busy_cycles in enumerate((90, 37)):
        serving = cocotb.start_soon(core.serve_one_run(busy_cycles))
        await axil.write_dword(regmap.GEMM["CTRL"].offset, regmap.AP_START)
        await serving
        assert await axil.read_dword(regmap.GEMM["CTRL"].offset) & regmap.AP_DONE, f"run {run}: no ap_done"
        expected = {"STATUS": STATUS, "CYCLES_BUSY": core.model.busy, "CYCLES_MEM_STALL": core.model.stall,
                    "MACS": core.model.macs, "BYTES_READ": READ_BYTES,  # aligned, whole beats
                    "BYTES_WRITTEN": 8 * len(WRITE_WORDS), "OVERFLOWS": OVERFLOWS,
                    "RECOMPUTED": RECOMPUTED}
        await ClockCycles(dut.clk, 20)  # idle: the counters hold the finished run's values
        assert await read_counters(axil) == {k: expected[k] for k in regmap.COUNTER_NAMES}, f"run {run}"
        assert core.model.busy > busy_cycles and core.model.stall > 0 and core.model.macs > 0
        got = b"".join(w.to_bytes(8, "little") for w in core.read_words)[:READ_BYTES]
        assert got == source, f"run {run}: read segment came back as {got.hex()}"
        written = bytes(ram.read(WRITE_AT, 8 * len(WRITE_WORDS)))
        assert written == b"".join(w.to_bytes(8, "little") for w in WRITE_WORDS), f"run {run}"
        core.read_words.clear()
        ram.write(WRITE_AT, bytes(8 * len(WRITE_WORDS)))


@pytest.mark.parametrize("sim", [pytest.param("icarus"),
                                 pytest.param("verilator", marks=pytest.mark.verilator)])
def test_kernel_shell(sim: str, require_sim) -> None:
    require_sim(sim)
    e2sim.run(sim, "e2_kernel_shell", "test_fpga_kernel_shell", params=PARAMS,
              python_paths=(Path(__file__).parent,))
