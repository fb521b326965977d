"""Convolution and linear layers on the two kernels: im2col -> gemm (forward) and im2col ->
psg_wgrad (weight gradient), for the trainer to call directly.

Why im2col: both kernels are matrix kernels.  A convolution is a gemm once every receptive field
is laid out as a column: ``cols`` (Cin*kh*kw, B*Ho*Wo), ``W`` (Cout, Cin*kh*kw), so
``Y = W @ cols``.  The same ``cols`` serve the weight gradient, ``dW = G @ cols^T`` with ``G``
(Cout, B*Ho*Wo), which is exactly psg_wgrad's layout (X = cols: K x P, G: N x P, out: N x K).
Zero padding is exact because a zero code means zero under the project's symmetric quantisation
(no zero point, see ``e2train.quant``).

Every function takes the kernel as an argument (``gemm=`` / ``psg=``): ``GemmDriver(device).run``
for a board, the simulator or the emulation, ``get_backend(name).gemm`` for any backend, and the
numpy reference by default.  Codes may arrive as any numeric array (the trainer keeps codes in
float tensors); they are checked to be integers in the format's range and converted.

Shapes: x (B, Cin, H, W), w (Cout, Cin, kh, kw), y and g (B, Cout, Ho, Wo), NCHW like torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from e2train.kernels import reference
from e2train.kernels.reference import GemmResult, KernelArgumentError, PsgResult

GemmFn = Callable[[np.ndarray, np.ndarray, str], GemmResult]
PsgFn = Callable[[np.ndarray, np.ndarray, int, bool], PsgResult]
IntPair = int | tuple[int, int]


@dataclass(frozen=True)
class ForwardResult:
    """Integer layer output (int32, saturated) with the kernel's overflow count and counters."""

    y: np.ndarray  # conv: (B, Cout, Ho, Wo); linear: (B, out)
    overflows: int
    macs: int
    counters: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class WgradResult:
    """Sign weight gradient in the weight's layout, with the recompute statistics."""

    signs: np.ndarray  # conv: (Cout, Cin, kh, kw) int8; linear: (out, in)
    recompute_mask: np.ndarray  # same shape, uint8
    recomputed: int
    macs_predict: int
    macs_full: int
    counters: dict[str, int] = field(default_factory=dict)


def _pair(value: IntPair, name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or any(int(v) != v for v in pair):
        raise KernelArgumentError(f"{name} must be an int or a pair of ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def as_codes(array: Any, dtype: Any, name: str) -> np.ndarray:
    """``array`` as integer codes of ``dtype``; refuses non-integers and out-of-range values."""
    arr = np.asarray(array.detach().cpu() if hasattr(array, "detach") else array)
    dt = np.dtype(dtype)
    if arr.dtype == dt:
        return arr
    info = np.iinfo(dt)
    if arr.size:
        if np.issubdtype(arr.dtype, np.floating) and not np.array_equal(arr, np.round(arr)):
            raise KernelArgumentError(f"{name} must hold integer codes; found fractional values")
        lo, hi = arr.min(), arr.max()
        if lo < info.min or hi > info.max:
            raise KernelArgumentError(
                f"{name} codes span [{lo}, {hi}], outside {dt.name} [{info.min}, {info.max}]"
            )
    return arr.astype(dt)


def _x_dtype(x_signed: bool) -> Any:
    return np.int8 if x_signed else np.uint8


def output_size(
    h: int, w: int, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int]
) -> tuple[int, int]:
    ho = (h + 2 * padding[0] - kernel[0]) // stride[0] + 1
    wo = (w + 2 * padding[1] - kernel[1]) // stride[1] + 1
    if ho < 1 or wo < 1:
        raise KernelArgumentError(f"input {h}x{w} with padding {padding} is smaller than the kernel {kernel}")
    return ho, wo


def im2col(x: np.ndarray, kernel_size: IntPair, stride: IntPair = 1, padding: IntPair = 0) -> np.ndarray:
    """(B, C, H, W) -> (C*kh*kw, B*Ho*Wo); row order (c, i, j), column order (b, ho, wo)."""
    if x.ndim != 4:
        raise KernelArgumentError(f"x must be (B, C, H, W), got shape {x.shape}")
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(stride, "stride")
    ph, pw = _pair(padding, "padding")
    if min(kh, kw, sh, sw) < 1 or min(ph, pw) < 0:
        raise KernelArgumentError("kernel_size and stride must be >= 1, padding >= 0")
    b, c, h, w = x.shape
    ho, wo = output_size(h, w, (kh, kw), (sh, sw), (ph, pw))
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))  # (B, C, H', W', kh, kw)
    win = win[:, :, : (ho - 1) * sh + 1 : sh, : (wo - 1) * sw + 1 : sw]  # (B, C, Ho, Wo, kh, kw)
    return np.ascontiguousarray(win.transpose(1, 4, 5, 0, 2, 3)).reshape(c * kh * kw, b * ho * wo)


