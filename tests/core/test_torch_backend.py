"""The torch kernel backend (the training path's arithmetic) against the reference, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2train.backends import torch_backend
from e2train.kernels import reference
from e2train.kernels.reference import KernelArgumentError

DTYPE_RANGE = {np.int8: (-128, 127), np.uint8: (0, 255), np.int16: (-32768, 32767)}


def _codes(rng, shape, dtype, pattern):
    lo, hi = DTYPE_RANGE[dtype]
    if pattern == "min":
        return np.full(shape, lo, dtype)
    if pattern == "max":
        return np.full(shape, hi, dtype)
    if pattern == "zero":
        return np.zeros(shape, dtype)
    return rng.integers(lo, hi + 1, shape).astype(dtype)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 9), st.integers(1, 70), st.integers(1, 9), st.sampled_from(sorted(reference.GEMM_MODES)),
       st.sampled_from(["random", "min", "max", "zero"]), st.integers(0, 2**31 - 1))
def test_gemm_matches_reference(m, k, n, mode, pattern, seed) -> None:
    rng = np.random.default_rng(seed)
    a_dtype, b_dtype = reference.GEMM_MODES[mode]
    a, b = _codes(rng, (m, k), a_dtype, pattern), _codes(rng, (k, n), b_dtype, pattern)
    got, ref = torch_backend.gemm(a, b, mode), reference.gemm(a, b, mode)
    assert np.array_equal(got.c, ref.c) and got.overflows == ref.overflows and got.c.dtype == np.int32


def test_gemm_saturation_matches_reference() -> None:
    a = np.full((2, 65535), -128, np.int8)
    b = np.full((65535, 1), -32768, np.int16)
    got, ref = torch_backend.gemm(a, b, "i8i16"), reference.gemm(a, b, "i8i16")
    assert got.overflows == ref.overflows == 2 and np.array_equal(got.c, ref.c)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.integers(1, 12), st.integers(1, 40), st.booleans(),
       st.sampled_from([0, 1, 2**16, 2**24, 2**40, 2**64 - 1]), st.sampled_from(["random", "min", "max", "zero"]),
       st.integers(0, 2**31 - 1))
def test_psg_matches_reference(n, k, p, signed, tau, pattern, seed) -> None:
    rng = np.random.default_rng(seed)
    x = _codes(rng, (k, p), np.int8 if signed else np.uint8, pattern)
    g = _codes(rng, (n, p), np.int16, "random")
    got, ref = torch_backend.psg_wgrad(x, g, tau, signed), reference.psg_wgrad(x, g, tau, signed)
    assert np.array_equal(got.signs, ref.signs)
    assert np.array_equal(got.recompute_mask, ref.recompute_mask)
    assert (got.recomputed, got.macs_predict, got.macs_full) == (ref.recomputed, ref.macs_predict, ref.macs_full)


def test_bad_arguments_raise_like_the_reference() -> None:
    with pytest.raises(KernelArgumentError):
        torch_backend.gemm(np.zeros((0, 2), np.int8), np.zeros((2, 2), np.int8))
    with pytest.raises(KernelArgumentError):
        torch_backend.psg_wgrad(np.zeros((2, 3), np.uint8), np.zeros((2, 4), np.int16), 0, False)
