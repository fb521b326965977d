"""Exact integer products of the software path against int64 references, extremes included."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from e2train import intmath


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 9), st.integers(1, 300), st.integers(1, 9), st.integers(0, 2**31 - 1),
       st.sampled_from([(-32768, 32767), (-(2**40), 2**40), (0, 255), (-128, 127)]))
def test_matmul_exact(m, k, n, seed, a_range) -> None:
    gen = torch.Generator().manual_seed(seed)
    a = torch.randint(a_range[0], a_range[1] + 1, (m, k), generator=gen)
    b = torch.randint(-128, 256, (k, n), generator=gen)
    assert torch.equal(intmath.matmul(a, b), a @ b)
    b8, offset = intmath.to_int8_offset(torch.randint(0, 256, (k, n), generator=gen))
    assert torch.equal(intmath.matmul_int8(a, b8, offset), a @ (b8.long() + offset))


def test_matmul_extremes_and_long_reduction() -> None:
    k = 200_000  # beyond one int32 chunk of the int8 kernel
    a = torch.full((2, k), 32767)
    a[1] = -32768
    b = torch.full((k, 1), 255)
    assert torch.equal(intmath.matmul(a, b), a @ b)


def _conv_int64(x: torch.Tensor, w: torch.Tensor, stride: int, padding: int) -> torch.Tensor:
    cols = intmath.im2col(x.long(), tuple(w.shape[2:]), stride, padding)  # (P, K)
    out = cols @ w.long().flatten(1).T  # (P, Cout)
    b = x.shape[0]
    ho = (x.shape[2] + 2 * padding - w.shape[2]) // stride + 1
    wo = (x.shape[3] + 2 * padding - w.shape[3]) // stride + 1
    return out.view(b, ho, wo, -1).permute(0, 3, 1, 2)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(1, 70), st.integers(1, 8), st.sampled_from([1, 3]),
       st.sampled_from([1, 2]), st.integers(0, 2**31 - 1), st.sampled_from(["random", "maximal", "signed"]),
       st.booleans())
def test_conv2d_exact_including_maximal_codes(b, cin, cout, ksize, stride, seed, codes, int8_kernel) -> None:
    """Exact on both routes (oneDNN's int8 conv where it is exact here, floats otherwise), unsigned and
    signed codes, and at the worst case, whose partial sums need float64."""
    gen = torch.Generator().manual_seed(seed)
    if codes == "maximal":  # worst case: every partial sum as large as possible (needs float64)
        x = torch.full((b, cin, 6, 6), 255.0)
        w = torch.full((cout, cin, ksize, ksize), 127.0)
    else:
        lo, hi = (-128, 127) if codes == "signed" else (0, 255)
        x = torch.randint(lo, hi + 1, (b, cin, 6, 6), generator=gen).float()
        w = torch.randint(-127, 128, (cout, cin, ksize, ksize), generator=gen).float()
    padding = ksize // 2
    with pytest.MonkeyPatch.context() as patch:
        if not int8_kernel:
            patch.setattr(intmath, "onednn_int8_conv_is_exact", lambda: False)
        got = intmath.conv2d(x, w, stride, padding, x_signed=codes == "signed")
        unknown_range = intmath.conv2d(x, w, stride, padding)
    assert got.dtype == unknown_range.dtype == intmath.conv2d_dtype(x, w)
    assert torch.equal(got, unknown_range)
    assert torch.equal(got.long(), _conv_int64(x, w, stride, padding))


def test_conv_input_grad_exact() -> None:
    gen = torch.Generator().manual_seed(1)
    g = torch.randint(-32767, 32768, (2, 8, 5, 5), generator=gen).float()
    w = torch.randint(-127, 128, (8, 4, 3, 3), generator=gen).float()
    got = intmath.conv2d_input_grad(g, w, torch.Size([2, 4, 5, 5]), 1, 1)
    expected = torch.nn.grad.conv2d_input((2, 4, 5, 5), w.double(), g.double(), padding=1)
    assert torch.equal(got.double(), expected)
    assert np.array_equal(got.long().numpy(), expected.long().numpy())


def test_im2col_matches_unfold() -> None:
    x = torch.randn(2, 3, 7, 7)
    ours = intmath.im2col(x, (3, 3), 2, 1)  # (P, K)
    theirs = F.unfold(x, 3, padding=1, stride=2).transpose(1, 2).reshape(-1, 27)
    assert torch.allclose(ours, theirs)


def _weight_grad_int64(x: torch.Tensor, g: torch.Tensor, kernel: int, stride: int, padding: int) -> torch.Tensor:
    cols = intmath.im2col(x.long(), (kernel, kernel), stride, padding)  # (P, K)
    g_rows = g.long().transpose(0, 1).reshape(g.shape[1], -1)  # (Cout, P)
    return (g_rows @ cols).view(g.shape[1], x.shape[1], kernel, kernel)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.lists(st.integers(1, 11), min_size=1, max_size=3), st.integers(1, 9),
       st.sampled_from([1, 3]), st.sampled_from([1, 2]), st.integers(0, 2), st.integers(1, 9), st.integers(1, 9),
       st.integers(0, 2**31 - 1), st.booleans(), st.booleans())
def test_conv2d_weight_int8_exact(b, group_channels, cout, ksize, stride, padding, height, width, seed, maximal,
                                  channels_last) -> None:
    """Both routes (unit stride: shifted windows with shared borders; otherwise patches) against an int64
    product: channel groups not multiples of 8, odd and non-square sizes, paddings below, at and above
    'same', either layout, and the extreme codes of both operands."""
    gen = torch.Generator().manual_seed(seed)
    ho, wo = (height + 2 * padding - ksize) // stride + 1, (width + 2 * padding - ksize) // stride + 1
    assume(ho > 0 and wo > 0)
    groups = [torch.randint(-128, 128, (b, c, height, width), generator=gen) for c in group_channels]
    g = torch.randint(-32768, 32768, (b, cout, ho, wo), generator=gen).float()
    if maximal:
        groups = [torch.full_like(x, -128) for x in groups]
        g.fill_(-32768)
    if channels_last:
        groups = [x.contiguous(memory_format=torch.channels_last) for x in groups]
        g = g.contiguous(memory_format=torch.channels_last)
    got = intmath.conv2d_weight_int8(groups, g, (ksize, ksize), stride, padding)
    assert torch.equal(got, _weight_grad_int64(torch.cat(groups, 1), g, ksize, stride, padding))


@pytest.mark.parametrize("stride", [1, 2])  # shifted windows in int32-safe row chunks; patches in sample blocks
def test_conv2d_weight_int8_long_reduction_in_chunks(monkeypatch, stride) -> None:
    """Reductions beyond one int32-safe chunk with maximal products, on both routes."""
    monkeypatch.setattr(intmath, "PATCH_BLOCK_BYTES", 1 << 16)
    x = torch.full((130, 1, 32, 32), -128)  # 130 * 33 * 33 grid rows: two chunks of at most 131,071
    ho = 32 // stride
    g = torch.full((130, 2, ho, ho), -32768.0)
    g[:, 1] = 32767
    got = intmath.conv2d_weight_int8([x], g, (3, 3), stride, 1)
    assert torch.equal(got, _weight_grad_int64(x, g, 3, stride, 1))
    assert int(got.abs().max()) > 2**36  # far beyond int32 and float32


def test_conv2d_weight_int8_gradient_codes_beyond_16_bits_stay_exact() -> None:
    """The shifted-window route splits g into two bytes: wider codes must take the general route."""
    x = torch.randint(-128, 128, (2, 3, 6, 6), generator=torch.Generator().manual_seed(1))
    g = torch.randint(-(2**20), 2**20, (2, 4, 6, 6), generator=torch.Generator().manual_seed(2)).float()
    assert torch.equal(intmath.conv2d_weight_int8([x], g, (3, 3), 1, 1), _weight_grad_int64(x, g, 3, 1, 1))


def test_conv2d_weight_int8_small_codes_use_long_chunks_exactly() -> None:
    """With x_max_abs=16 (PSG's msb4 codes and residuals) a chunk holds about 2**20 grid rows: a longer
    reduction of maximal products crosses a chunk boundary and stays exact."""
    x = torch.full((1200, 1, 32, 32), 15)  # 1200 * 33 * 33 grid rows: two chunks of at most 1,048,575
    g = torch.full((1200, 1, 32, 32), -32768.0)  # in one int32 sum, 1200 * 1024 * 128 * 15 would overflow
    got = intmath.conv2d_weight_int8([x], g, (3, 3), 1, 1, x_max_abs=16)
    assert torch.equal(got, _weight_grad_int64(x, g, 3, 1, 1))


def test_input_grad_exact_beyond_float32_in_both_strategies() -> None:
    """Odd results above 2**24 that a single float32 product would round: the byte split (255 * sum|w| below
    2**24) and float64 (above) must both return them exactly."""
    gen = torch.Generator().manual_seed(3)
    g = (32767 - 256 * torch.randint(0, 4, (1, 64, 4, 4), generator=gen)).float()  # low byte 255: the worst case
    for weight_peak in (10, 127):  # sum|w| per input channel at most 5,760 (split) or 73,152 (float64)
        w = torch.randint(weight_peak - 7, weight_peak + 1, (64, 2, 3, 3), generator=gen).float()
        got = intmath.conv2d_input_grad(g, w, torch.Size([1, 2, 4, 4]), 1, 1)
        expected = torch.nn.grad.conv2d_input((1, 2, 4, 4), w.double(), g.double(), padding=1)
        beyond = expected.abs() > 2**24
        assert (expected[beyond].long() % 2 == 1).any()  # not representable in float32
        assert torch.equal(got.double(), expected)


def test_input_grad_of_heavy_tailed_codes_stays_float32_and_exact() -> None:
    """The usual gradient: one code at the 16-bit peak, the rest small. The a-priori bound (peak x sum|w|)
    asks for the byte split, but every sum fits float32: the halves recombine there (the type every
    backend returns, ``input_grad_dtype``), exactly, and in the gradient's layout."""
    gen = torch.Generator().manual_seed(5)
    g = torch.randint(-300, 301, (4, 16, 8, 8), generator=gen).float().contiguous(memory_format=torch.channels_last)
    g[0, 0, 0, 0] = 32767
    w = torch.randint(-127, 128, (16, 16, 3, 3), generator=gen).float()
    shape = torch.Size([4, 16, 8, 8])
    got = intmath.conv2d_input_grad(g, w, shape, 1, 1)
    expected = torch.nn.grad.conv2d_input(shape, w.double(), g.double(), padding=1)
    assert 32767 * float(w.abs().sum(dim=(0, 2, 3)).max()) >= 2**24  # the split route, not the float32 one
    assert got.dtype == torch.float32 and got.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(got.double(), expected)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(1, 5), st.integers(8, 24), st.sampled_from([(1, 0), (3, 1), (3, 0), (3, 2)]),
       st.sampled_from([1, 2]), st.integers(1, 9), st.integers(0, 2**31 - 1), st.booleans())
def test_input_grad_split_exact_on_both_routes(b, cin, cout, kernel_padding, stride, size, seed, int8_kernel) -> None:
    """16-bit codes times weights beyond float32's range, split into bytes: exact through oneDNN's int8
    conv and through float32, for strides whose forward conv dropped rows and columns (odd sizes)."""
    ksize, padding = kernel_padding
    if size + 2 * padding < ksize:
        return
    gen = torch.Generator().manual_seed(seed)
    ho = (size + 2 * padding - ksize) // stride + 1
    g = torch.randint(-32767, 32768, (b, cout, ho, ho), generator=gen).float()
    g.view(-1)[0] = 32767
    w = torch.randint(-127, 128, (cout, cin, ksize, ksize), generator=gen).float()
    shape = torch.Size([b, cin, size, size])
    with pytest.MonkeyPatch.context() as patch:
        if not int8_kernel:
            patch.setattr(intmath, "onednn_int8_conv_is_exact", lambda: False)
        got = intmath.conv2d_input_grad(g, w, shape, stride, padding)
    expected = torch.nn.grad.conv2d_input(shape, w.double(), g.double(), stride=stride, padding=padding)
    assert got.dtype == intmath.input_grad_dtype(expected) and got.is_contiguous()
    assert torch.equal(got.double(), expected)


def test_input_grad_of_codes_wider_than_16_bits_is_exact() -> None:
    """The byte split is for 16-bit codes: wider integers take the float64 route, not a wrapped int16."""
    g = torch.full((1, 4, 3, 3), 40000.0)
    w = torch.full((4, 1, 3, 3), 50.0)
    got = intmath.conv2d_input_grad(g, w, torch.Size([1, 1, 3, 3]), 1, 1)
    assert torch.equal(got.double(), torch.nn.grad.conv2d_input((1, 1, 3, 3), w.double(), g.double(), padding=1))


@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 1), (1, 0)])
def test_conv2d_input_float_keeps_the_gradient_layout(stride, padding) -> None:
    """The float transposed conv agrees with torch's and returns the gradient's layout (channels-last
    stays channels-last, so oneDNN never reorders to and from the standard layout)."""
    gen = torch.Generator().manual_seed(3)
    w = torch.randn(8, 5, 3, 3, generator=gen)
    shape = (4, 5, 9, 9)
    ho = (9 + 2 * padding - 3) // stride + 1
    g = torch.randn(4, 8, ho, ho, generator=gen)
    for layout in (torch.contiguous_format, torch.channels_last):
        got = intmath.conv2d_input_float(shape, w, g.contiguous(memory_format=layout), stride, padding)
        expected = torch.nn.grad.conv2d_input(shape, w, g, stride=stride, padding=padding)
        assert torch.allclose(got, expected, atol=1e-5)
        assert got.is_contiguous(memory_format=layout)
