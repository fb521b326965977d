"""Exact integer convolution and matrix products on torch tensors holding integer codes.

Three strategies, each exact:
- float32 BLAS/oneDNN when the worst-case partial sum is below 2**24 (every partial sum of
  integers is then an exactly representable float32, whatever the summation order);
- int8 x int8 -> int32 products (``torch._int_mm``) on 8-bit limbs of wider codes, recombined in
  int64, for the weight gradient whose sums reach 2**40;
- float64 where neither applies (exact below 2**53).
Codes arrive as float tensors with integer values (the quantizers' output) or integer tensors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

FP32_EXACT = 2**24
FP64_EXACT = 2**53
_INT_MM_CHUNK = 1 << 16  # 128 * 128 * 2**16 = 2**30: int32 partial sums cannot overflow


def _max_abs(t: torch.Tensor) -> int:
    return int(t.abs().max()) if t.numel() else 0


def _exact_dtype(bound: int) -> torch.dtype:
    if bound < FP32_EXACT:
        return torch.float32
    if bound < FP64_EXACT:
        return torch.float64
    raise OverflowError(f"integer products of magnitude up to {bound} cannot be computed exactly in floats")


def conv2d(x: torch.Tensor, w: torch.Tensor, stride: int, padding: int) -> torch.Tensor:
    """Exact conv of integer codes; returns integer values in float32 or float64."""
    # x: (B, Cin, H, W), w: (Cout, Cin, kh, kw)
    bound = _max_abs(x) * _max_abs(w) * w[0].numel()
    dtype = _exact_dtype(bound)
    return F.conv2d(x.to(dtype), w.to(dtype), stride=stride, padding=padding)


def conv2d_input_grad(g: torch.Tensor, w: torch.Tensor, input_shape: torch.Size, stride: int,
                      padding: int) -> torch.Tensor:
    """Exact transposed conv (input gradient) of integer gradient codes and weight codes."""
    # g: (B, Cout, Ho, Wo); each input pixel sums over Cout * kh * kw products
    bound = _max_abs(g) * _max_abs(w) * w.shape[0] * w.shape[2] * w.shape[3]
    dtype = _exact_dtype(bound)
    return torch.nn.grad.conv2d_input(input_shape, w.to(dtype), g.to(dtype), stride=stride, padding=padding)


def im2col(x: torch.Tensor, kernel: tuple[int, int], stride: int, padding: int) -> torch.Tensor:
    """(B, C, H, W) -> (B*Ho*Wo, C*kh*kw), columns in the order of a flattened conv weight."""
    kh, kw = kernel
    x = F.pad(x, (padding, padding, padding, padding))
    patches = x.unfold(2, kh, stride).unfold(3, kw, stride)  # (B, C, Ho, Wo, kh, kw)
    b, c, ho, wo = patches.shape[:4]
    return patches.permute(0, 2, 3, 1, 4, 5).reshape(b * ho * wo, c * kh * kw)


def int8_limbs(t: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
    """Split integer values into int8 limbs: ``t == sum(limb * 256**shift)``, each limb in [-128, 127]."""
    rest = t.to(torch.int64)
    limbs: list[tuple[int, torch.Tensor]] = []
    shift = 0
    while True:
        lo = ((rest + 128) & 255) - 128
        limbs.append((shift, lo.to(torch.int8)))
        rest = (rest - lo) >> 8
        shift += 1
        if not bool(rest.any()):
            return limbs


def _int8_mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """int8 (M, K) x int8 (K, N) -> exact int64, chunked over K so int32 partials never overflow."""
    out = torch.zeros(a.shape[0], b.shape[1], dtype=torch.int64, device=a.device)
    for start in range(0, a.shape[1], _INT_MM_CHUNK):
        a_part = a[:, start:start + _INT_MM_CHUNK].contiguous()
        b_part = b[start:start + _INT_MM_CHUNK].contiguous()
        try:
            out += torch._int_mm(a_part, b_part).to(torch.int64)
        except RuntimeError:  # shapes or devices the int8 kernel does not support
            out += (a_part.double() @ b_part.double()).to(torch.int64)
    return out


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact product of integer matrices of any width up to int16, as int64."""
    if a.shape[1] == 0:
        return torch.zeros(a.shape[0], b.shape[1], dtype=torch.int64, device=a.device)
    bound = _max_abs(a) * _max_abs(b) * a.shape[1]
    if bound < FP32_EXACT:
        return (a.float() @ b.float()).to(torch.int64)
    out = torch.zeros(a.shape[0], b.shape[1], dtype=torch.int64, device=a.device)
    b_limbs = int8_limbs(b)
    for sa, la in int8_limbs(a):
        for sb, lb in b_limbs:
            out += _int8_mm(la, lb) << (8 * (sa + sb))
    return out
