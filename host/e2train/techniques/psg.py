"""Predictive sign gradient (PSG): the weight gradient of a conv from 4-bit MSBs, recomputed at
full precision only where the prediction is not confident.

Software path of the ``psg_wgrad`` kernel: for X = im2col(activation codes)^T (K x P) and
G = 16-bit output-gradient codes (N x P) it computes exactly what
``e2train.kernels.reference.psg_wgrad(X, G, tau, signed)`` computes, and the full product only for
output channels (rows) that hold at least one unconfident entry.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from e2train import intmath, quant

THRESHOLD_MODES = ("abs", "rel")
# The software path compares |16 Pr| in int64: thresholds above this cap decide the same (no |16 Pr| reaches
# it) without overflow. The hardware register is wider (e2train.kernels.reference.TAU_MAX, 64 bits).
TAU_INT64_CAP = 2**63 - 1


@dataclass(frozen=True)
class PsgConfig:
    """``abs``: |g_pred| >= threshold in gradient units; ``rel``: >= threshold * max |g_pred|."""

    threshold: float = 0.05
    mode: str = "rel"

    def __post_init__(self) -> None:
        if self.mode not in THRESHOLD_MODES:
            raise ValueError(f"psg threshold mode {self.mode!r}; allowed: {', '.join(THRESHOLD_MODES)}")
        if not self.threshold >= 0:
            raise ValueError(f"psg threshold must be >= 0, got {self.threshold}")


@dataclass
class PsgDecision:
    signs: torch.Tensor  # (N, K) in {-1, 0, 1}
    recompute: torch.Tensor  # (N, K) bool: the entries the kernel recomputes (hardware, per entry)
    tau: int  # integer threshold on |16 * Pr| given to the kernel
    # Entries this implementation actually computed at full precision: the software path works on
    # whole output channels (rows), so it can exceed recompute.sum(); a device reports per entry.
    computed_full: int = -1

    def __post_init__(self) -> None:
        if self.computed_full < 0:
            self.computed_full = int(self.recompute.sum())


def integer_threshold(cfg: PsgConfig, pred: torch.Tensor, unit: float) -> int:
    """Translate the real threshold into the kernel's integer one on ``|16 * Pr|``.

    ``unit`` is the real value of one step of ``16 * Pr`` (activation scale x gradient scale).
    Since ``|16 Pr|`` is an integer, ``|16 Pr| * unit >= t`` is exactly ``|16 Pr| >= ceil(t / unit)``.
    """
    if cfg.mode == "rel":
        peak = int((16 * pred).abs().max()) if pred.numel() else 0
        return math.ceil(cfg.threshold * peak)
    # |16 Pr| < 2**47 always, so clamping to int64 keeps "recompute everything" and fits the register
    return min(math.ceil(cfg.threshold / unit), TAU_INT64_CAP) if unit > 0 else 0


def psg_decide(pred: torch.Tensor, full_rows: Callable[[torch.Tensor], torch.Tensor], cfg: PsgConfig | None,
               unit: float, tau: int | None = None) -> PsgDecision:
    """Signs from the exact predictor ``pred`` (N, K); ``full_rows(rows)`` computes the full product
    of the given output channels only, called once for the rows holding an unconfident entry."""
    if tau is None:
        tau = integer_threshold(cfg, pred, unit)
    recompute = (16 * pred).abs() < min(tau, TAU_INT64_CAP)  # |16 Pr| < 2**47: same decisions, no int64 overflow
    signs = torch.sign(pred)
    rows = recompute.any(dim=1).nonzero().flatten()
    if rows.numel():
        signs[rows] = torch.where(recompute[rows], torch.sign(full_rows(rows)), signs[rows])
    return PsgDecision(signs, recompute, tau, computed_full=rows.numel() * recompute.shape[1])


def psg_select(m_cols: torch.Tensor, x_cols: torch.Tensor, x_offset: int, g_rows: torch.Tensor,
               cfg: PsgConfig | None, unit: float, tau: int | None = None) -> PsgDecision:
    """The kernel in matrix form, with the threshold from ``cfg`` or a given integer ``tau``.

    m_cols: (P, K) int8 msb4 codes; x_cols: (P, K) int8 activation codes minus ``x_offset``;
    g_rows: (N, P) int16 gradient codes.
    """
    pred = intmath.matmul_int8(g_rows, m_cols)  # (N, K)
    return psg_decide(pred, lambda rows: intmath.matmul_int8(g_rows[rows], x_cols, x_offset), cfg, unit, tau)


def psg_conv_weight_grad(x_codes: torch.Tensor, x_signed: bool, x_scale: torch.Tensor,
                         grad_out: torch.Tensor, weight_shape: torch.Size, stride: int, padding: int,
                         cfg: PsgConfig) -> tuple[torch.Tensor, PsgDecision, int]:
    """Sign of a conv's weight gradient; returns (signs shaped like the weight, decision, P)."""
    # x_codes: (B, Cin, H, W); grad_out: (B, Cout, Ho, Wo)
    g = quant.quantize_gradient(grad_out)
    cout = weight_shape[0]
    pred = intmath.conv2d_weight_exact(quant.msb4(x_codes, x_signed), g.codes, weight_shape, stride, padding)
    pred = pred.view(cout, -1).to(torch.int64)  # (N, K), exact integers

    def full_rows(rows: torch.Tensor) -> torch.Tensor:
        x8, x_offset = intmath.to_int8_offset(x_codes)
        x_cols = intmath.im2col(x8, tuple(weight_shape[2:]), stride, padding, pad_value=-x_offset)  # (P, K)
        g_rows = g.codes[:, rows].permute(1, 0, 2, 3).reshape(rows.numel(), -1).to(torch.int16)  # (R, P)
        return intmath.matmul_int8(g_rows, x_cols, x_offset)

    unit = float(x_scale) * float(g.scale)  # real value of one step of 16 * Pr
    decision = psg_decide(pred, full_rows, cfg, unit)
    reduction = grad_out.shape[0] * grad_out.shape[2] * grad_out.shape[3]
    return decision.signs.to(grad_out.dtype).view(weight_shape), decision, reduction
