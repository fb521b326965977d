"""The HLS C++ kernels in C simulation agree bit for bit with the numpy reference.

Why: the same C++ becomes the FPGA IP, so every property checked here (results, counters, refused
arguments) is a property of the hardware's source.  Shapes and values come from hypothesis and
from hand-picked edges (sizes 1, partial tiles, extreme codes, saturation); each is run against a
default-tile and a tiny-tile build (see conftest.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from e2train.backends import BackendUnavailable, csim, get_backend
from e2train.kernels import reference as ref
from e2train.kernels import regmap
from e2train.kernels.reference import KernelArgumentError

HLS_DIR = Path(__file__).resolve().parents[2] / "hls"
HYPOTHESIS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STYLES = ("uniform", "extremes", "zeros", "sparse_extremes", "small")


def matrix(rng: np.random.Generator, shape: tuple[int, int], dtype: type, style: str) -> np.ndarray:
    """A test operand: uniform over the dtype, only its two extreme codes, zeros, or mixtures."""
    info = np.iinfo(dtype)
    lo, hi = int(info.min), int(info.max)
    if style == "uniform":
        return rng.integers(lo, hi, size=shape, endpoint=True, dtype=dtype)
    if style == "extremes":
        return rng.choice(np.array([lo, hi], dtype=dtype), size=shape)
    if style == "zeros":
        return np.zeros(shape, dtype=dtype)
    if style == "sparse_extremes":
        out = rng.integers(lo, hi, size=shape, endpoint=True, dtype=dtype)
        pick = rng.random(shape)
        out[pick < 0.2] = lo
        out[pick > 0.8] = hi
        return out
    # "small": below 8, so msb4 of an activation is 0 and only the full product sees it.
    return rng.integers(max(lo, -7), 7, size=shape, endpoint=True, dtype=dtype)


def assert_gemm_equal(got: ref.GemmResult, want: ref.GemmResult) -> None:
    np.testing.assert_array_equal(got.c, want.c)
    assert got.c.dtype == np.int32
    assert (got.overflows, got.macs) == (want.overflows, want.macs)
    assert got.counters["OVERFLOWS"] == want.overflows
    assert got.counters["STATUS"] == (regmap.STATUS_OVERFLOW if want.overflows else 0)
    assert got.counters["RECOMPUTED"] == 0
    assert got.counters["BYTES_WRITTEN"] == 4 * got.c.size


def assert_psg_equal(got: ref.PsgResult, want: ref.PsgResult) -> None:
    np.testing.assert_array_equal(got.signs, want.signs)
    np.testing.assert_array_equal(got.recompute_mask, want.recompute_mask)
    assert got.signs.dtype == np.int8 and got.recompute_mask.dtype == np.uint8
    assert (got.recomputed, got.macs_predict, got.macs_full) == (
        want.recomputed,
        want.macs_predict,
        want.macs_full,
    )
    n, k = got.signs.shape
    assert got.counters["RECOMPUTED"] == int(got.recompute_mask.sum())
    assert got.counters["MACS"] == want.macs_predict + want.macs_full  # N*K*P + recomputed*P
    assert got.counters["BYTES_WRITTEN"] == 2 * n * k
    assert got.counters["STATUS"] == 0 and got.counters["OVERFLOWS"] == 0


def prediction_magnitudes(x: np.ndarray, g: np.ndarray, x_signed: bool) -> np.ndarray:
    """|16 * Pr| for every entry, from the reference's own msb4."""
    return np.abs(16 * ref.exact_matmul(g, ref.msb4(x, x_signed).T))


# ---------------------------------------------------------------------------------------------
# Bit-exact against the reference
# ---------------------------------------------------------------------------------------------


