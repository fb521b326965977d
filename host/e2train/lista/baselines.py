"""ISTA and FISTA for the LASSO min_x 1/2 ||b - A x||^2 + lam ||x||_1: the classical baselines.

Both start at x = 0 and take the step 1/L, L = ||A||_2^2; they yield every iterate so that NMSE can be
reported per iteration, the counterpart of a learned network's layer.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from e2train.lista.shrink import soft_threshold


def lipschitz(a: torch.Tensor) -> float:
    """The largest eigenvalue of A^T A."""
    return float(torch.linalg.matrix_norm(a.double(), ord=2) ** 2)


def ista(a: torch.Tensor, b: torch.Tensor, lam: float, iters: int) -> Iterator[torch.Tensor]:
    """x_{k+1} = eta_{lam/L}(x_k + A^T (b - A x_k) / L); yields x_1 .. x_iters, each (B, n)."""
    step = 1.0 / lipschitz(a)
    x = b.new_zeros(b.shape[0], a.shape[1])
    for _ in range(iters):
        x = soft_threshold(x + (b - x @ a.T) @ a * step, lam * step)
        yield x


def fista(a: torch.Tensor, b: torch.Tensor, lam: float, iters: int) -> Iterator[torch.Tensor]:
    """ISTA's step taken at the Nesterov extrapolation y_k = x_k + (t_{k-1} - 1)/t_k (x_k - x_{k-1})."""
    step = 1.0 / lipschitz(a)
    x_prev = x = b.new_zeros(b.shape[0], a.shape[1])
    t = 1.0
    for _ in range(iters):
        t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
        y = x + (t - 1) / t_next * (x - x_prev)
        x_prev, x = x, soft_threshold(y + (b - y @ a.T) @ a * step, lam * step)
        t = t_next
        yield x


def lasso_objective(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor, lam: float) -> torch.Tensor:
    """Per row: 1/2 ||b - A x||^2 + lam ||x||_1."""
    return 0.5 * (b - x @ a.T).pow(2).sum(dim=1) + lam * x.abs().sum(dim=1)
