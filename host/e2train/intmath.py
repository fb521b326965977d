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
    # x: (B, Cin, H, W), w: (Cout, Cin, kh, kw).  Every partial sum of output channel c is bounded
    # by max|x| * sum|w_c|: far tighter than K * 255 * 127, so float32 is usually exact.
    bound = _max_abs(x) * int(w.abs().flatten(1).sum(1).max()) if w.numel() else 0
    dtype = _exact_dtype(bound)
    return F.conv2d(x.to(dtype), w.to(dtype), stride=stride, padding=padding)


def conv2d_input_grad(g: torch.Tensor, w: torch.Tensor, input_shape: torch.Size, stride: int,
                      padding: int) -> torch.Tensor:
    """Exact transposed conv (input gradient) of integer gradient codes and weight codes."""
    # g: (B, Cout, Ho, Wo); input channel c sums products with the weights w[:, c]
    bound = _max_abs(g) * int(w.abs().sum(dim=(0, 2, 3)).max()) if w.numel() else 0
    dtype = _exact_dtype(bound)
    return torch.nn.grad.conv2d_input(input_shape, w.to(dtype), g.to(dtype), stride=stride, padding=padding)


def im2col(x: torch.Tensor, kernel: tuple[int, int], stride: int, padding: int,
           pad_value: int = 0) -> torch.Tensor:
    """(B, C, H, W) -> (B*Ho*Wo, C*kh*kw), columns in the order of a flattened conv weight."""
    kh, kw = kernel
    x = F.pad(x, (padding, padding, padding, padding), value=pad_value)
    patches = x.unfold(2, kh, stride).unfold(3, kw, stride)  # (B, C, Ho, Wo, kh, kw)
    b, c, ho, wo = patches.shape[:4]
    return patches.permute(0, 2, 3, 1, 4, 5).reshape(b * ho * wo, c * kh * kw)


def int8_limbs(t: torch.Tensor) -> list[tuple[int, torch.Tensor, int]]:
    """Split integers into int8 limbs: ``t == sum((limb + offset) * 256**shift)``.

    16-bit values take exactly two limbs: the arithmetic high byte, and the low byte (0..255)
    stored as int8 with an offset of 128.  Wider values fall back to a general loop.
    """
    if t.numel() == 0 or (int(t.min()) >= -(2**15) and int(t.max()) < 2**15):
        t16 = t.to(torch.int16)
        return [(1, torch.bitwise_right_shift(t16, 8).to(torch.int8), 0),
                (0, (torch.bitwise_and(t16, 255) - 128).to(torch.int8), 128)]
    rest = t.to(torch.int64)
    limbs: list[tuple[int, torch.Tensor, int]] = []
    shift = 0
    while True:
        lo = ((rest + 128) & 255) - 128
        limbs.append((shift, lo.to(torch.int8), 0))
        rest = (rest - lo) >> 8
        shift += 1
        if not bool(rest.any()):
            return limbs


def to_int8_offset(t: torch.Tensor) -> tuple[torch.Tensor, int]:
    """8-bit codes as (int8 tensor, offset) with ``t == int8 + offset``: unsigned codes shift by 128."""
    if t.numel() and (int(t.min()) < -128 or int(t.max()) > 255):
        raise ValueError("codes outside [-128, 255] are not 8-bit")
    offset = 128 if t.numel() and int(t.max()) > 127 else 0
    return (t - offset).to(torch.int8), offset


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


def matmul_int8(a: torch.Tensor, b8: torch.Tensor, b_offset: int = 0) -> torch.Tensor:
    """Exact ``a @ (b8 + b_offset)`` as int64: a holds integers up to int16 (or wider), b8 is int8.

    With ``a == sum((l + lo) * 256**s)`` over limbs, each limb contributes
    ``l @ b8 + b_offset * rowsum(l) + lo * colsum(b8) + lo * b_offset * K``: the large 8-bit
    operand is never widened.
    """
    m, k = a.shape
    out = torch.zeros(m, b8.shape[1], dtype=torch.int64, device=a.device)
    if k == 0:
        return out
    limbs = int8_limbs(a)
    col_sums = None
    if any(offset for *_, offset in limbs):
        # (1, N) column sums through the int8 kernel: a torch reduction over a tall int8 matrix is slow
        col_sums = _int8_mm(torch.ones(1, k, dtype=torch.int8, device=a.device), b8)
    for shift, limb, offset in limbs:
        part = _int8_mm(limb, b8)
        if b_offset:
            part += b_offset * limb.sum(dim=1, dtype=torch.int64, keepdim=True)
        if offset:
            part += offset * (col_sums + b_offset * k)
        out += part << (8 * shift)
    return out


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact product of integer matrices (int16 range, or wider via more limbs), as int64."""
    out = torch.zeros(a.shape[0], b.shape[1], dtype=torch.int64, device=a.device)
    for shift, limb, offset in int8_limbs(b):
        out += matmul_int8(a, limb, offset) << (8 * shift)
    return out


def _split_signed(t: torch.Tensor, bits: int) -> list[tuple[int, torch.Tensor]]:
    """Split integers into a high part and a low part of ``bits`` bits: ``t == hi * 2**bits + lo``."""
    lo = torch.remainder(t, 2**bits)  # 0 .. 2**bits - 1, also for negative t
    return [(bits, torch.div(t - lo, 2**bits, rounding_mode="floor")), (0, lo)]


def conv2d_weight_exact(x: torch.Tensor, g: torch.Tensor, weight_shape: torch.Size, stride: int,
                        padding: int) -> torch.Tensor:
    """Exact weight gradient ``sum_P g * x`` of integer codes, as float64 holding integers.

    The reduction runs over batch and space (P up to 2**17 for CIFAR), far beyond float32's exact
    range for 8 x 16-bit products.  So the 16-bit gradient codes are split into two bytes and wide
    activation codes into two nibbles; each partial product is then small enough that a float32
    conv over a chunk of samples is provably exact (every partial sum below 2**24), and chunks are
    added in float64.  This keeps the fast float32 kernels on the hot path.
    """
    # x: (B, Cin, H, W) codes, g: (B, Cout, Ho, Wo) codes
    g_parts = _split_signed(g, 8) if _max_abs(g) > 255 else [(0, g)]
    x_parts = _split_signed(x, 4) if _max_abs(x) > 15 else [(0, x)]
    out = torch.zeros(weight_shape, dtype=torch.float64, device=x.device)
    per_sample = g.shape[2] * g.shape[3]
    for g_shift, g_part in g_parts:
        for x_shift, x_part in x_parts:
            bound = max(_max_abs(g_part) * _max_abs(x_part), 1) * per_sample
            chunk = (FP32_EXACT - 1) // bound
            if chunk < 1:  # one sample alone could round: take float64 for this part
                part = torch.nn.grad.conv2d_weight(x_part.double(), weight_shape, g_part.double(),
                                                   stride=stride, padding=padding)
            else:
                part = sum(torch.nn.grad.conv2d_weight(x_part[i:i + chunk].float(), weight_shape,
                                                       g_part[i:i + chunk].float(), stride=stride,
                                                       padding=padding).double()
                           for i in range(0, x.shape[0], chunk))
            out += part * float(2 ** (g_shift + x_shift))
    return out
