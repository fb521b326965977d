"""The VNNI kernel of the PSG weight gradient gives exactly the integers of the torch path and the reference."""

from __future__ import annotations

import os
from unittest import mock

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from e2train import intmath, native, quant, vnni_wgrad
from e2train.techniques.psg import PsgConfig, psg_conv_weight_grad

needs_vnni = pytest.mark.skipif(not vnni_wgrad.available(torch.zeros(1)), reason="no AVX-512 VNNI CPU or no g++")


def torch_path_sums(x: torch.Tensor, signed: bool, grad: torch.Tensor, kernel: tuple[int, int], stride: int,
                    padding: int) -> tuple[torch.Tensor, torch.Tensor]:
    g16 = quant.quantize_gradient(grad).codes.to(torch.int16)
    codes = x.to(torch.int16)
    msb = quant.msb4(codes, signed)
    return (intmath.conv2d_weight_int8([msb], g16, kernel, stride, padding, x_max_abs=16),
            intmath.conv2d_weight_int8([codes - 16 * msb], g16, kernel, stride, padding, x_max_abs=16))


def activation_codes(gen: torch.Generator, shape: tuple[int, ...], signed: bool, pattern: str) -> torch.Tensor:
    lo, hi = (-128, 127) if signed else (0, 255)
    if pattern == "extremes":  # only the range's ends: the largest m and r, of both signs
        codes = torch.where(torch.rand(shape, generator=gen) < 0.5, float(lo), float(hi))
    else:
        codes = torch.randint(lo, hi + 1, shape, generator=gen).float()
    return codes.contiguous(memory_format=torch.channels_last)


def gradient(gen: torch.Generator, shape: tuple[int, ...], pattern: str) -> torch.Tensor:
    g = torch.randn(shape, generator=gen)
    if pattern == "ties":  # values at k + 1/2 code steps: round half to even decides them
        scale = float(g.abs().max()) / quant.GRAD_QMAX
        g = (torch.randint(-2000, 2000, shape, generator=gen) + 0.5) * scale
        g.view(-1)[0] = scale * quant.GRAD_QMAX  # keeps the scale
    elif pattern == "outlier":  # one value sets the scale: most codes are small, one is +-32767
        g.view(-1)[0] = -1e4
    elif pattern == "zero":
        g.zero_()
    return g.contiguous(memory_format=torch.channels_last)


@needs_vnni
@settings(max_examples=60, deadline=None)
@given(batch=st.integers(1, 9), cin=st.sampled_from([1, 3, 5, 16, 32]), cout=st.sampled_from([1, 2, 7, 16, 32]),
       size=st.integers(1, 9), ksize=st.sampled_from([1, 3]), stride=st.sampled_from([1, 2]),
       padding=st.sampled_from([0, 1]), signed=st.booleans(), x_pattern=st.sampled_from(["random", "extremes"]),
       g_pattern=st.sampled_from(["normal", "ties", "outlier", "zero"]), seed=st.integers(0, 2**31 - 1))
def test_sums_equal_the_torch_path(batch, cin, cout, size, ksize, stride, padding, signed, x_pattern, g_pattern,
                                   seed) -> None:
    """Batches not a multiple of four, channels not a multiple of sixteen (scalar packing), strides and paddings."""
    if size + 2 * padding < ksize:
        return
    gen = torch.Generator().manual_seed(seed)
    x = activation_codes(gen, (batch, cin, size, size), signed, x_pattern)
    out = (size + 2 * padding - ksize) // stride + 1
    grad = gradient(gen, (batch, cout, out, out), g_pattern)
    got = vnni_wgrad.psg_wgrad_sums(x, signed, grad, quant.gradient_scale(grad), (ksize, ksize), stride, padding)
    want = torch_path_sums(x, signed, grad, (ksize, ksize), stride, padding)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


