"""Predictive sign gradient (PSG): the weight gradient of a conv from 4-bit MSBs, recomputed at
full precision only where the prediction is not confident.

Software path of the ``psg_wgrad`` kernel: for X = im2col(activation codes)^T (K x P) and
G = 16-bit output-gradient codes (N x P) it computes exactly what
``e2train.kernels.reference.psg_wgrad(X, G, tau, signed)`` computes.  Unlike the kernel it does not
save work by skipping confident entries: on a CPU one int8 product of every entry is cheaper than
picking entries out, so it computes the predictor and the full product everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from e2train import intmath, quant, vnni_wgrad

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
    # Entries this implementation actually computed at full precision: the software conv path
    # computes every entry and the matrix path whole output channels (rows), so it can exceed
    # recompute.sum(); a device reports per entry.
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


def psg_decide(pred: torch.Tensor, full_rows: Callable[[torch.Tensor | slice], torch.Tensor], cfg: PsgConfig | None,
               unit: float, tau: int | None = None) -> PsgDecision:
    """Signs from the exact predictor ``pred`` (N, K); ``full_rows(rows)`` computes the full product
    of the given output channels only (``slice(None)``: all), called once for the rows holding an
    unconfident entry."""
    if tau is None:
        tau = integer_threshold(cfg, pred, unit)
    recompute = (16 * pred).abs() < min(tau, TAU_INT64_CAP)  # |16 Pr| < 2**47: same decisions, no int64 overflow
    signs = torch.sign(pred)
    rows = recompute.any(dim=1).nonzero().flatten()
    if rows.numel() == recompute.shape[0]:  # the usual case: every row, so no gather and scatter
        signs = torch.where(recompute, torch.sign(full_rows(slice(None))), signs)
    elif rows.numel():
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
    """Sign of a conv's weight gradient; returns (signs shaped like the weight, decision, P).

    An activation code is ``16 * msb4 + r`` with ``r`` in [-8, 15], so the full product is
    ``16 * Pr + sum g * r``: the predictor and the residual, both int8 operands, go through one
    int8 weight-gradient product (channels stacked; the VNNI kernel of ``e2train.vnni_wgrad`` where
    the CPU has one, else ``intmath``), and every entry is known exactly at once.
    The signs are those of the kernel: the predictor's where it is confident, the full product's
    elsewhere.
    """
    # x_codes: (B, Cin, H, W); grad_out: (B, Cout, Ho, Wo)
    cout, cin = weight_shape[:2]
    kernel = tuple(weight_shape[2:])
    if vnni_wgrad.available(x_codes, grad_out):
        g_scale = quant.gradient_scale(grad_out)
        pred_sums, residual_sums = vnni_wgrad.psg_wgrad_sums(x_codes, x_signed, grad_out, g_scale, kernel, stride,
                                                             padding)
    else:
        g = quant.quantize_gradient(grad_out)
        g_scale = g.scale
        codes = x_codes.to(torch.int16)
        msb = quant.msb4(codes, x_signed)
        residual = codes.sub_(msb, alpha=16)  # in [-8, 15]
        sums = intmath.conv2d_weight_int8([msb, residual], g.codes.to(torch.int16), kernel, stride, padding,
                                          x_max_abs=16)  # msb4 codes and residuals lie in [-8, 15]
        pred_sums, residual_sums = sums[:, :cin], sums[:, cin:]
    pred = pred_sums.reshape(cout, -1)  # (N, K)
    full = 16 * pred + residual_sums.reshape(cout, -1)
    unit = float(x_scale) * float(g_scale)  # real value of one step of 16 * Pr
    decision = psg_decide(pred, lambda rows: full[rows], cfg, unit)
    decision.computed_full = full.numel()
    reduction = grad_out.shape[0] * grad_out.shape[2] * grad_out.shape[3]
    return decision.signs.to(grad_out.dtype).view(weight_shape), decision, reduction
