"""Conv / linear helpers against the math done directly in numpy int64 (no im2col), through the
reference and through the drivers on a small-limit emulated device (so the gemm is tiled)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from e2train.device import EmulatedDevice, KernelLimits
from e2train.drivers import GemmDriver, PsgDriver
from e2train.kernels import reference
from e2train.kernels.driver_conv import (
    as_codes,
    conv2d_forward_codes,
    conv2d_wgrad_psg,
    linear_forward_codes,
    linear_wgrad_psg,
)
from e2train.kernels.reference import KernelArgumentError

I32 = np.iinfo(np.int32)


def _windows(xp: np.ndarray, i: int, j: int, stride: tuple[int, int], out: tuple[int, int]) -> np.ndarray:
    """xp[b, c, ho*s + i, wo*s + j] for all (ho, wo)."""
    sh, sw = stride
    return xp[:, :, i : i + sh * (out[0] - 1) + 1 : sh, j : j + sw * (out[1] - 1) + 1 : sw].astype(np.int64)


def _direct_conv(x: np.ndarray, w: np.ndarray, stride: tuple[int, int], pad: tuple[int, int]) -> np.ndarray:
    b, _, h, wd = x.shape
    cout, _, kh, kw = w.shape
    ho, wo = (h + 2 * pad[0] - kh) // stride[0] + 1, (wd + 2 * pad[1] - kw) // stride[1] + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    y = np.zeros((b, cout, ho, wo), np.int64)
    for i in range(kh):
        for j in range(kw):
            y += np.einsum(
                "oc,bchw->bohw", w[:, :, i, j].astype(np.int64), _windows(xp, i, j, stride, (ho, wo))
            )
    return y


def _direct_wgrad(
    x: np.ndarray, g: np.ndarray, k: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int]
) -> np.ndarray:
    ho, wo = g.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    dw = np.zeros((g.shape[1], x.shape[1], *k), np.int64)
    for i in range(k[0]):
        for j in range(k[1]):
            dw[:, :, i, j] = np.einsum(
                "bohw,bchw->oc", g.astype(np.int64), _windows(xp, i, j, stride, (ho, wo))
            )
    return dw


@st.composite
def conv_case(draw: st.DrawFn) -> dict:
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pad = (draw(st.integers(0, 1)), draw(st.integers(0, 1)))
    h, w = draw(st.integers(kh, 6)), draw(st.integers(kw, 6))
    b, cin, cout = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    x_signed = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.integers(-127 if x_signed else 0, 128 if x_signed else 256, (b, cin, h, w)).astype(
        np.int8 if x_signed else np.uint8
    )
    wt = rng.integers(-127, 128, (cout, cin, kh, kw)).astype(np.int8)
    ho, wo = (h + 2 * pad[0] - kh) // stride[0] + 1, (w + 2 * pad[1] - kw) // stride[1] + 1
    g = rng.integers(-32767, 32768, (b, cout, ho, wo)).astype(np.int16)
    return {"x": x, "w": wt, "g": g, "stride": stride, "pad": pad, "x_signed": x_signed, "k": (kh, kw)}


SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def tiled_device() -> EmulatedDevice:
    return EmulatedDevice(memory_bytes=8 << 20, limits=KernelLimits(max_dim=7, max_p=512))


@SETTINGS
@given(case=conv_case(), through_driver=st.booleans())
def test_conv_forward_equals_direct_int64(
    tiled_device: EmulatedDevice, case: dict, through_driver: bool
) -> None:
    gemm = GemmDriver(tiled_device, on_overflow="count").run if through_driver else None
    got = conv2d_forward_codes(case["x"], case["w"], case["stride"], case["pad"], case["x_signed"], gemm=gemm)
    want = _direct_conv(case["x"], case["w"], case["stride"], case["pad"])
    np.testing.assert_array_equal(got.y, np.clip(want, I32.min, I32.max))
    assert got.y.dtype == np.int32 and got.overflows == 0
    assert got.macs == want.size * case["w"][0].size


@SETTINGS
@given(case=conv_case(), through_driver=st.booleans(), tau_pick=st.sampled_from(["zero", "median", "all"]))
def test_conv_wgrad_equals_direct_int64(
    tiled_device: EmulatedDevice, case: dict, through_driver: bool, tau_pick: str
) -> None:
    x, g, k, stride, pad, signed = (
        case["x"],
        case["g"],
        case["k"],
        case["stride"],
        case["pad"],
        case["x_signed"],
    )
    full = _direct_wgrad(x, g, k, stride, pad)
    pred = _direct_wgrad(reference.msb4(x, signed), g, k, stride, pad)
    tau = {"zero": 0, "median": int(np.median(np.abs(16 * pred))), "all": 2**64 - 1}[tau_pick]
    recompute = np.abs(16 * pred) < tau
    want = np.where(recompute, np.sign(full), np.sign(pred)).astype(np.int8)
    psg = PsgDriver(tiled_device).run if through_driver else None
    got = conv2d_wgrad_psg(x, g, k, stride, pad, tau, signed, psg=psg)
    np.testing.assert_array_equal(got.signs, want)
    np.testing.assert_array_equal(got.recompute_mask, recompute.astype(np.uint8))
    assert got.recomputed == int(recompute.sum())
    assert got.signs.shape == case["w"].shape


def test_linear_forward_and_wgrad(tiled_device: EmulatedDevice) -> None:
    rng = np.random.default_rng(7)
    x = rng.integers(0, 256, (9, 11)).astype(np.uint8)
    w = rng.integers(-127, 128, (6, 11)).astype(np.int8)
    g = rng.integers(-32767, 32768, (9, 6)).astype(np.int16)
    fwd = linear_forward_codes(x, w, False, gemm=GemmDriver(tiled_device).run)
    np.testing.assert_array_equal(fwd.y, x.astype(np.int64) @ w.T.astype(np.int64))
    bwd = linear_wgrad_psg(x, g, 0, False, psg=PsgDriver(tiled_device).run)
    np.testing.assert_array_equal(bwd.signs, np.sign(g.T.astype(np.int64) @ x.astype(np.int64)))
    assert bwd.signs.shape == w.shape


def test_codes_from_float_arrays_and_torch() -> None:
    torch = pytest.importorskip("torch")
    x = torch.tensor([[[[1.0, 2.0], [3.0, 255.0]]]])
    w = torch.tensor([[[[1.0]]]])
    got = conv2d_forward_codes(x, w)
    np.testing.assert_array_equal(got.y, [[[[1, 2], [3, 255]]]])
    with pytest.raises(KernelArgumentError, match="fractional"):
        as_codes(np.array([0.5]), np.uint8, "x")
    with pytest.raises(KernelArgumentError, match="outside uint8"):
        as_codes(np.array([256.0]), np.uint8, "x")
    with pytest.raises(KernelArgumentError, match="outside int8"):
        conv2d_forward_codes(np.zeros((1, 1, 2, 2)), np.full((1, 1, 1, 1), 200))


def test_shape_errors() -> None:
    x = np.zeros((1, 2, 4, 4), np.uint8)
    with pytest.raises(KernelArgumentError, match="Cin"):
        conv2d_forward_codes(x, np.zeros((3, 1, 3, 3), np.int8))
    with pytest.raises(KernelArgumentError, match="smaller than the kernel"):
        conv2d_forward_codes(x, np.zeros((3, 2, 5, 5), np.int8))
    with pytest.raises(KernelArgumentError, match="spatially"):
        conv2d_wgrad_psg(x, np.zeros((1, 3, 3, 3), np.int16), 3, padding=1)
