"""Exact integer products of the software path against int64 references, extremes included."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given, settings
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


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 3), st.integers(1, 70), st.integers(1, 8), st.sampled_from([1, 3]),
       st.sampled_from([1, 2]), st.integers(0, 2**31 - 1), st.booleans())
def test_conv2d_exact_including_maximal_codes(b, cin, cout, ksize, stride, seed, maximal) -> None:
    gen = torch.Generator().manual_seed(seed)
    if maximal:  # worst case: every partial sum as large as possible (needs float64)
        x = torch.full((b, cin, 6, 6), 255.0)
        w = torch.full((cout, cin, ksize, ksize), 127.0)
    else:
        x = torch.randint(0, 256, (b, cin, 6, 6), generator=gen).float()
        w = torch.randint(-127, 128, (cout, cin, ksize, ksize), generator=gen).float()
    padding = ksize // 2
    got = intmath.conv2d(x, w, stride, padding)
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
