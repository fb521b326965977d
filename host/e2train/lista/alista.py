"""ALISTA's analytic weight, in PyTorch (no MATLAB): min ||W^T A||_F subject to diag(W^T A) = 1.

Why a closed form exists: the objective and the constraints separate by column.  Column i solves
min_w ||A^T w||^2 subject to a_i^T w = 1; with G = A A^T (invertible for a full-rank m x n A, m <= n),
Lagrange gives w_i = G^{-1} a_i / (a_i^T G^{-1} a_i).  This is the Frobenius-norm variant of ALISTA's
"generalized coherence" problem (the paper's first stage minimises the largest off-diagonal entry; the
Frobenius form is its smooth surrogate and what this project computes).  Solved in float64.
"""

from __future__ import annotations

import torch


def analytic_weight(a: torch.Tensor) -> torch.Tensor:
    """W (m, n) with diag(W^T A) = 1 and the smallest ||W^T A||_F; same dtype as `a`."""
    a64 = a.double()  # (m, n)
    g_inv_a = torch.linalg.solve(a64 @ a64.T, a64)  # (m, n): column i is G^{-1} a_i
    scale = (a64 * g_inv_a).sum(dim=0)  # (n,): a_i^T G^{-1} a_i
    return (g_inv_a / scale).to(a.dtype)
