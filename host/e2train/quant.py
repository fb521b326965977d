"""The numeric contract: every fixed-point format the project uses, defined once.

The HLS C++, the Verilog RTL and the software path implement only integer arithmetic on the
codes defined here; scales stay on the host in floating point.  Rounding is round-half-to-even
(``torch.round``), the same as ``numpy.rint`` and C's ``nearbyint`` in the default mode.

Formats
-------
- weights: signed 8-bit codes in [-127, 127], one scale per output channel (``max|w| / 127``);
- activations: 8-bit codes, per-tensor scale from the batch mean of the per-sample ``max|x|``
  (Banner et al. 2018); unsigned [0, 255] for non-negative inputs (after ReLU), signed
  [-127, 127] otherwise; a running estimate of the range is used at evaluation;
- gradients (errors): signed 16-bit codes in [-32767, 32767], per-tensor scale ``max|g| / 32767``;
- the 4-bit MSB predictor of an 8-bit activation code: ``msb4(q) = clamp((q + 8) >> 4, lo, hi)``
  with an arithmetic shift, ``lo, hi = 0, 15`` for unsigned and ``-8, 7`` for signed codes; it
  stands for the value ``16 * msb4(q)``.
- accumulators: exact (48-bit in hardware, like a DSP48E1); a GEMM result is saturated to int32
  and each saturated entry is counted as an overflow (see ``kernels.reference``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from e2train.layout import flat_view

WEIGHT_QMAX = 127
ACT_UNSIGNED_QMAX = 255
ACT_SIGNED_QMAX = 127
GRAD_QMAX = 32767
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
_TINY = 1e-12  # keeps an all-zero tensor's scale finite; its codes are all zero anyway


@dataclass(frozen=True)
class Quantized:
    """Integer codes (stored in a float tensor, exact up to 2**24) and the scale to undo them."""

    codes: torch.Tensor
    scale: torch.Tensor  # broadcastable to codes
    signed: bool

    def dequantize(self) -> torch.Tensor:
        return self.codes * self.scale


def quantize_codes(x: torch.Tensor, scale: torch.Tensor, qmin: int, qmax: int) -> torch.Tensor:
    """Round-half-to-even then saturate: the one rounding rule of the project."""
    # One fresh tensor (in x's layout), rounded and saturated in place: every further large temporary
    # costs a page-faulting allocation, which on a CPU takes longer than the arithmetic.
    codes = torch.div(x, scale)
    return codes.round_().clamp_(qmin, qmax)


def quantize_weight(w: torch.Tensor) -> Quantized:
    """Signed 8-bit codes with one scale per output channel (dim 0)."""
    # w: (Cout, ...) -> scale: (Cout, 1, ..., 1)
    flat_max = w.detach().abs().reshape(w.shape[0], -1).amax(dim=1)
    scale = (flat_max.clamp_min(_TINY) / WEIGHT_QMAX).reshape(-1, *([1] * (w.dim() - 1)))
    return Quantized(quantize_codes(w.detach(), scale, -WEIGHT_QMAX, WEIGHT_QMAX), scale, True)


def activation_range(x: torch.Tensor) -> torch.Tensor:
    """Batch mean of the per-sample max |x|: robust to one outlier sample (Banner et al.)."""
    if x.shape[0] == 0:
        return torch.zeros((), dtype=x.dtype, device=x.device)
    # Reductions over the sample's dims in place: no |x| temporary, and no reshape (which copies a
    # channels-last tensor); two passes of amin/amax beat one of aminmax(dim) by about 5x on CPU.
    dims = tuple(range(1, x.dim()))
    lo, hi = x.detach().amin(dim=dims), x.detach().amax(dim=dims)
    return torch.maximum(-lo, hi).mean()


def quantize_activation(x: torch.Tensor, value_range: torch.Tensor, signed: bool) -> Quantized:
    """8-bit codes, per-tensor scale; unsigned when the input is known non-negative."""
    qmax = ACT_SIGNED_QMAX if signed else ACT_UNSIGNED_QMAX
    qmin = -ACT_SIGNED_QMAX if signed else 0
    scale = (value_range.clamp_min(_TINY) / qmax).to(x.dtype)
    return Quantized(quantize_codes(x.detach(), scale, qmin, qmax), scale, signed)


def gradient_scale(g: torch.Tensor) -> torch.Tensor:
    """The per-tensor scale of 16-bit gradient codes, ``max |g| / 32767``."""
    if not g.numel():
        return g.new_ones(())
    lo, hi = torch.aminmax(flat_view(g.detach()))  # max |g| without a |g| temporary or a copy
    return torch.maximum(-lo, hi).clamp_min(_TINY) / GRAD_QMAX


def quantize_gradient(g: torch.Tensor) -> Quantized:
    """Signed 16-bit codes with a per-tensor scale from max |g|."""
    scale = gradient_scale(g)
    return Quantized(quantize_codes(g.detach(), scale, -GRAD_QMAX, GRAD_QMAX), scale, True)


def msb4(codes: torch.Tensor, signed: bool) -> torch.Tensor:
    """4-bit MSB predictor code of 8-bit activation codes, exactly as the hardware computes it.

    ``(q + 8) >> 4`` is round-to-nearest of ``q / 16`` with ties upward; the clamp keeps the
    result in 4 bits (255 and 127 would otherwise round up to 16 and 8).
    """
    lo, hi = (-8, 7) if signed else (0, 15)
    shifted = codes.to(torch.int16) + 8  # 8-bit codes + 8 fit int16
    return shifted.bitwise_right_shift_(4).clamp_(lo, hi).to(codes.dtype)  # arithmetic shift for signed


def saturate_int32(acc: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Saturate exact accumulators to int32; return the result and how many entries saturated."""
    overflows = int(((acc < INT32_MIN) | (acc > INT32_MAX)).sum())
    return torch.clamp(acc, INT32_MIN, INT32_MAX), overflows
