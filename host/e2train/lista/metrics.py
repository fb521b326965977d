"""The metric of ALGORITHMS.md 3: NMSE in dB over a whole set, after every layer."""

from __future__ import annotations

import math

import torch


def nmse_db(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    """10 log10(sum ||x_hat - x||^2 / sum ||x||^2) over all rows (a set-level ratio, not a mean of ratios)."""
    err = (x_hat.double() - x.double()).pow(2).sum()
    ref = x.double().pow(2).sum()
    return 10 * math.log10(max(float(err / ref), 1e-300))
