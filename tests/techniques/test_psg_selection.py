"""PSG on a conv: the software path selects and signs exactly as the kernel reference does."""

from __future__ import annotations

import os
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from e2train import intmath, quant, vnni_wgrad
from e2train.kernels import reference
from e2train.techniques.psg import PsgConfig, psg_conv_weight_grad


@pytest.mark.parametrize("path", ["vnni", "torch"])  # the kernel of vnni_wgrad where the CPU has it, and without
@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5), st.sampled_from([1, 2, 5, 6, 16]), st.sampled_from([1, 3, 6, 16]), st.sampled_from([1, 3]),
       st.sampled_from([1, 2]), st.booleans(), st.floats(0.0, 1.0), st.integers(0, 2**31 - 1))
def test_psg_conv_matches_reference(path, b, cin, cout, ksize, stride, signed, rel, seed) -> None:
    with mock.patch.dict(os.environ, {vnni_wgrad.DISABLE_ENV: "1" if path == "vnni" else "0"}):
        check_psg_conv_against_reference(b, cin, cout, ksize, stride, signed, rel, seed)


def check_psg_conv_against_reference(b, cin, cout, ksize, stride, signed, rel, seed) -> None:
    gen = torch.Generator().manual_seed(seed)
    lo, hi = (-127, 127) if signed else (0, 255)
    x = torch.randint(lo, hi + 1, (b, cin, 5, 5), generator=gen).float()
    padding = ksize // 2
    ho = (5 + 2 * padding - ksize) // stride + 1
    g = torch.randn(b, cout, ho, ho, generator=gen)
    shape = torch.Size([cout, cin, ksize, ksize])
    signs, decision, p = psg_conv_weight_grad(x, signed, torch.tensor(0.01), g, shape, stride, padding,
                                              PsgConfig(rel, "rel"))
    # The kernel's layout: X = im2col^T (K x P), G (N x P) int16.
    xk = intmath.im2col(x.long(), (ksize, ksize), stride, padding).T.contiguous().numpy()
    gk = quant.quantize_gradient(g).codes.long().permute(1, 0, 2, 3).reshape(cout, -1).numpy()
    ref = reference.psg_wgrad(xk.astype(np.int8 if signed else np.uint8), gk.astype(np.int16), decision.tau, signed)
    assert np.array_equal(signs.view(cout, -1).numpy(), ref.signs)
    assert np.array_equal(decision.recompute.numpy(), ref.recompute_mask.astype(bool))
    assert p == xk.shape[1]


def test_absolute_threshold_translates_exactly() -> None:
    """|g_pred| >= t in real units is |16 Pr| >= ceil(t / unit) on the integers."""
    from e2train.techniques.psg import integer_threshold

    pred = torch.tensor([[3, -5]])
    assert integer_threshold(PsgConfig(0.8, "abs"), pred, unit=0.1) == 8
    assert integer_threshold(PsgConfig(0.5, "rel"), pred, unit=0.1) == 40  # half of max |16 Pr| = 80


def test_zero_threshold_recomputes_nothing_and_huge_threshold_everything() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (2, 3, 4, 4), generator=gen).float()
    g = torch.randn(2, 4, 4, 4, generator=gen)
    shape = torch.Size([4, 3, 3, 3])
    _, none, _ = psg_conv_weight_grad(x, False, torch.tensor(1.0), g, shape, 1, 1, PsgConfig(0.0, "rel"))
    _, full, _ = psg_conv_weight_grad(x, False, torch.tensor(1.0), g, shape, 1, 1, PsgConfig(1e30, "abs"))
    assert not none.recompute.any()
    assert full.recompute.all()
