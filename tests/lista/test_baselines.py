"""ISTA and FISTA: convergence to the LASSO optimum (checked by its optimality conditions), FISTA faster."""

from __future__ import annotations

import collections
from collections.abc import Iterator

import torch
from lista_tiny import tiny_config

from e2train.lista.baselines import fista, ista, lasso_objective
from e2train.lista.metrics import nmse_db
from e2train.lista.problem import make_problem


def _last(iterates: Iterator[torch.Tensor]) -> torch.Tensor:
    return collections.deque(iterates, maxlen=1)[0]


def _problem() -> tuple[torch.Tensor, torch.Tensor]:
    problem = make_problem(tiny_config(m=20, n=40, test_size=8))
    return problem.a.double(), problem.test_b.double()


def test_ista_reaches_the_lasso_optimum() -> None:
    """x solves min 1/2||b - Ax||^2 + lam||x||_1 iff A^T(b - Ax) = lam sign(x) on the support, |.| <= lam off it."""
    a, b = _problem()
    lam = 0.1
    x = _last(ista(a, b, lam, 20000))
    grad = (b - x @ a.T) @ a  # (B, n)
    on = x != 0
    torch.testing.assert_close(grad[on], lam * torch.sign(x[on]), atol=1e-6, rtol=0)
    assert float(grad[~on].abs().max()) <= lam + 1e-6
    assert on.any()


def test_fista_reaches_the_same_optimum_faster() -> None:
    a, b = _problem()
    lam = 0.1
    optimum = lasso_objective(a, b, _last(ista(a, b, lam, 20000)), lam)
    torch.testing.assert_close(lasso_objective(a, b, _last(fista(a, b, lam, 3000)), lam), optimum,
                               atol=1e-9, rtol=1e-9)
    gap_ista = lasso_objective(a, b, _last(ista(a, b, lam, 100)), lam) - optimum
    gap_fista = lasso_objective(a, b, _last(fista(a, b, lam, 100)), lam) - optimum
    assert float(gap_fista.sum()) < 0.1 * float(gap_ista.sum())


def test_nmse_decreases_per_iteration_and_fista_leads(tiny) -> None:
    problem = make_problem(tiny_config(m=64, n=128, test_size=256))
    curve_ista = [nmse_db(x, problem.test_x) for x in ista(problem.a, problem.test_b, 0.4, 16)]
    curve_fista = [nmse_db(x, problem.test_x) for x in fista(problem.a, problem.test_b, 0.4, 16)]
    assert all(later < earlier for earlier, later in zip(curve_ista, curve_ista[1:]))
    assert curve_fista[0] == curve_ista[0]  # no momentum in the first step
    assert all(f < i for f, i in zip(curve_fista[2:], curve_ista[2:]))