@needs_vnni
@pytest.mark.parametrize("shape, kernel, padding", [((128, 16, 32, 32), 3, 1), ((4, 16, 96, 96), 1, 0)])
def test_training_shapes_and_chunked_images_equal_the_torch_path(shape, kernel, padding) -> None:
    """A ResNet stage-1 conv, and an image of more pixels (9,216) than one int32 chunk (8,192): codes at the
    range's ends and a +-32767 gradient code, the worst case for the partial sums."""
    gen = torch.Generator().manual_seed(1)
    x = activation_codes(gen, shape, False, "extremes")
    grad = gradient(gen, shape, "outlier")
    got = vnni_wgrad.psg_wgrad_sums(x, False, grad, quant.gradient_scale(grad), (kernel, kernel), 1, padding)
    want = torch_path_sums(x, False, grad, (kernel, kernel), 1, padding)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


@needs_vnni
@pytest.mark.parametrize("signed, bad", [(False, 256.0), (False, -1.0), (True, 128.0), (True, float("nan"))])
def test_codes_outside_their_range_are_refused(signed, bad) -> None:
    """Outside 8-bit codes m and r leave the bound the int8 operands and the int32 chunks rely on: an error."""
    x = torch.zeros(4, 16, 4, 4).contiguous(memory_format=torch.channels_last)
    x[2, 5, 1, 3] = bad
    grad = torch.randn(4, 16, 4, 4)
    with pytest.raises(ValueError, match="outside"):
        vnni_wgrad.psg_wgrad_sums(x, signed, grad, quant.gradient_scale(grad), (3, 3), 1, 1)


@needs_vnni
def test_psg_takes_the_kernel_where_available_and_the_switch_turns_it_off() -> None:
    gen = torch.Generator().manual_seed(2)
    x = activation_codes(gen, (6, 16, 8, 8), False, "random")
    grad = gradient(gen, (6, 16, 8, 8), "normal")
    shape = torch.Size([16, 16, 3, 3])
    calls = []
    real = vnni_wgrad.psg_wgrad_sums

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    with mock.patch.object(vnni_wgrad, "psg_wgrad_sums", spy):
        fast = psg_conv_weight_grad(x, False, torch.tensor(0.01), grad, shape, 1, 1, PsgConfig())
        with mock.patch.dict(os.environ, {vnni_wgrad.DISABLE_ENV: "0"}):
            slow = psg_conv_weight_grad(x, False, torch.tensor(0.01), grad, shape, 1, 1, PsgConfig())
    assert len(calls) == 1
    assert torch.equal(fast[0], slow[0]) and torch.equal(fast[1].recompute, slow[1].recompute)
    assert fast[1].tau == slow[1].tau


def test_other_devices_and_types_take_the_torch_path() -> None:
    assert not vnni_wgrad.available(torch.zeros(1, dtype=torch.float64))
    assert not vnni_wgrad.available(torch.zeros(1, device="meta"))
    with mock.patch.dict(os.environ, {vnni_wgrad.DISABLE_ENV: "0"}):
        assert not vnni_wgrad.available(torch.zeros(1))


@pytest.mark.parametrize("missing", ["vnni", "compiler"])
def test_without_vnni_or_a_compiler_psg_takes_the_torch_path_and_says_so(missing, caplog) -> None:
    """A CPU without VNNI (a PYNQ board's ARM cores, older x86) or no g++: the torch path, a line in the log."""
    def no_compiler(*args, **kwargs):
        raise native.NativeBuildError("compiler 'g++' not found")

    flags = {"avx2"} if missing == "vnni" else set(vnni_wgrad.REQUIRED_CPU_FLAGS)  # any machine reaches the build
    vnni_wgrad._library.cache_clear()
    try:
        with mock.patch.object(vnni_wgrad, "cpu_flags", lambda: flags), \
                mock.patch.object(vnni_wgrad.platform, "machine", lambda: "x86_64"), \
                mock.patch.object(native, "find_compiler", no_compiler), caplog.at_level("INFO", "e2train.vnni_wgrad"):
            assert not vnni_wgrad.available(torch.zeros(1))
    finally:
        vnni_wgrad._library.cache_clear()
    assert ("no AVX-512 VNNI" if missing == "vnni" else "not found") in caplog.text
