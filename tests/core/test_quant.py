"""The numeric contract: quantizers and the msb4 predictor code, including extremes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from e2train import quant
from e2train.kernels import reference


@given(st.integers(0, 255))
def test_msb4_unsigned_matches_definition(q: int) -> None:
    expected = min(max((q + 8) >> 4, 0), 15)
    assert int(quant.msb4(torch.tensor([float(q)]), signed=False)) == expected
    assert int(reference.msb4(np.array([q], dtype=np.uint8), signed=False)[0]) == expected


@given(st.integers(-128, 127))
def test_msb4_signed_matches_definition(q: int) -> None:
    expected = min(max((q + 8) >> 4, -8), 7)  # Python's >> is arithmetic, as in the hardware
    assert int(quant.msb4(torch.tensor([float(q)]), signed=True)) == expected
    assert int(reference.msb4(np.array([q], dtype=np.int8), signed=True)[0]) == expected


def test_msb4_extremes() -> None:
    assert quant.msb4(torch.tensor([0.0, 7.0, 8.0, 247.0, 248.0, 255.0]), False).tolist() == [0, 0, 1, 15, 15, 15]
    assert quant.msb4(torch.tensor([-128.0, -127.0, -9.0, -8.0, 119.0, 127.0]), True).tolist() == [-8, -8, -1, 0, 7, 7]


@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False, width=32), min_size=1, max_size=64))
def test_weight_codes_are_int8_per_channel(values: list[float]) -> None:
    w = torch.tensor(values, dtype=torch.float32).reshape(1, -1).repeat(3, 1) * torch.tensor([[1.0], [2.0], [0.0]])
    q = quant.quantize_weight(w)
    assert q.codes.abs().max() <= 127
    assert torch.equal(q.codes, torch.round(q.codes))
    assert q.scale.shape == (3, 1)
    if w[0].abs().max() > 1e-10:
        assert q.codes[0].abs().max() == 127  # the largest weight of a channel takes the full range
    assert torch.all(q.codes[2] == 0)  # an all-zero channel stays zero with a finite scale
    err = (q.dequantize() - w).abs()
    assert torch.all(err <= q.scale / 2 + 1e-6 * w.abs().amax())


def test_activation_codes_unsigned_and_signed_saturate() -> None:
    x = torch.tensor([[0.0, 126.5, 127.5, 255.0, 600.0]])
    unsigned = quant.quantize_activation(x, torch.tensor(255.0), signed=False)  # scale 1
    assert unsigned.codes.tolist() == [[0.0, 126.0, 128.0, 255.0, 255.0]]  # halves round to even
    signed = quant.quantize_activation(-x, torch.tensor(127.0), signed=True)
    assert signed.codes.tolist() == [[0.0, -126.0, -127.0, -127.0, -127.0]]


def test_activation_range_is_batch_mean_of_sample_max() -> None:
    x = torch.tensor([[1.0, -4.0], [2.0, 0.0]])
    assert float(quant.activation_range(x)) == pytest.approx(3.0)


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False, width=32), min_size=1, max_size=100))
def test_gradient_codes_are_16_bit(values: list[float]) -> None:
    g = torch.tensor(values)
    q = quant.quantize_gradient(g)
    assert q.codes.abs().max() <= quant.GRAD_QMAX
    if g.abs().max() > 1e-10:
        assert q.codes.abs().max() == quant.GRAD_QMAX


def test_saturate_int32_counts_overflows() -> None:
    acc = torch.tensor([2**31, 2**31 - 1, -(2**31) - 5, 0], dtype=torch.int64)
    out, overflows = quant.saturate_int32(acc)
    assert overflows == 2
    assert out.tolist() == [2**31 - 1, 2**31 - 1, -(2**31), 0]
