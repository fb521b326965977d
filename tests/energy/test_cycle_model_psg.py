"""The psg_wgrad cycle model's block and diagonal bookkeeping, vectorised, against its definition
written out as loops over blocks and tile diagonals (the way the kernel walks them)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from e2train.energy.cycle_model import BEAT_BYTES, PSG_READ_EXPOSED, CycleModel, _words


def _read_words_by_blocks(model: CycleModel, n: int, k: int, p: int, mask: np.ndarray) -> int:
    rows_per_block, cols_per_block = model.psg_u * model.psg_s, model.psg_tb * model.psg_s
    single = p <= model.psg_pc
    chunks = [min(model.psg_pc, p - p0) for p0 in range(0, p, model.psg_pc)]
    g_row = sum(_words(2 * c) for c in chunks)
    x_row = sum(_words(c) for c in chunks)
    g_reload = sum(_words(2 * c) for c in chunks[:-1])
    words = 0
    for n0 in range(0, n, rows_per_block):
        for k0 in range(0, k, cols_per_block):
            block = mask[n0:n0 + rows_per_block, k0:k0 + cols_per_block]
            if not single or k0 == 0:
                words += block.shape[0] * g_row
            words += block.shape[1] * x_row
            if block.any():
                words += int(block.any(axis=0).sum()) * x_row
                if not single:
                    words += int(block.any(axis=1).sum()) * g_reload
    return words * BEAT_BYTES


def _active_diagonals_by_loop(model: CycleModel, n: int, k: int, mask: np.ndarray) -> int:
    s = model.psg_s
    active = 0
    for n0 in range(0, n, s):
        for k0 in range(0, k, s):
            tile = mask[n0:n0 + s, k0:k0 + s]
            active += len({(i - j) % s for i, j in zip(*np.nonzero(tile), strict=True)})
    return active


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 80), k=st.integers(1, 150), p=st.sampled_from([1, 9, 1024, 1025, 5000]),
       density=st.sampled_from([0.0, 0.01, 0.3, 1.0]), seed=st.integers(0, 2**16))
def test_psg_cost_equals_its_block_by_block_definition(n, k, p, density, seed) -> None:
    model = CycleModel()
    mask = np.random.default_rng(seed).random((n, k)) < density
    assert model.psg_read_bytes(n, k, p, mask) == _read_words_by_blocks(model, n, k, p, mask)
    cost, none = model.psg(n, k, p, mask), model.psg(n, k, p, np.zeros_like(mask))
    assert cost.macs == n * k * p + int(mask.sum()) * p
    # the cycles a mask adds: one pass of ceil(P / S) per active tile diagonal, and the exposed share of
    # the extra reads
    recompute = _active_diagonals_by_loop(model, n, k, mask) * -(-p // model.psg_s)
    exposed_reads = (int(PSG_READ_EXPOSED * _words(_read_words_by_blocks(model, n, k, p, mask)))
                     - int(PSG_READ_EXPOSED * _words(_read_words_by_blocks(model, n, k, p, np.zeros_like(mask)))))
    assert cost.cycles_busy - none.cycles_busy == recompute + exposed_reads
