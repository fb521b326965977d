"""Soft thresholding and support selection (ALGORITHMS.md 3), on rows of shape (B, n).

Support selection, as the project defines it (ties included): in layer k, with ``c = floor(p_k * n)``,
an entry passes through unshrunk when its magnitude is at least the c-th largest magnitude of its row
*and* exceeds theta_k; every other entry is soft-thresholded.  Entries tied with the c-th largest all
pass (so a row with ties can pass more than c entries); ``c = 0`` (p_k = 0, or p_k n < 1) selects
nothing and the layer is a plain soft threshold.  The mask is computed without gradient: the paper
treats the selection as a fixed choice, gradients flow through the values only.
"""

from __future__ import annotations

import math

import torch


def soft_threshold(v: torch.Tensor, theta: torch.Tensor | float) -> torch.Tensor:
    """eta_theta(v) = sign(v) max(|v| - theta, 0)."""
    return torch.sign(v) * torch.relu(v.abs() - theta)


def ss_fraction(layer: int, p_step: float, p_max: float) -> float:
    """p_k = min(k p, p_max) for layer k = 1, 2, ... (the fraction of entries that may bypass shrinkage)."""
    return min(layer * p_step, p_max)


def selected_count(fraction: float, n: int) -> int:
    """c = floor(p_k n), with a tolerance so that e.g. 0.06 * 50 counts 3, not 2.999... -> 2."""
    return int(math.floor(fraction * n + 1e-9))


@torch.no_grad()
def support_mask(v: torch.Tensor, theta: torch.Tensor | float, fraction: float) -> torch.Tensor:
    """Boolean (B, n): entries among the top floor(fraction n) magnitudes of their row and above theta."""
    count = selected_count(fraction, v.shape[-1])
    if count == 0:
        return torch.zeros_like(v, dtype=torch.bool)
    mag = v.abs()
    kth = mag.topk(count, dim=-1).values[..., -1:]  # (B, 1): the c-th largest magnitude per row
    return (mag >= kth) & (mag > theta)


def shrink_ss(v: torch.Tensor, theta: torch.Tensor | float, fraction: float) -> torch.Tensor:
    """Selected entries pass unchanged, the rest are soft-thresholded."""
    return torch.where(support_mask(v, theta, fraction), v, soft_threshold(v, theta))