def conv2d_forward_codes(
    x_codes: Any,
    w_codes: Any,
    stride: IntPair = 1,
    padding: IntPair = 0,
    x_signed: bool = False,
    *,
    gemm: GemmFn | None = None,
) -> ForwardResult:
    """Integer convolution ``y = conv2d(x, w)`` through one gemm; y is int32 (B, Cout, Ho, Wo)."""
    x = as_codes(x_codes, _x_dtype(x_signed), "x")
    w = as_codes(w_codes, np.int8, "w")
    if w.ndim != 4 or x.ndim != 4 or w.shape[1] != x.shape[1]:
        raise KernelArgumentError(
            f"need x (B, Cin, H, W) and w (Cout, Cin, kh, kw); got {x.shape} and {w.shape}"
        )
    cout, _, kh, kw = w.shape
    b, _, h, wd = x.shape
    ho, wo = output_size(h, wd, (kh, kw), _pair(stride, "stride"), _pair(padding, "padding"))
    cols = im2col(x, (kh, kw), stride, padding)  # (Cin*kh*kw, B*Ho*Wo)
    res = (gemm or reference.gemm)(
        w.reshape(cout, -1), cols, "i8i8" if x_signed else "i8u8"
    )  # (Cout, B*Ho*Wo)
    y = np.ascontiguousarray(res.c.reshape(cout, b, ho, wo).transpose(1, 0, 2, 3))
    return ForwardResult(y, res.overflows, res.macs, dict(res.counters))


def conv2d_wgrad_psg(
    x_codes: Any,
    g_codes: Any,
    kernel_size: IntPair,
    stride: IntPair = 1,
    padding: IntPair = 0,
    tau: int = 0,
    x_signed: bool = False,
    *,
    psg: PsgFn | None = None,
) -> WgradResult:
    """Predictive-sign weight gradient of a convolution; signs in the weight layout (Cout, Cin, kh, kw)."""
    x = as_codes(x_codes, _x_dtype(x_signed), "x")
    g = as_codes(g_codes, np.int16, "g")
    kh, kw = _pair(kernel_size, "kernel_size")
    if x.ndim != 4 or g.ndim != 4 or g.shape[0] != x.shape[0]:
        raise KernelArgumentError(
            f"need x (B, Cin, H, W) and g (B, Cout, Ho, Wo); got {x.shape} and {g.shape}"
        )
    b, cin, h, w = x.shape
    ho, wo = output_size(h, w, (kh, kw), _pair(stride, "stride"), _pair(padding, "padding"))
    if g.shape[2:] != (ho, wo):
        raise KernelArgumentError(f"g is {g.shape[2:]} spatially, but the convolution's output is {(ho, wo)}")
    cout = g.shape[1]
    cols = im2col(x, (kh, kw), stride, padding)  # X: (K = Cin*kh*kw, P = B*Ho*Wo)
    gm = np.ascontiguousarray(g.transpose(1, 0, 2, 3)).reshape(cout, b * ho * wo)  # G: (N = Cout, P)
    res = (psg or reference.psg_wgrad)(cols, gm, tau, x_signed)  # (Cout, K)
    shape = (cout, cin, kh, kw)
    return WgradResult(
        res.signs.reshape(shape),
        res.recompute_mask.reshape(shape),
        res.recomputed,
        res.macs_predict,
        res.macs_full,
        dict(res.counters),
    )


def linear_forward_codes(
    x_codes: Any, w_codes: Any, x_signed: bool = False, *, gemm: GemmFn | None = None
) -> ForwardResult:
    """``y = x @ w.T`` for x (B, in), w (out, in); y int32 (B, out)."""
    x = as_codes(x_codes, _x_dtype(x_signed), "x")
    w = as_codes(w_codes, np.int8, "w")
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
        raise KernelArgumentError(f"need x (B, in) and w (out, in); got {x.shape} and {w.shape}")
    res = (gemm or reference.gemm)(w, np.ascontiguousarray(x.T), "i8i8" if x_signed else "i8u8")  # (out, B)
    return ForwardResult(np.ascontiguousarray(res.c.T), res.overflows, res.macs, dict(res.counters))


def linear_wgrad_psg(
    x_codes: Any, g_codes: Any, tau: int = 0, x_signed: bool = False, *, psg: PsgFn | None = None
) -> WgradResult:
    """Sign weight gradient of a linear layer: x (B, in), g (B, out) -> signs (out, in)."""
    x = as_codes(x_codes, _x_dtype(x_signed), "x")
    g = as_codes(g_codes, np.int16, "g")
    if x.ndim != 2 or g.ndim != 2 or x.shape[0] != g.shape[0]:
        raise KernelArgumentError(f"need x (B, in) and g (B, out); got {x.shape} and {g.shape}")
    res = (psg or reference.psg_wgrad)(np.ascontiguousarray(x.T), np.ascontiguousarray(g.T), tau, x_signed)
    return WgradResult(
        res.signs, res.recompute_mask, res.recomputed, res.macs_predict, res.macs_full, dict(res.counters)
    )
