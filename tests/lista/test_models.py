"""The unfolded networks: shapes, ISTA at initialisation, tying, ALISTA's analytic weight, configuration."""

from __future__ import annotations

import pytest
import torch
from lista_tiny import tiny_config

from e2train.config import ConfigError
from e2train.lista.alista import analytic_weight
from e2train.lista.baselines import ista
from e2train.lista.config import LEARNED
from e2train.lista.models import build_model
from e2train.lista.problem import generator, make_problem, sensing_matrix


@pytest.mark.parametrize("method", LEARNED)
@pytest.mark.parametrize("tied", [False, True])
def test_every_layer_outputs_a_signal(method: str, tied: bool) -> None:
    cfg = tiny_config(layers=4, tied=tied, methods=(method,))
    problem = make_problem(cfg)
    outputs = build_model(method, problem.a, cfg)(problem.val_b[:5])
    assert len(outputs) == 4 and all(x.shape == (5, cfg.n) for x in outputs)
    assert len(build_model(method, problem.a, cfg)(problem.val_b[:5], depth=2)) == 2


@pytest.mark.parametrize("method", ["lista", "lista-cp"])
def test_untrained_network_is_ista(method: str) -> None:
    """At initialisation LISTA and LISTA-CP compute exactly ISTA's iterates, layer by layer."""
    cfg = tiny_config(layers=6, methods=(method,))
    problem = make_problem(cfg)
    a, b = problem.a.double(), problem.test_b.double()
    model = build_model(method, a, cfg).double()
    with torch.no_grad():
        for got, want in zip(model(b), ista(a, b, cfg.lam, 6), strict=True):
            torch.testing.assert_close(got, want, atol=1e-12, rtol=0)


def test_tied_weights_are_shared() -> None:
    cfg = tiny_config(layers=5, tied=True)
    problem = make_problem(cfg)
    untied = build_model("lista-cp", problem.a, tiny_config(layers=5))
    tied = build_model("lista-cp", problem.a, cfg)
    size = cfg.m * cfg.n
    assert sum(p.numel() for p in untied.parameters()) == 5 * size + 5
    assert sum(p.numel() for p in tied.parameters()) == size + 5
    assert tied.layer_parameters(2) == [tied.theta[2]]  # a later layer adds only its threshold


def test_alista_learns_only_steps_and_thresholds(tiny) -> None:
    model = build_model("alista", make_problem(tiny).a, tiny_config(methods=("alista",)))
    assert sum(p.numel() for p in model.parameters()) == 2 * tiny.layers


def test_alista_weight_has_unit_diagonal_and_is_minimal() -> None:
    a = sensing_matrix(30, 60, generator(2, 0)).double()
    w = analytic_weight(a)
    torch.testing.assert_close(torch.diagonal(w.T @ a), torch.ones(60, dtype=torch.float64))
    # any feasible perturbation (a_i^T d_i = 0 per column) does not lower ||W^T A||_F
    d = torch.randn(30, 60, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    d -= a * (a * d).sum(dim=0) / (a * a).sum(dim=0)
    base = float((w.T @ a).norm())
    for eps in (1e-3, 1e-1):
        other = w + eps * d
        torch.testing.assert_close(torch.diagonal(other.T @ a), torch.ones(60, dtype=torch.float64))
        assert float((other.T @ a).norm()) > base


@pytest.mark.parametrize("overrides,message", [
    ({"methods": ("lista-ss",), "ss_p_max": None}, "ss_p_max=None must be set"),
    ({"methods": ("lista-cpss",), "ss_p_max": 0.0}, "0 would silently turn SS off"),
    ({"methods": ("lista-xx",)}, "unknown method"),
    ({"m": 40, "n": 20}, "must not exceed"),
    ({"sparsity": 1.5}, "sparsity=1.5 must be in"),
    ({"layers": 0}, "layers=0 must be an integer"),
    ({"condition_number": 0.5}, "condition_number=0.5 must be >= 1"),
    ({"fixed_point_backend": "fpga"}, "choose one of"),
])
def test_bad_configuration_is_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        tiny_config(**overrides)