@HYPOTHESIS
@given(
    mode=st.sampled_from(sorted(ref.GEMM_MODES)),
    m=st.integers(1, 40),
    n=st.integers(1, 40),
    k=st.integers(1, 150),
    a_style=st.sampled_from(STYLES),
    b_style=st.sampled_from(STYLES),
    seed=st.integers(0, 2**32 - 1),
)
def test_gemm_matches_reference(
    kernels: csim.CsimKernels, mode: str, m: int, n: int, k: int, a_style: str, b_style: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    a_dtype, b_dtype = ref.GEMM_MODES[mode]
    a = matrix(rng, (m, k), a_dtype, a_style)
    b = matrix(rng, (k, n), b_dtype, b_style)
    assert_gemm_equal(kernels.gemm(a, b, mode), ref.gemm(a, b, mode))


@HYPOTHESIS
@given(
    x_signed=st.booleans(),
    n=st.integers(1, 30),
    k=st.integers(1, 30),
    p=st.integers(1, 200),
    x_style=st.sampled_from(STYLES),
    g_style=st.sampled_from(STYLES),
    tau_kind=st.sampled_from(
        ["zero", "one", "quantile", "quantile_plus_one", "max", "any", "float", "uint64"]
    ),
    quantile=st.floats(0.0, 1.0),
    any_tau=st.integers(0, 2**64 - 1),
    seed=st.integers(0, 2**32 - 1),
)
def test_psg_wgrad_matches_reference(
    kernels: csim.CsimKernels,
    x_signed: bool,
    n: int,
    k: int,
    p: int,
    x_style: str,
    g_style: str,
    tau_kind: str,
    quantile: float,
    any_tau: int,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    x = matrix(rng, (k, p), np.int8 if x_signed else np.uint8, x_style)
    g = matrix(rng, (n, p), np.int16, g_style)
    at_quantile = int(np.quantile(mags := prediction_magnitudes(x, g, x_signed), quantile, method="lower"))
    tau: Any = {
        "zero": 0,
        "one": 1,
        "quantile": at_quantile,  # an entry's own magnitude: the edge of the comparison
        "quantile_plus_one": at_quantile + 1,
        "max": csim.TAU_MAX,
        "any": any_tau,  # anywhere in the 64-bit register
        # Integer-valued numbers of other types are accepted by the reference, so by csim too.
        "float": float(at_quantile),
        "uint64": np.uint64(at_quantile),
    }[tau_kind]
    assert int(mags.max()) < 2**44  # the bound the C++ relies on
    assert_psg_equal(kernels.psg_wgrad(x, g, tau, x_signed), ref.psg_wgrad(x, g, tau, x_signed))


# ---------------------------------------------------------------------------------------------
# Hand-picked edges
# ---------------------------------------------------------------------------------------------


def edge_shapes(tiles: csim.TileSizes, kernel: str) -> list[tuple[int, int, int]]:
    """Sizes 1, exact tiles, one more and one less than a tile, and two tiles plus a remainder."""
    t = (
        (tiles.gemm_tm, tiles.gemm_tn, tiles.gemm_tk)
        if kernel == "gemm"
        else (tiles.psg_tn, tiles.psg_tk, tiles.psg_tp)
    )
    assert all(v is not None for v in t)
    a, b, c = (int(v) for v in t)  # type: ignore[arg-type]
    return [
        (1, 1, 1),
        (1, 1, 9),
        (1, 9, 1),
        (9, 1, 1),
        (a, b, c),
        (a + 1, b + 1, c + 1),
        (max(a - 1, 1), max(b - 1, 1), max(c - 1, 1)),
        (2 * a + 3, 2 * b + 5, 2 * c + 7),
    ]


@pytest.mark.parametrize("mode", sorted(ref.GEMM_MODES))
@pytest.mark.parametrize("style", ["uniform", "extremes", "zeros"])
def test_gemm_edge_shapes(kernels: csim.CsimKernels, mode: str, style: str) -> None:
    rng = np.random.default_rng(7)
    a_dtype, b_dtype = ref.GEMM_MODES[mode]
    for m, n, k in edge_shapes(csim.tile_sizes(kernels.tiles), "gemm"):
        a = matrix(rng, (m, k), a_dtype, style)
        b = matrix(rng, (k, n), b_dtype, style)
        assert_gemm_equal(kernels.gemm(a, b, mode), ref.gemm(a, b, mode))


@pytest.mark.parametrize("x_signed", [True, False])
@pytest.mark.parametrize("style", ["uniform", "extremes", "zeros", "small"])
def test_psg_wgrad_edge_shapes(kernels: csim.CsimKernels, x_signed: bool, style: str) -> None:
    rng = np.random.default_rng(8)
    for n, k, p in edge_shapes(csim.tile_sizes(kernels.tiles), "psg"):
        x = matrix(rng, (k, p), np.int8 if x_signed else np.uint8, style)
        g = matrix(rng, (n, p), np.int16, "uniform" if style == "small" else style)
        median = int(np.median(prediction_magnitudes(x, g, x_signed)))
        for tau in (0, 1, median, 2**32, 2**63, csim.TAU_MAX):
            assert_psg_equal(kernels.psg_wgrad(x, g, tau, x_signed), ref.psg_wgrad(x, g, tau, x_signed))


def test_non_contiguous_operands_are_laid_out_row_major(default_kernels: csim.CsimKernels) -> None:
    # Transposed and strided views must reach the kernel as the row-major matrices they stand for.
    rng = np.random.default_rng(11)
    a = matrix(rng, (30, 20), np.int8, "uniform").T[:, ::2]  # (20, 15), Fortran-ordered, strided
    b = np.asfortranarray(matrix(rng, (15, 9), np.int16, "uniform"))
    assert_gemm_equal(default_kernels.gemm(a, b, "i8i16"), ref.gemm(a, b, "i8i16"))
    x = matrix(rng, (40, 12), np.uint8, "uniform").T  # (12, 40)
    g = matrix(rng, (10, 80), np.int16, "uniform")[:, ::2]  # (10, 40)
    tau = int(np.median(prediction_magnitudes(x, g, False)))
    assert_psg_equal(default_kernels.psg_wgrad(x, g, tau, False), ref.psg_wgrad(x, g, tau, False))


@pytest.mark.parametrize("a_code", [-128, 127])
@pytest.mark.parametrize("b_code", [-32768, 32767])
def test_gemm_i8i16_saturates_and_counts_overflows(
    kernels: csim.CsimKernels, a_code: int, b_code: int
) -> None:
    # 600 * 128 * 32768 > 2^31: every entry with an all-extreme row and column saturates.
    k = 600
    a = np.full((3, k), a_code, dtype=np.int8)
    a[2] = 1  # a row that stays in range
    b = np.full((k, 4), b_code, dtype=np.int16)
    b[:, 3] = 0  # a column that stays in range
    got, want = kernels.gemm(a, b, "i8i16"), ref.gemm(a, b, "i8i16")
    assert_gemm_equal(got, want)
    assert got.overflows == 6
    assert got.counters["STATUS"] & regmap.STATUS_OVERFLOW
    limit = np.iinfo(np.int32).max if a_code * b_code > 0 else np.iinfo(np.int32).min
    assert (got.c[:2, :3] == limit).all()


def test_gemm_i8u8_at_max_dim_does_not_overflow(default_kernels: csim.CsimKernels) -> None:
    # The largest legal K with the largest codes: -128 * 255 * 65535 still fits int32.
    a = np.full((1, regmap.MAX_DIM), -128, dtype=np.int8)
    b = np.full((regmap.MAX_DIM, 2), 255, dtype=np.uint8)
    got = default_kernels.gemm(a, b, "i8u8")
    assert_gemm_equal(got, ref.gemm(a, b, "i8u8"))
    assert got.overflows == 0 and int(got.c[0, 0]) == -128 * 255 * regmap.MAX_DIM


def test_psg_wgrad_largest_sums_are_exact(default_kernels: csim.CsimKernels) -> None:
    # Extreme codes over a long P: |F| reaches 32768 * 255 * P, beyond int32, and the sign must
    # still come from the exact sum (rows cancel except for one element).
    p = 5000
    x = np.full((2, p), 255, dtype=np.uint8)
    g = np.zeros((2, p), dtype=np.int16)
    g[0, ::2], g[0, 1::2] = -32768, 32767  # nearly cancels: sum = -2500 * 255
    g[1] = -32768
    for tau in (0, csim.TAU_MAX):
        assert_psg_equal(default_kernels.psg_wgrad(x, g, tau, False), ref.psg_wgrad(x, g, tau, False))


@pytest.mark.parametrize("x_signed", [True, False])
def test_psg_wgrad_tau_above_32_bits(kernels: csim.CsimKernels, x_signed: bool) -> None:
    """TAU is a 64-bit register: thresholds between 2**32 and the largest |16 * Pr| decide entries.

    A kernel that kept only TAU's low word, or compared it signed, would fail here.
    """
    n, k, p = 6, 4, 4000
    hi = 127 if x_signed else 255
    x = np.array([[hi >> j] * p for j in range(k)], dtype=np.int8 if x_signed else np.uint8)
    # Row i: a fraction i / (n - 1) of -32768, the rest 32767; magnitudes from 0 to beyond 2**33.
    g = np.array([[-32768 if t < p * i // (n - 1) else 32767 for t in range(p)] for i in range(n)], np.int16)
    mags = sorted({int(v) for v in prediction_magnitudes(x, g, x_signed).ravel()})
    assert mags[-1] > 2**33 and sum(v > 2**32 for v in mags) >= 4
    for tau in [2**32, 2**32 + 1, 2**63, 2**63 + 1, csim.TAU_MAX] + mags + [v + 1 for v in mags]:
        got, want = kernels.psg_wgrad(x, g, tau, x_signed), ref.psg_wgrad(x, g, tau, x_signed)
        assert_psg_equal(got, want)
        assert got.recomputed == sum(int(v) < tau for v in prediction_magnitudes(x, g, x_signed).ravel())


# ---------------------------------------------------------------------------------------------
# Counters
# ---------------------------------------------------------------------------------------------


def test_psg_wgrad_confident_entries_issue_no_full_macs(default_kernels: csim.CsimKernels) -> None:
    """The point of PSG in hardware: the full product is computed for unsure entries only."""
    rng = np.random.default_rng(3)
    n, k, p = 20, 24, 300
    x = rng.integers(0, 255, size=(k, p), endpoint=True, dtype=np.uint8)
    g = rng.integers(-32768, 32767, size=(n, p), endpoint=True, dtype=np.int16)
    none = default_kernels.psg_wgrad(x, g, 0, False)
    some = default_kernels.psg_wgrad(x, g, int(np.quantile(prediction_magnitudes(x, g, False), 0.1)), False)
    every = default_kernels.psg_wgrad(x, g, csim.TAU_MAX, False)
    assert none.counters["MACS"] == n * k * p and none.recomputed == 0
    assert 0 < some.recomputed < n * k
    assert some.counters["MACS"] == n * k * p + some.recomputed * p
    assert every.recomputed == n * k and every.counters["MACS"] == 2 * n * k * p
    # Recomputation re-reads operands, and only as much as the unsure entries need.
    assert none.counters["BYTES_READ"] < some.counters["BYTES_READ"] <= every.counters["BYTES_READ"]


@pytest.mark.parametrize("mode", sorted(ref.GEMM_MODES))
def test_gemm_bytes_read_follow_the_tiling(kernels: csim.CsimKernels, mode: str) -> None:
    # Each C tile reads its A rows and B rows once per K chunk, in whole 64-bit beats: at least
    # the data, at most 15 extra bytes per row segment.
    tiles = csim.tile_sizes(kernels.tiles)
    tm, tn, tk = int(tiles.gemm_tm or 0), int(tiles.gemm_tn or 0), int(tiles.gemm_tk or 0)
    m, n, k = 2 * tm + 1, 3 * tn - 1, 2 * tk + 3
    a_dtype, b_dtype = ref.GEMM_MODES[mode]
    rng = np.random.default_rng(0)
    got = kernels.gemm(matrix(rng, (m, k), a_dtype, "uniform"), matrix(rng, (k, n), b_dtype, "uniform"), mode)
    tiles_m, tiles_n, chunks = -(-m // tm), -(-n // tn), -(-k // tk)
    esize = np.dtype(b_dtype).itemsize
    data = tiles_n * m * k + tiles_m * k * n * esize
    segments = tiles_n * chunks * m + tiles_m * tiles_n * k
    assert got.counters["BYTES_READ"] % 8 == 0
    assert data <= got.counters["BYTES_READ"] <= data + 15 * segments
    assert got.counters["MACS"] == m * n * k


# ---------------------------------------------------------------------------------------------
# Arguments the contract does not accept
# ---------------------------------------------------------------------------------------------


# What the reference says where csim reports the kernel's STATUS.
REFERENCE_MATCH = {"BAD_DIMS": r"is outside 1\.\."}


def test_backend_registry_finds_csim() -> None:
    assert get_backend("csim") is csim


@pytest.mark.parametrize(
    ("a", "b", "mode", "match"),
    [
        (np.zeros((2, 3), np.int8), np.zeros((3, 2), np.int8), "i4i4", "unknown gemm mode"),
        (np.zeros((2, 3), np.int16), np.zeros((3, 2), np.int8), "i8i8", "A must be int8"),
        (np.zeros((2, 3), np.int8), np.zeros((3, 2), np.uint8), "i8i8", "B must be int8"),
        (np.zeros((2, 3), np.int8), np.zeros((3, 2), np.int8), "i8i16", "B must be int16"),
        (np.zeros(3, np.int8), np.zeros((3, 2), np.int8), "i8i8", "2-D"),
        (np.zeros((2, 3), np.int8), np.zeros((4, 2), np.int8), "i8i8", "inner dimensions"),
        # Refused by the C++ kernel itself (STATUS BAD_DIMS), not by Python; by the reference too.
        (np.zeros((0, 3), np.int8), np.zeros((3, 2), np.int8), "i8i8", "BAD_DIMS"),
        (np.zeros((2, 0), np.int8), np.zeros((0, 2), np.int8), "i8i8", "BAD_DIMS"),
        (np.zeros((2, 3), np.int8), np.zeros((3, 0), np.int8), "i8i8", "BAD_DIMS"),
        (np.zeros((regmap.MAX_DIM + 1, 1), np.int8), np.zeros((1, 1), np.int8), "i8i8", "BAD_DIMS"),
    ],
)
def test_gemm_bad_arguments_raise(a: np.ndarray, b: np.ndarray, mode: str, match: str) -> None:
    """csim and the reference refuse the same calls with the same exception (messages may differ:
    csim reports a refused shape by the kernel's STATUS bits)."""
    with pytest.raises(KernelArgumentError, match=match):
        csim.gemm(a, b, mode)
    with pytest.raises(KernelArgumentError, match=REFERENCE_MATCH.get(match, match)):
        ref.gemm(a, b, mode)


@pytest.mark.parametrize(
    ("x", "g", "tau", "x_signed", "match"),
    [
        (np.zeros((2, 3), np.uint8), np.zeros((2, 3), np.int16), 1, True, "X must be int8"),
        (np.zeros((2, 3), np.int8), np.zeros((2, 3), np.int16), 1, False, "X must be uint8"),
        (np.zeros((2, 3), np.int8), np.zeros((2, 3), np.int32), 1, True, "G must be int16"),
        (np.zeros((2, 3), np.int8), np.zeros((2, 4), np.int16), 1, True, "share P"),
        # Refused by the C++ kernel itself (STATUS BAD_DIMS); by the reference too.
        (np.zeros((2, 0), np.int8), np.zeros((2, 0), np.int16), 1, True, "BAD_DIMS"),
        (np.zeros((0, 3), np.int8), np.zeros((2, 3), np.int16), 1, True, "BAD_DIMS"),
        (
            np.zeros((1, regmap.MAX_P + 1), np.int8),
            np.zeros((1, regmap.MAX_P + 1), np.int16),
            1,
            True,
            "BAD_DIMS",
        ),
    ],
)
def test_psg_wgrad_bad_arguments_raise(
    x: np.ndarray, g: np.ndarray, tau: int, x_signed: bool, match: str
) -> None:
    with pytest.raises(KernelArgumentError, match=match):
        csim.psg_wgrad(x, g, tau, x_signed)
    with pytest.raises(KernelArgumentError, match=REFERENCE_MATCH.get(match, match)):
        ref.psg_wgrad(x, g, tau, x_signed)


TAU_MESSAGE = r"tau must be an integer in 0\.\.2\*\*64-1"


@pytest.mark.parametrize(
    "tau", [-1, 2**64, 2**200, 1.5, 0.5, -0.5, float(2**64), float("nan"), float("inf"), np.float64(2.25)]
)
def test_psg_wgrad_refuses_taus_the_reference_refuses(tau: Any) -> None:
    """Non-integer, negative and too large thresholds: both raise, with the same message."""
    x, g = np.zeros((2, 3), np.int8), np.zeros((2, 3), np.int16)
    with pytest.raises(KernelArgumentError, match=TAU_MESSAGE):
        csim.psg_wgrad(x, g, tau, True)
    with pytest.raises(KernelArgumentError, match=TAU_MESSAGE):
        ref.psg_wgrad(x, g, tau, True)


@pytest.mark.parametrize("tau", ["5", None, True, np.bool_(False)])
def test_psg_wgrad_refuses_non_numbers(tau: Any) -> None:
    # The reference raises TypeError for a str or None and takes a bool as 0 or 1; csim refuses
    # all of them with KernelArgumentError (a bool tau is most likely a swapped x_signed).
    x, g = np.zeros((2, 3), np.int8), np.zeros((2, 3), np.int16)
    with pytest.raises(KernelArgumentError, match=TAU_MESSAGE):
        csim.psg_wgrad(x, g, tau, True)


@pytest.mark.parametrize("tau", [0, 7, 7.0, np.int64(7), np.uint64(2**64 - 1), 2**32, 2**63, 2**64 - 1])
def test_psg_wgrad_accepts_every_tau_the_reference_accepts(tau: Any) -> None:
    rng = np.random.default_rng(5)
    x, g = matrix(rng, (3, 20), np.int8, "uniform"), matrix(rng, (4, 20), np.int16, "uniform")
    assert_psg_equal(csim.psg_wgrad(x, g, tau, True), ref.psg_wgrad(x, g, tau, True))


def aligned_memory(nbytes: int) -> np.ndarray:
    return csim.Arena([nbytes]).mem


@pytest.mark.parametrize(
    ("registers", "want"),
    [
        ({"a_addr": 4}, regmap.STATUS_MISALIGNED),
        ({"b_addr": 65}, regmap.STATUS_MISALIGNED),
        ({"c_addr": 132}, regmap.STATUS_MISALIGNED),
        ({"mode": 3}, regmap.STATUS_BAD_MODE),
        (
            {"m": 0, "mode": 9, "a_addr": 1},
            regmap.STATUS_BAD_DIMS | regmap.STATUS_MISALIGNED | regmap.STATUS_BAD_MODE,
        ),
    ],
)
def test_gemm_kernel_refuses_bad_registers(registers: dict[str, Any], want: int) -> None:
    """The kernel's own checks: STATUS bits set, nothing written, every counter 0 (no hang)."""
    mem = aligned_memory(512)
    args: dict[str, Any] = {"a_addr": 0, "b_addr": 64, "c_addr": 128, "m": 2, "n": 2, "k": 2, "mode": 0}
    args |= registers
    counters = csim.gemm_registers(mem, **args)
    assert counters["STATUS"] == want
    assert all(counters[name] == 0 for name in regmap.HLS_COUNTER_NAMES if name != "STATUS")
    assert (mem == 0xA5).all()


@pytest.mark.parametrize(
    ("registers", "want"),
    [
        ({"x_addr": 1}, regmap.STATUS_MISALIGNED),
        ({"g_addr": 66}, regmap.STATUS_MISALIGNED),
        ({"s_addr": 132}, regmap.STATUS_MISALIGNED),
        ({"mask_addr": 199}, regmap.STATUS_MISALIGNED),
        ({"mode": 2}, regmap.STATUS_BAD_MODE),
        ({"p": regmap.MAX_P + 1}, regmap.STATUS_BAD_DIMS),
        ({"k": regmap.MAX_DIM + 1}, regmap.STATUS_BAD_DIMS),
    ],
)
def test_psg_wgrad_kernel_refuses_bad_registers(registers: dict[str, Any], want: int) -> None:
    mem = aligned_memory(512)
    args = {
        "x_addr": 0,
        "g_addr": 64,
        "s_addr": 128,
        "mask_addr": 192,
        "n": 2,
        "k": 2,
        "p": 2,
        "tau": 5,
        "mode": 0,
    }
    counters = csim.psg_wgrad_registers(mem, **(args | registers))
    assert counters["STATUS"] == want
    assert all(counters[name] == 0 for name in regmap.HLS_COUNTER_NAMES if name != "STATUS")
    assert (mem == 0xA5).all()


def test_register_calls_refuse_regions_outside_memory_and_wide_values() -> None:
    mem = aligned_memory(256)
    with pytest.raises(KernelArgumentError, match="outside device memory"):
        csim.gemm_registers(mem, 0, 64, 128, m=8, n=8, k=8, mode=0)  # C needs 256 bytes at 128
    with pytest.raises(KernelArgumentError, match="32-bit register"):
        csim.gemm_registers(mem, 0, 64, 128, m=2**32, n=1, k=1, mode=0)
    with pytest.raises(KernelArgumentError, match="contiguous 1-D uint8"):
        csim.psg_wgrad_registers(mem.view(np.int16), 0, 64, 128, 192, 1, 1, 1, 0, 0)
    with pytest.raises(
        KernelArgumentError, match="TAU=18446744073709551616 does not fit its 64-bit register"
    ):
        csim.psg_wgrad_registers(mem, 0, 64, 128, 192, 1, 1, 1, 2**64, 0)
    with pytest.raises(KernelArgumentError, match="MODE=4294967296 does not fit its 32-bit register"):
        csim.psg_wgrad_registers(mem, 0, 64, 128, 192, 1, 1, 1, 0, 2**32)


def test_psg_wgrad_registers_take_all_64_bits_of_tau() -> None:
    # X = 1 x 8 zeros, G = 1 x 8 zeros: |16 * Pr| = 0, so any tau > 0 recomputes the one entry.
    mem = aligned_memory(256)
    mem[:80] = 0
    for tau, want in ((0, 0), (1, 1), (2**32, 1), (2**63, 1), (2**64 - 1, 1)):
        counters = csim.psg_wgrad_registers(mem, 0, 16, 128, 192, 1, 1, 8, tau, 0)
        assert counters["STATUS"] == 0 and counters["RECOMPUTED"] == want, tau
        assert int(mem[192]) == want


# ---------------------------------------------------------------------------------------------
# Finding the sources: checkout / editable install, regular install, E2TRAIN_HLS_DIR
# ---------------------------------------------------------------------------------------------


def copy_sources(dest: Path) -> Path:
    for rel in csim.SOURCES + csim.HEADERS:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(HLS_DIR / rel, dest / rel)
    return dest


def test_sources_are_found_in_the_repository_then_in_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("E2TRAIN_HLS_DIR", raising=False)
    # Repository layout (a checkout or an editable install): <repo>/host/e2train/backends/csim.py.
    monkeypatch.setattr(csim, "__file__", str(tmp_path / "repo/host/e2train/backends/csim.py"))
    copy_sources(tmp_path / "repo/host/e2train/_hls")
    assert csim.hls_dir() == tmp_path / "repo/host/e2train/_hls", "falls back to package data"
    copy_sources(tmp_path / "repo/hls")
    assert csim.hls_dir() == tmp_path / "repo/hls", "the repository's hls/ comes first"
    # A regular install: site-packages/e2train/_hls, and no guessing above site-packages.
    monkeypatch.setattr(csim, "__file__", str(tmp_path / "lib/site-packages/e2train/backends/csim.py"))
    copy_sources(tmp_path / "lib/hls")  # not a repository: must be ignored
    assert csim.hls_candidates() == [tmp_path / "lib/site-packages/e2train/_hls"]
    with pytest.raises(BackendUnavailable, match="e2train/_hls"):
        csim.hls_dir()
    copy_sources(tmp_path / "lib/site-packages/e2train/_hls")
    assert csim.hls_dir() == tmp_path / "lib/site-packages/e2train/_hls"


def test_e2train_hls_dir_overrides_without_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("E2TRAIN_HLS_DIR", str(copy_sources(tmp_path / "mine")))
    assert csim.hls_dir() == tmp_path / "mine"
    (tmp_path / "mine/src/gemm.cpp").unlink()
    with pytest.raises(BackendUnavailable, match=r"missing src/gemm\.cpp"):
        csim.hls_dir()
