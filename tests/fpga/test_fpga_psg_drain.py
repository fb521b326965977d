"""cocotb bench of psg_wgrad's result drain (fpga/rtl/e2_psg_drain.v) on its own, against a Python model.

Random subtiles (every row and column count from 1 to S, random signs and masks, offsets and strides)
are loaded one after another while the write port accepts commands and data on random cycles.  The
segments that come out must be, in order, each row's signs (int8 -1/0/+1) then its mask bytes, at the
right address and length, with zeros in the lanes past the subtile's edge; ``busy`` must drop only
after the last word.  Both kernel benches cover the drain in place as well.
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

S, SW, AW, LENW = 16, 4, 40, 20  # S = 16: a row segment spans two words
PARAMS = {"S": S, "SW": SW, "AW": AW, "OWORDS": (S + 7) // 8}
S_BASE, M_BASE = 0x10_0000, 0x80_0000


def expected_segments(rows: int, cols: int, offset: int, stride: int, signs: np.ndarray,
                      masks: np.ndarray) -> list[tuple[int, bytes]]:
    """The model: per row, (address, bytes) of the sign segment, then of the mask segment."""
    out = []
    for r in range(rows):
        row_signs = signs[r, :cols].astype(np.int8).tobytes()
        row_masks = masks[r, :cols].astype(np.uint8).tobytes()
        out += [(S_BASE + offset + r * stride, row_signs), (M_BASE + offset + r * stride, row_masks)]
    return out


def pack_results(signs: np.ndarray, masks: np.ndarray) -> tuple[int, int]:
    """The PEs' result registers as the drain sees them: per PE {negative, non-zero}, and the mask bit."""
    sign_bits = mask_bits = 0
    for pe, (sign, mask) in enumerate(zip(signs.ravel(), masks.ravel(), strict=True)):
        sign_bits |= ((2 if sign < 0 else 0) | (1 if sign != 0 else 0)) << (2 * pe)
        mask_bits |= int(mask) << pe
    return sign_bits, mask_bits


@cocotb.test()
async def drain_matches_the_model(dut) -> None:
    rng = np.random.default_rng(11)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.clear.value, dut.load.value = 1, 0
    dut.wr_cmd_ready.value, dut.wr_dat_ready.value = 0, 0
    dut.s_base.value, dut.m_base.value = S_BASE, M_BASE
    await FallingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.clear.value = 0
    shapes = [(r, c) for r in range(1, S + 1) for c in range(1, S + 1) if rng.random() < 0.15] + [(S, S), (1, 1)]
    for rows, cols in shapes:
        signs = rng.integers(-1, 2, (S, S))
        masks = rng.integers(0, 2, (S, S))
        offset, stride = int(rng.integers(0, 1 << 16)), int(rng.integers(S, 1 << 12))
        sign_bits, mask_bits = pack_results(signs, masks)
        dut.load.value, dut.rows.value, dut.cols.value = 1, rows, cols
        dut.offset.value, dut.row_stride.value = offset, stride
        dut.signs.value, dut.masks.value = sign_bits, mask_bits
        await FallingEdge(dut.clk)
        dut.load.value = 0
        got: list[tuple[int, bytes]] = []
        words: list[int] = []
        length = 0
        for _ in range(40 * S):  # far more cycles than the drain needs even at 30 % ready
            dut.wr_cmd_ready.value = int(rng.random() < 0.7)
            dut.wr_dat_ready.value = int(rng.random() < 0.7)
            await ReadOnly()
            if int(dut.wr_cmd_valid.value) and int(dut.wr_cmd_ready.value):
                cmd = int(dut.wr_cmd.value)
                address, length = cmd >> LENW, cmd & ((1 << LENW) - 1)
                assert not words, "a command before the previous segment's data was complete"
                got.append((address, b""))
            if int(dut.wr_dat_valid.value) and int(dut.wr_dat_ready.value):
                words.append(int(dut.wr_dat.value))
                if 8 * len(words) >= length:
                    data = b"".join(w.to_bytes(8, "little") for w in words)
                    assert data[length:] == bytes(len(data) - length), "nonzero bytes past the subtile's edge"
                    got[-1] = (got[-1][0], data[:length])
                    words = []
            busy = int(dut.busy.value)
            await FallingEdge(dut.clk)
            if not busy:
                break
        assert not int(dut.busy.value), f"drain of a {rows} x {cols} subtile did not finish"
        assert got == expected_segments(rows, cols, offset, stride, signs, masks), (rows, cols)


@pytest.mark.parametrize("sim", [pytest.param("icarus"),
                                 pytest.param("verilator", marks=pytest.mark.verilator)])
def test_psg_drain(sim: str, require_sim) -> None:
    require_sim(sim)
    e2sim.run(sim, "e2_psg_drain", "test_fpga_psg_drain", params=PARAMS, python_paths=(Path(__file__).parent,))
