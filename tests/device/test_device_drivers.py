"""Kernel drivers on the emulated device: bit-exact with the reference, tiling, buffer reuse,
STATUS and overflow handling, timeouts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from e2train.device import DeviceTimeout, EmulatedDevice, KernelLimits
from e2train.drivers import (
    GemmDriver,
    KernelOverflowError,
    KernelOverflowWarning,
    KernelStatusError,
    PsgDriver,
)
from e2train.kernels import reference, regmap
from e2train.kernels.reference import GEMM_MODES, KernelArgumentError

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _codes(rng: np.random.Generator, shape: tuple[int, ...], dtype: type, extreme: bool) -> np.ndarray:
    info = np.iinfo(dtype)
    if extreme:  # only the extremes: saturation and sign edge cases
        return rng.choice(np.array([info.min, info.max, 0], dtype=dtype), size=shape)
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)


@st.composite
def gemm_case(draw: st.DrawFn, max_dim: int = 12) -> tuple[np.ndarray, np.ndarray, str]:
    m, n, k = (draw(st.integers(1, max_dim)) for _ in range(3))
    mode = draw(st.sampled_from(sorted(GEMM_MODES)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    extreme = draw(st.booleans())
    a_dt, b_dt = GEMM_MODES[mode]
    return _codes(rng, (m, k), a_dt, extreme), _codes(rng, (k, n), b_dt, extreme), mode


def _assert_gemm_equal(got: reference.GemmResult, a: np.ndarray, b: np.ndarray, mode: str) -> None:
    want = reference.gemm(a, b, mode)
    np.testing.assert_array_equal(got.c, want.c)
    assert got.c.dtype == np.int32
    assert got.overflows == want.overflows
    assert got.macs == want.macs
    assert got.counters["OVERFLOWS"] == want.overflows
    assert bool(got.counters["STATUS"] & regmap.STATUS_OVERFLOW) == (want.overflows > 0)


@FAST
@given(case=gemm_case())
def test_gemm_driver_matches_reference(emulated: EmulatedDevice, case: tuple) -> None:
    a, b, mode = case
    with GemmDriver(emulated, on_overflow="count") as driver:
        got = driver.run(a, b, mode)
    _assert_gemm_equal(got, a, b, mode)
    assert got.counters["CALLS"] == 1 and got.counters["MACS"] == got.macs


@FAST
@given(case=gemm_case(max_dim=13))
def test_gemm_driver_tiles_exactly(small_device: EmulatedDevice, case: tuple) -> None:
    """Limits of 5: M, N and K tiles, K partials summed in int64 and saturated once."""
    a, b, mode = case
    got = GemmDriver(small_device, on_overflow="count").run(a, b, mode)
    _assert_gemm_equal(got, a, b, mode)
    plan_runs = -(-a.shape[0] // 5) * -(-b.shape[1] // 5) * -(-a.shape[1] // 5)
    assert got.counters["CALLS"] >= plan_runs
    assert got.counters["MACS"] == got.macs  # every useful MAC counted once over the tiles


def test_gemm_k_tiling_saturates_once_at_the_end() -> None:
    """Partial sums of opposite sign: each K chunk alone would not saturate, nor does the total;
    a driver that saturated per chunk and added would be wrong elsewhere, so check both ways."""
    dev = EmulatedDevice(memory_bytes=1 << 20, limits=KernelLimits(max_dim=700))
    k = 1400
    a = np.full((1, k), 127, np.int8)
    b = np.full((k, 2), 32767, np.int16)
    b[700:, 0] = -32768  # column 0: exact sum near zero; column 1: far above INT32_MAX
    got = GemmDriver(dev, on_overflow="count").run(a, b, "i8i16")
    _assert_gemm_equal(got, a, b, "i8i16")
    assert got.overflows == 1
    plan = GemmDriver(dev).plan(a, b, "i8i16")
    assert plan.tile_k == (2**31 - 1) // (127 * 32768)  # from the operands: no chunk can saturate


@st.composite
def psg_case(draw: st.DrawFn, max_dim: int = 12) -> tuple[np.ndarray, np.ndarray, int, bool]:
    n, k, p = draw(st.integers(1, max_dim)), draw(st.integers(1, max_dim)), draw(st.integers(1, 40))
    x_signed = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = _codes(rng, (k, p), np.int8 if x_signed else np.uint8, draw(st.booleans()))
    g = _codes(rng, (n, p), np.int16, draw(st.booleans()))
    pred = np.abs(16 * (g.astype(np.int64) @ reference.msb4(x, x_signed).T.astype(np.int64)))
    tau = draw(st.sampled_from([0, 1, int(np.median(pred)), int(pred.max()) + 1, 2**64 - 1]))
    return x, g, tau, x_signed


def _assert_psg_equal(
    got: reference.PsgResult, x: np.ndarray, g: np.ndarray, tau: int, x_signed: bool
) -> None:
    want = reference.psg_wgrad(x, g, tau, x_signed)
    np.testing.assert_array_equal(got.signs, want.signs)
    np.testing.assert_array_equal(got.recompute_mask, want.recompute_mask)
    assert (got.recomputed, got.macs_predict, got.macs_full) == (
        want.recomputed,
        want.macs_predict,
        want.macs_full,
    )
    assert got.counters["RECOMPUTED"] == want.recomputed
    assert got.counters["MACS"] == want.macs_predict + want.macs_full


@FAST
@given(case=psg_case())
def test_psg_driver_matches_reference(emulated: EmulatedDevice, case: tuple) -> None:
    _assert_psg_equal(PsgDriver(emulated).run(*case), *case)


@FAST
@given(case=psg_case(max_dim=13))
def test_psg_driver_tiles_n_and_k_exactly(small_device: EmulatedDevice, case: tuple) -> None:
    x, g, tau, x_signed = case
    if x.shape[1] > small_device.limits("psg_wgrad").max_p:
        return
    _assert_psg_equal(PsgDriver(small_device).run(x, g, tau, x_signed), x, g, tau, x_signed)


def test_psg_refuses_p_above_limit_with_reason(small_device: EmulatedDevice) -> None:
    max_p = small_device.limits("psg_wgrad").max_p
    x = np.zeros((2, max_p + 1), np.uint8)
    g = np.zeros((2, max_p + 1), np.int16)
    with pytest.raises(KernelArgumentError, match="not tiled over P"):
        PsgDriver(small_device).run(x, g, 0, False)


def test_buffers_are_pooled_and_grow_only(emulated: EmulatedDevice) -> None:
    driver = GemmDriver(emulated)
    rng = np.random.default_rng(3)
    for shape in [(8, 8, 8), (4, 4, 4), (8, 8, 8), (3, 5, 7)]:
        m, n, k = shape
        driver.run(rng.integers(-5, 5, (m, k)).astype(np.int8), rng.integers(-5, 5, (k, n)).astype(np.int8))
    assert driver.pool.allocations == 3  # A, B, C once each
    in_use = emulated.memory.allocator.bytes_in_use
    driver.run(np.ones((300, 300), np.int8), np.ones((300, 300), np.int8))  # larger: grows
    assert driver.pool.allocations == 6
    assert emulated.memory.allocator.bytes_in_use > in_use
    driver.close()
    assert emulated.memory.allocator.bytes_in_use == 0


def test_memory_budget_splits_tiles() -> None:
    dev = EmulatedDevice(memory_bytes=1 << 16)  # budget 32 KiB
    a = np.ones((120, 150), np.int8)
    b = np.ones((150, 200), np.int8)
    got = GemmDriver(dev).run(a, b)
    assert got.counters["CALLS"] > 1
    np.testing.assert_array_equal(got.c, reference.gemm(a, b).c)


@pytest.mark.parametrize(
    "args",
    [
        (np.zeros((2, 3), np.int8), np.zeros((3, 2), np.uint8), "i8i8"),  # dtype
        (np.zeros((2, 3), np.int8), np.zeros((4, 2), np.int8), "i8i8"),  # inner dims
        (np.zeros((0, 3), np.int8), np.zeros((3, 2), np.int8), "i8i8"),  # zero dim
        (np.zeros((2, 3), np.int8), np.zeros((3, 2), np.int8), "i4i4"),  # mode
        (np.zeros(3, np.int8), np.zeros((3, 2), np.int8), "i8i8"),  # not 2-D
    ],
)
def test_gemm_argument_errors_like_reference(emulated: EmulatedDevice, args: tuple) -> None:
    with pytest.raises(KernelArgumentError):
        reference.gemm(*args)
    with pytest.raises(KernelArgumentError):
        GemmDriver(emulated).run(*args)
    assert emulated.runs == []  # refused before the device was touched


@pytest.mark.parametrize("tau", [-1, 2**64, 1.5, True, "3"])
def test_psg_tau_errors(emulated: EmulatedDevice, tau: object) -> None:
    with pytest.raises(KernelArgumentError, match="tau"):
        PsgDriver(emulated).run(np.zeros((2, 3), np.uint8), np.zeros((2, 3), np.int16), tau, False)  # type: ignore[arg-type]


def test_status_error_is_reported_with_its_bits(small_device: EmulatedDevice) -> None:
    """A driver told wrong limits (bigger than the device's) gets BAD_DIMS back, decoded."""
    driver = GemmDriver(small_device, limits=KernelLimits())
    with pytest.raises(KernelStatusError, match=r"STATUS=0x1 BAD_DIMS"):
        driver.run(np.ones((9, 2), np.int8), np.ones((2, 2), np.int8))


def _overflowing() -> tuple[np.ndarray, np.ndarray]:
    return np.full((1, 600), 127, np.int8), np.full((600, 1), 32767, np.int16)


def test_overflow_policies(emulated: EmulatedDevice) -> None:
    a, b = _overflowing()
    with pytest.warns(KernelOverflowWarning, match="1 of 1 outputs saturated"):
        assert GemmDriver(emulated).run(a, b, "i8i16").overflows == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert GemmDriver(emulated, on_overflow="count").run(a, b, "i8i16").overflows == 1
    with pytest.raises(KernelOverflowError):
        GemmDriver(emulated, on_overflow="raise").run(a, b, "i8i16")
    with pytest.raises(ValueError, match="on_overflow"):
        GemmDriver(emulated, on_overflow="ignore")


def test_driver_times_out_on_a_hung_kernel(emulated: EmulatedDevice) -> None:
    emulated.inject_fault("psg_wgrad", "hang")
    with pytest.raises(DeviceTimeout, match="psg_wgrad"):
        PsgDriver(emulated, timeout_s=0.05).run(
            np.ones((2, 3), np.uint8), np.ones((2, 3), np.int16), 0, False
        )


def test_results_are_copies_not_views_of_pooled_buffers(emulated: EmulatedDevice) -> None:
    driver = GemmDriver(emulated)
    first = driver.run(np.ones((2, 2), np.int8), np.ones((2, 2), np.int8)).c
    driver.run(np.full((2, 2), 2, np.int8), np.ones((2, 2), np.int8))
    np.testing.assert_array_equal(first, np.full((2, 2), 2))


def test_noncontiguous_operands(emulated: EmulatedDevice) -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(-128, 128, (10, 12)).astype(np.int8)[:, ::2]
    b = rng.integers(0, 256, (6, 9)).astype(np.uint8).T.copy().T
    _assert_gemm_equal(GemmDriver(emulated).run(a, b, "i8u8"), a, b, "i8u8")
