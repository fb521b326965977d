"""The executable kernel references: arithmetic, saturation, PSG selection, argument errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2train.kernels import reference
from e2train.kernels.reference import KernelArgumentError


def test_gemm_small_exact() -> None:
    a = np.array([[1, -2], [127, -128]], dtype=np.int8)
    b = np.array([[3, 255], [4, 1]], dtype=np.uint8)
    r = reference.gemm(a, b, "i8u8")
    assert r.c.tolist() == [[-5, 253], [-131, 32257]]
    assert r.overflows == 0 and r.macs == 8


def test_gemm_int16_saturates_and_counts() -> None:
    k = 65535  # the largest K: 65535 * 128 * 32768 > 2**31, while 65535 * 32768 still fits
    a = np.full((2, k), -128, dtype=np.int8)
    a[1] = 1
    b = np.full((k, 1), -32768, dtype=np.int16)
    r = reference.gemm(a, b, "i8i16")
    assert r.c[0, 0] == 2**31 - 1 and r.overflows == 1
    assert r.c[1, 0] == -32768 * k


@pytest.mark.parametrize("shape_a,shape_b", [((0, 3), (3, 2)), ((2, 0), (0, 2)), ((2, 3), (4, 2))])
def test_gemm_refuses_bad_shapes(shape_a, shape_b) -> None:
    with pytest.raises(KernelArgumentError):
        reference.gemm(np.zeros(shape_a, np.int8), np.zeros(shape_b, np.int8))


def test_gemm_refuses_wrong_dtype_and_mode() -> None:
    with pytest.raises(KernelArgumentError, match="must be int8"):
        reference.gemm(np.zeros((2, 2), np.int16), np.zeros((2, 2), np.int8))
    with pytest.raises(KernelArgumentError, match="allowed"):
        reference.gemm(np.zeros((2, 2), np.int8), np.zeros((2, 2), np.int8), "i4i4")


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 20), st.integers(0, 2**20), st.booleans(),
       st.integers(0, 2**31 - 1))
def test_psg_matches_naive_definition(n, k, p, tau, signed, seed) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(-127, 128, (k, p)).astype(np.int8) if signed else rng.integers(0, 256, (k, p)).astype(np.uint8)
    g = rng.integers(-32767, 32768, (n, p)).astype(np.int16)
    r = reference.psg_wgrad(x, g, tau, signed)
    m = reference.msb4(x, signed).astype(np.int64)
    for i in range(n):
        for j in range(k):
            pred = int(np.dot(g[i].astype(np.int64), m[j]))
            if abs(16 * pred) >= tau:
                assert r.signs[i, j] == np.sign(pred) and r.recompute_mask[i, j] == 0
            else:
                full = int(np.dot(g[i].astype(np.int64), x[j].astype(np.int64)))
                assert r.signs[i, j] == np.sign(full) and r.recompute_mask[i, j] == 1
    assert r.recomputed == int(r.recompute_mask.sum())
    assert r.macs_predict == n * k * p and r.macs_full == r.recomputed * p


def test_psg_refuses_bad_threshold() -> None:
    x, g = np.zeros((2, 3), np.uint8), np.zeros((2, 3), np.int16)
    for tau in (-1, 2**64, 0.5):
        with pytest.raises(KernelArgumentError):
            reference.psg_wgrad(x, g, tau, False)
