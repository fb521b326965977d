"""The ``torch`` kernel backend: the training path's exact integer math behind the kernels' API.

The trainer calls ``intmath`` and ``techniques.psg`` directly on tensors; this module exposes the
same arithmetic with the reference's numpy signatures, so ``e2train kernel run --backend torch``
and the cross-backend tests exercise exactly the code that trains.
"""

from __future__ import annotations

import numpy as np
import torch

from e2train import intmath, quant
from e2train.kernels.reference import GemmResult, PsgResult, validate_gemm, validate_psg
from e2train.quant import saturate_int32
from e2train.techniques.psg import psg_select


def gemm(a: np.ndarray, b: np.ndarray, mode: str = "i8i8") -> GemmResult:
    validate_gemm(a, b, mode)
    acc = intmath.matmul(torch.from_numpy(a.astype(np.int64)), torch.from_numpy(b.astype(np.int64)))
    c, overflows = saturate_int32(acc)
    return GemmResult(c.to(torch.int32).numpy(), overflows, a.shape[0] * a.shape[1] * b.shape[1])


def psg_wgrad(x: np.ndarray, g: np.ndarray, tau: int, x_signed: bool) -> PsgResult:
    validate_psg(x, g, tau, x_signed)
    x_cols = torch.from_numpy(x.T.astype(np.int16))  # (P, K), the trainer's im2col layout
    m_cols = quant.msb4(x_cols, x_signed).to(torch.int8)
    x8, offset = intmath.to_int8_offset(x_cols)
    decision = psg_select(m_cols, x8, offset, torch.from_numpy(g), None, 0.0, tau=int(tau))
    n, p = g.shape
    recomputed = int(decision.recompute.sum())
    return PsgResult(decision.signs.to(torch.int8).numpy(), decision.recompute.to(torch.uint8).numpy(),
                     recomputed, n * x.shape[0] * p, recomputed * p)
