"""A documented, deliberately simple cycle and traffic model of the two kernels.

Why a model at all: the emulated device executes the Python reference, which has no notion of
time; but the simulated power rails (``e2train.power.simulated_rails``) and anything that reports
efficiency need busy cycles and memory traffic.  The model follows the *architecture* of the RTL
in ``fpga/rtl`` (an output-stationary ROWS x COLS MAC array for gemm, S x S subtiles in blocks, with a
prediction and a recompute pass for psg_wgrad, a 64-bit AXI bus moving one beat per cycle), not
its exact schedule: the numbers are estimates of the right order, not what the RTL counts cycle
by cycle.  Tests of the RTL compare *its* counters with the reference; of this model only the psg
read traffic is checked against the RTL exactly (its loading rules, for rows aligned to 8 bytes).

gemm (M x K) x (K x N):
    compute   = ceil(M/ROWS) * ceil(N/COLS) * K          one k-step per cycle per output tile
    blocks    = ceil(M / (TMAX*ROWS)) if K <= KC else ceil(M / ROWS)   (A rows kept on chip)
    read      = words(A) + blocks * words(B)             B is streamed once per block of A rows
    written   = 4 * M * N
    memory    = max(read, written) / 8 beats             read and write channels run in parallel
    busy      = OVERHEAD + LATENCY + max(compute, memory)
    stall     = busy - OVERHEAD - compute                cycles in which the array issued nothing

psg_wgrad, X (K x P), G (N x P), S x S subtiles in blocks of U x TB subtiles (R = U*S rows):
    predict   = subtiles * P                             one p per cycle, every PE a 4 x 16-bit MAC
    recompute = sum over subtiles of (diagonals with an unconfident entry) * ceil(P / S)
    busy      = OVERHEAD + LATENCY + predict + recompute + words(written)
                + PSG_BLOCK_CYCLES * blocks + PSG_READ_EXPOSED * words(read)
                (the RTL drains each block's results and takes its decision with the array idle, and
                hides only part of its row loads; the two constants are fitted to the RTL's counters
                on ResNet-20 layer shapes at batch 1, where the model is within 21 % of every run)
    read      per block: its R G rows (P <= PC: once per block row, they stay on chip) and its
              TB*S X rows, chunk by chunk; a block with an unconfident entry reads again the X
              rows and (P > PC) the G rows that hold one, the G rows of every chunk but the last
              (still on chip, the recompute pass starts on it)
              (exactly what the RTL reads when P is a multiple of 8: tests/fpga checks it)
    written   = 2 * N * K                                signs and mask
    stall     = busy - OVERHEAD - predict - recompute

``words(x)`` rounds a row of x bytes up to whole 8-byte beats.  MACS are the useful MACs
(M*N*K; N*K*P + RECOMPUTED*P), equal to what the RTL counts.  A refused run (bad arguments)
costs ``REFUSED_CYCLES`` and moves no data.

The energy model (``e2train.energy.model``) charges static power for these cycles: every conv
pass of a training step is priced as the kernel run the hardware path makes for it.  Against the
RTL's own counters, a ResNet-20 layer's three runs (forward, input gradient, psg_wgrad) together
are within ``RTL_CYCLE_TOLERANCE`` (``tests/fpga/test_energy_cycles_vs_rtl.py``); gemm reads
low by up to 12 % (per-tile and write-burst set-up cycles are left out).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BEAT_BYTES = 8
OVERHEAD_CYCLES = 4  # check + setup + done states of the control FSM
REFUSED_CYCLES = 2  # check + done
PSG_BLOCK_CYCLES = 128  # per psg_wgrad block: decision hand-shake and pipeline turn-around (RTL, P = 64)
PSG_READ_EXPOSED = 0.6  # share of psg_wgrad's read beats not hidden behind compute (RTL: 0.2-1.0 by P)
RTL_CYCLE_TOLERANCE = 0.15  # |model / RTL - 1| of a ResNet-20 layer's kernel runs, ideal memory (tests/fpga)


def _words(nbytes: int) -> int:
    return -(-nbytes // BEAT_BYTES)


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class RunCost:
    """Modelled activity of one kernel run (the emulated device's counters are filled from it)."""

    cycles_busy: int
    cycles_mem_stall: int
    macs: int
    bytes_read: int
    bytes_written: int

    @property
    def cycles_compute(self) -> int:
        return max(0, self.cycles_busy - self.cycles_mem_stall - OVERHEAD_CYCLES)


@dataclass(frozen=True)
class CycleModel:
    """Array and bus parameters; defaults are the RTL's default parameters at 100 MHz."""

    rows: int = 8  # gemm MAC array rows (ROWS)
    cols: int = 8  # gemm MAC array columns (COLS)
    kc: int = 1024  # gemm K chunk kept on chip (KC)
    tmax: int = 8  # gemm tiles per A block (TMAX)
    psg_s: int = 8  # psg_wgrad subtile edge (S)
    psg_u: int = 4  # psg_wgrad n-subtiles per block (U)
    psg_tb: int = 4  # psg_wgrad k-subtiles per block (TB)
    psg_pc: int = 1024  # psg_wgrad P chunk on chip (PC)
    latency_cycles: int = 40  # first-beat latency of DDR through the HP port
    clock_hz: float = 100e6

    def refused(self) -> RunCost:
        return RunCost(REFUSED_CYCLES, 0, 0, 0, 0)

    def _finish(self, compute: int, read: int, written: int, macs: int) -> RunCost:
        memory = max(_words(read), _words(written))
        busy = OVERHEAD_CYCLES + self.latency_cycles + max(compute, memory)
        return RunCost(busy, busy - OVERHEAD_CYCLES - compute, macs, read, written)

    def gemm(self, m: int, n: int, k: int, b_itemsize: int, a_itemsize: int = 1) -> RunCost:
        """``a_itemsize`` is 1 on the RTL (int8 A); 4 models an fp32 array with the same dataflow."""
        compute = _ceil(m, self.rows) * _ceil(n, self.cols) * k
        block_rows = self.tmax * self.rows if k <= self.kc else self.rows
        blocks = _ceil(m, block_rows)
        read = m * _words(k * a_itemsize) * BEAT_BYTES + blocks * k * _words(n * b_itemsize) * BEAT_BYTES
        return self._finish(compute, read, 4 * m * n, m * n * k)

    def psg(self, n: int, k: int, p: int, recompute_mask: np.ndarray) -> RunCost:
        s = self.psg_s
        tiles = self._psg_tiles(n, k, recompute_mask)
        tn, tk = tiles.shape[:2]
        predict = tn * tk * p
        # diagonal of entry (i, j) inside a tile: (i - j) mod S; by_diagonal[..., i, d] is entry (i, (i - d) mod S)
        rows = np.arange(s)[:, None]
        by_diagonal = tiles[:, :, rows, (rows - np.arange(s)[None, :]) % s]  # (tn, tk, S, S)
        active = by_diagonal.any(axis=2)  # (tn, tk, S): diagonals holding a recomputed entry
        recompute = int(active.sum()) * _ceil(p, s)
        recomputed = int(recompute_mask.astype(bool).sum())
        read = self.psg_read_bytes(n, k, p, recompute_mask)
        written = 2 * n * k
        # The block dataflow serialises what gemm overlaps: each block's decision and result drain,
        # and part of its row loads, happen while the PE array waits.
        blocks = _ceil(n, self.psg_u * s) * _ceil(k, self.psg_tb * s)
        exposed = _words(written) + PSG_BLOCK_CYCLES * blocks + int(PSG_READ_EXPOSED * _words(read))
        busy = OVERHEAD_CYCLES + self.latency_cycles + predict + recompute + exposed
        return RunCost(busy, busy - OVERHEAD_CYCLES - predict - recompute, n * k * p + recomputed * p, read, written)

    def psg_read_bytes(self, n: int, k: int, p: int, recompute_mask: np.ndarray) -> int:
        """Bytes psg_wgrad reads for these operands and decisions (see the module docstring)."""
        rows_per_block, cols_per_block = self.psg_u * self.psg_s, self.psg_tb * self.psg_s
        single = p <= self.psg_pc
        chunks = [min(self.psg_pc, p - p0) for p0 in range(0, p, self.psg_pc)]
        g_row = sum(_words(2 * c) for c in chunks)
        x_row = sum(_words(c) for c in chunks)
        g_reload = sum(_words(2 * c) for c in chunks[:-1])  # the last chunk's G rows stay on chip
        mask = recompute_mask.astype(bool)
        row_blocks, col_blocks = _ceil(n, rows_per_block), _ceil(k, cols_per_block)
        # Per block: its G rows (once per block row when P fits on chip), its X columns, then the X columns
        # and (P in chunks) the G rows holding a recomputed entry, reloaded for the recompute pass.
        words = (n if single else col_blocks * n) * g_row + row_blocks * k * x_row
        padded = np.zeros((row_blocks * rows_per_block, col_blocks * cols_per_block), dtype=bool)
        padded[:n, :k] = mask
        columns_hit = padded.reshape(row_blocks, rows_per_block, -1).any(axis=1)  # (row blocks, K)
        words += int(columns_hit.sum()) * x_row
        if not single:
            rows_hit = padded.reshape(-1, col_blocks, cols_per_block).any(axis=2)  # (N, column blocks)
            words += int(rows_hit.sum()) * g_reload
        return words * BEAT_BYTES

    def _psg_tiles(self, n: int, k: int, recompute_mask: np.ndarray) -> np.ndarray:
        """The (N, K) mask as (tn, tk, S, S) output tiles, zero-padded at the edges."""
        s = self.psg_s
        tn, tk = _ceil(n, s), _ceil(k, s)
        padded = np.zeros((tn * s, tk * s), dtype=bool)
        padded[:n, :k] = recompute_mask.astype(bool)
        return padded.reshape(tn, s, tk, s).transpose(0, 2, 1, 3)


@dataclass(frozen=True)
class Accelerator:
    """The hardware the energy model charges time and DRAM traffic to.

    ``int8`` runs the kernels as built (gemm in i8u8/i8i8/i8i16 modes, psg_wgrad).  ``fp32`` prices
    the passes that the baselines run in fp32 (their weight and input gradients; every pass of the
    fp32 baseline) on an fp32 array with the same dataflow and DRAM bus; its size is a prior of the
    energy profile (by default the int8 array's DSP budget spent on fp32 multiply-adds).
    """

    int8: CycleModel = field(default_factory=CycleModel)
    fp32: CycleModel = field(default_factory=lambda: CycleModel(rows=4, cols=3))

    @property
    def clock_hz(self) -> float:
        return self.int8.clock_hz
