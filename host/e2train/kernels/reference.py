"""Executable definitions of the two accelerator kernels (numpy, integer only).

These functions *are* the semantic contract: the HLS C++ (C simulation), the Verilog RTL
(cocotb) and the software training path are tested bit for bit against them.

Layouts are row-major.  ``gemm``: A (M x K) int8, B (K x N) int8 / uint8 / int16, C (M x N)
int32.  ``psg_wgrad``: X (K x P) activation codes int8 / uint8, G (N x P) int16 gradient codes;
outputs are in the weight-gradient layout (N x K).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from e2train.errors import E2TrainError
from e2train.kernels.regmap import MAX_DIM, MAX_P, PSG_WGRAD

INT32_MIN = np.int64(-(2**31))
INT32_MAX = np.int64(2**31 - 1)

GEMM_MODES = {"i8i8": (np.int8, np.int8), "i8u8": (np.int8, np.uint8), "i8i16": (np.int8, np.int16)}
PSG_X_DTYPES = {"signed": np.int8, "unsigned": np.uint8}
TAU_MAX = 2 ** PSG_WGRAD["TAU"].width_bits - 1  # 2**64 - 1: the TAU register is 64 bits wide


class KernelArgumentError(E2TrainError, ValueError):
    """Operands that the kernel's contract does not accept (shape, dtype, threshold)."""


@dataclass(frozen=True)
class GemmResult:
    c: np.ndarray  # (M, N) int32, saturated
    overflows: int  # entries whose exact value did not fit int32
    macs: int
    counters: dict[str, int] = field(default_factory=dict)  # hardware counters, where a backend has them


@dataclass(frozen=True)
class PsgResult:
    signs: np.ndarray  # (N, K) int8 in {-1, 0, 1}
    recompute_mask: np.ndarray  # (N, K) uint8, 1 where the full product was computed
    recomputed: int  # number of recomputed entries
    macs_predict: int  # N * K * P 4b x 16b MACs
    macs_full: int  # recomputed * P 8b x 16b MACs
    counters: dict[str, int] = field(default_factory=dict)  # hardware counters, where a backend has them


def exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact integer product in int64 (no BLAS rounding: numpy integer matmul)."""
    return a.astype(np.int64) @ b.astype(np.int64)


def msb4(x: np.ndarray, signed: bool) -> np.ndarray:
    """``clamp((x + 8) >> 4, lo, hi)`` with an arithmetic shift (see ``e2train.quant``)."""
    lo, hi = (-8, 7) if signed else (0, 15)
    return np.clip((x.astype(np.int32) + 8) >> 4, lo, hi).astype(np.int8)


def check_matrix(name: str, array: np.ndarray, dtype: type) -> None:
    """`array` must be a 2-D numpy array of `dtype`."""
    if not isinstance(array, np.ndarray) or array.ndim != 2:
        raise KernelArgumentError(f"{name} must be a 2-D matrix, got shape {np.shape(array)}")
    if array.dtype != np.dtype(dtype):
        raise KernelArgumentError(f"{name} must be {np.dtype(dtype).name}, got {array.dtype}")


def check_dims(**dims: int) -> None:
    """Sizes the hardware accepts: 1..MAX_DIM (P up to MAX_P); zero sizes are refused, not no-ops."""
    for name, value in dims.items():
        limit = MAX_P if name == "P" else MAX_DIM
        if not 1 <= value <= limit:
            raise KernelArgumentError(f"{name}={value} is outside 1..{limit}")


def validate_gemm_operands(a: np.ndarray, b: np.ndarray, mode: str) -> None:
    """Mode, matrices, dtypes and inner dimensions of a ``gemm`` call, not the size limits
    (backends that tile, or that leave the limits to the kernel's STATUS, stop here)."""
    if mode not in GEMM_MODES:
        raise KernelArgumentError(f"unknown gemm mode {mode!r}; allowed: {', '.join(GEMM_MODES)}")
    a_dtype, b_dtype = GEMM_MODES[mode]
    check_matrix("A", a, a_dtype)
    check_matrix("B", b, b_dtype)
    if a.shape[1] != b.shape[0]:
        raise KernelArgumentError(f"inner dimensions differ: A is {a.shape}, B is {b.shape}")


def validate_gemm(a: np.ndarray, b: np.ndarray, mode: str) -> None:
    """The operands ``gemm`` accepts; every backend calls this before touching its kernel."""
    validate_gemm_operands(a, b, mode)
    check_dims(M=a.shape[0], K=a.shape[1], N=b.shape[1])


def validate_psg_operands(x: np.ndarray, g: np.ndarray, x_signed: bool) -> None:
    """Matrices, dtypes and the shared P of a ``psg_wgrad`` call, not tau or the size limits."""
    check_matrix("X", x, PSG_X_DTYPES["signed" if x_signed else "unsigned"])
    check_matrix("G", g, np.int16)
    if x.shape[1] != g.shape[1]:
        raise KernelArgumentError(f"X and G must share P: X is {x.shape}, G is {g.shape}")


def tau_register(tau: int) -> int:
    """The TAU register value for a threshold, accepting exactly what ``validate_psg`` does, minus bools.

    An integer-valued number in 0..2**64-1 (an int, a numpy integer, or a float such as 5.0) is
    accepted; a fractional, negative, too large or non-finite one is refused with the reference's
    message.  A bool is refused as well (``validate_psg`` takes True as 1; a hardware backend
    sees it as ``tau`` and ``x_signed`` swapped) and so is anything that is not a number (where
    ``validate_psg`` raises TypeError).
    """
    if isinstance(tau, (bool, np.bool_)) or not isinstance(tau, (int, float, np.integer, np.floating)):
        raise KernelArgumentError(f"tau must be an integer in 0..2**64-1, got {tau!r} ({type(tau).__name__})")
    finite = math.isfinite(tau) if isinstance(tau, (float, np.floating)) else True  # no int -> float
    if not (finite and 0 <= tau <= TAU_MAX and int(tau) == tau):
        raise KernelArgumentError(f"tau must be an integer in 0..2**64-1, got {tau}")
    return int(tau)


def gemm(a: np.ndarray, b: np.ndarray, mode: str = "i8i8") -> GemmResult:
    """C = A x B with exact accumulation, saturated to int32; saturated entries are counted."""
    validate_gemm(a, b, mode)
    acc = exact_matmul(a, b)
    overflow = (acc < INT32_MIN) | (acc > INT32_MAX)
    c = np.clip(acc, INT32_MIN, INT32_MAX).astype(np.int32)
    return GemmResult(c, int(overflow.sum()), a.shape[0] * a.shape[1] * b.shape[1])


def validate_psg(x: np.ndarray, g: np.ndarray, tau: int, x_signed: bool) -> None:
    """The operands ``psg_wgrad`` accepts; every backend calls this before touching its kernel."""
    validate_psg_operands(x, g, x_signed)
    if not 0 <= tau < 2**64 or int(tau) != tau:
        raise KernelArgumentError(f"tau must be an integer in 0..2**64-1, got {tau}")
    check_dims(N=g.shape[0], K=x.shape[0], P=g.shape[1])


def psg_wgrad(x: np.ndarray, g: np.ndarray, tau: int, x_signed: bool) -> PsgResult:
    """Predictive sign weight gradient.

    ``Pr = G . msb4(X)^T``; where ``|16 * Pr| >= tau`` the sign of the prediction is final,
    elsewhere the full product ``F = G . X^T`` is computed for that entry and its sign used.
    """
    validate_psg(x, g, tau, x_signed)
    n, p = g.shape
    k = x.shape[0]
    pred = exact_matmul(g, msb4(x, x_signed).T)  # (N, K)
    recompute = np.abs(16 * pred) < tau
    signs = np.sign(pred).astype(np.int8)
    rows, cols = np.nonzero(recompute)
    if rows.size:
        # Only the unconfident entries: a dot product of one G row with one X row each.
        full = np.einsum("ip,ip->i", g[rows].astype(np.int64), x[cols].astype(np.int64))
        signs[rows, cols] = np.sign(full).astype(np.int8)
    recomputed = int(rows.size)
    return PsgResult(signs, recompute.astype(np.uint8), recomputed, n * k * p, recomputed * p)
