"""Unfolded ISTA networks: LISTA, LISTA-CP, LISTA-SS, LISTA-CPSS and ALISTA (ALGORITHMS.md 3).

Signals are rows: b (B, m), x (B, n).  Every network starts at x_0 = 0 and returns the output of every
layer, so that training can take the loss at layer k and evaluation can report NMSE after each layer.
Weights are per layer (untied, the paper) unless ``tied`` (one weight for all layers, the official
command); thresholds are always per layer.  Initialisation makes every network start as ISTA:

- LISTA:   v = W1_k b + W2_k x,       W1 = A^T / L, W2 = I - A^T A / L
- CP:      v = x + W_k^T (b - A x),   W = A / L
- ALISTA:  v = x + g_k W^T (b - A x), W analytic (``alista``), only g_k and theta_k learned,
           g_k = 1 / ||W^T A||_2 at start (a project choice: a step that keeps the start stable)

and x_{k+1} = eta_{theta_k}(v), thresholds theta = lam / L (lam g for ALISTA); the SS variants (and
ALISTA) pass the top p_k fraction through unshrunk (``shrink``).
"""

from __future__ import annotations

import torch
from torch import nn

from e2train.lista.alista import analytic_weight
from e2train.lista.baselines import lipschitz
from e2train.lista.config import CP_FAMILY, SS_METHODS, ListaConfig
from e2train.lista.shrink import shrink_ss, soft_threshold, ss_fraction


class Unfolded(nn.Module):
    """The layer loop, thresholds and support selection shared by every variant."""

    def __init__(self, a: torch.Tensor, layers: int, theta0: float, ss: tuple[float, float] | None) -> None:
        super().__init__()
        self.register_buffer("a", a.clone())  # (m, n): the known sensing matrix, never trained
        self.layers = layers
        self.ss = ss  # (p_step, p_max) or None
        self.theta = nn.ParameterList(nn.Parameter(torch.tensor(theta0, dtype=a.dtype)) for _ in range(layers))

    def pre_activation(self, k: int, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """v of layer k (0-based), before the threshold."""
        raise NotImplementedError

    def own_parameters(self, k: int) -> list[nn.Parameter]:
        """Parameters that layer k (0-based) adds besides its threshold (a tied weight belongs to layer 0)."""
        raise NotImplementedError

    def fraction(self, k: int) -> float:
        """p_k of layer k (0-based); 0 without support selection."""
        return 0.0 if self.ss is None else ss_fraction(k + 1, *self.ss)

    def shrink(self, k: int, v: torch.Tensor) -> torch.Tensor:
        if self.ss is None:
            return soft_threshold(v, self.theta[k])
        return shrink_ss(v, self.theta[k], self.fraction(k))

    def forward(self, b: torch.Tensor, depth: int | None = None) -> list[torch.Tensor]:
        """Outputs x_1 .. x_depth (default: every layer), each (B, n)."""
        x = b.new_zeros(b.shape[0], self.a.shape[1])
        outputs = []
        for k in range(self.layers if depth is None else depth):
            x = self.shrink(k, self.pre_activation(k, x, b))
            outputs.append(x)
        return outputs

    def layer_parameters(self, k: int) -> list[nn.Parameter]:
        """What is new in layer k: trained alone in the first stage of that layer."""
        return [*self.own_parameters(k), self.theta[k]]

    def parameters_up_to(self, depth: int) -> list[nn.Parameter]:
        return [p for k in range(depth) for p in self.layer_parameters(k)]

    def thresholds(self) -> list[float]:
        return [float(t.detach()) for t in self.theta]


def _weights(init: torch.Tensor, layers: int, tied: bool) -> nn.ParameterList:
    return nn.ParameterList(nn.Parameter(init.clone()) for _ in range(1 if tied else layers))


class Lista(Unfolded):
    """x_{k+1} = eta(W1_k b + W2_k x_k): both matrices free."""

    def __init__(self, a: torch.Tensor, layers: int, lam: float, tied: bool = False,
                 ss: tuple[float, float] | None = None) -> None:
        step = 1.0 / lipschitz(a)
        super().__init__(a, layers, lam * step, ss)
        n = a.shape[1]
        self.w1 = _weights(a.T * step, layers, tied)  # (n, m)
        self.w2 = _weights(torch.eye(n, dtype=a.dtype) - a.T @ a * step, layers, tied)  # (n, n)

    def _at(self, weights: nn.ParameterList, k: int) -> nn.Parameter:
        return weights[0 if len(weights) == 1 else k]

    def pre_activation(self, k: int, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return b @ self._at(self.w1, k).T + x @ self._at(self.w2, k).T

    def own_parameters(self, k: int) -> list[nn.Parameter]:
        if len(self.w1) == 1:
            return [self.w1[0], self.w2[0]] if k == 0 else []
        return [self.w1[k], self.w2[k]]


class CoupledStep(Unfolded):
    """x_{k+1} = eta(x_k + W_k^T (b - A x_k)): the CP family, also what the fixed-point path runs."""

    def step_weight(self, k: int) -> torch.Tensor:
        """W_k (m, n) with any learned step folded in: v = x + (b - x A^T) W_k."""
        raise NotImplementedError

    def pre_activation(self, k: int, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        residual = b - x @ self.a.T  # (B, m)
        return x + residual @ self.step_weight(k)  # (B, n)


class ListaCP(CoupledStep):
    """Coupled weights: W_k replaces A / L in ISTA's gradient step."""

    def __init__(self, a: torch.Tensor, layers: int, lam: float, tied: bool = False,
                 ss: tuple[float, float] | None = None) -> None:
        step = 1.0 / lipschitz(a)
        super().__init__(a, layers, lam * step, ss)
        self.w = _weights(a * step, layers, tied)  # (m, n)

    def step_weight(self, k: int) -> torch.Tensor:
        return self.w[0 if len(self.w) == 1 else k]

    def own_parameters(self, k: int) -> list[nn.Parameter]:
        if len(self.w) == 1:
            return [self.w[0]] if k == 0 else []
        return [self.w[k]]


class Alista(CoupledStep):
    """The analytic W fixed; a step size g_k and a threshold per layer are all that is learned."""

    def __init__(self, a: torch.Tensor, layers: int, lam: float, ss: tuple[float, float] | None = None) -> None:
        w = analytic_weight(a)
        step = 1.0 / float(torch.linalg.matrix_norm((w.T @ a).double(), ord=2))
        super().__init__(a, layers, lam * step, ss)
        self.register_buffer("w", w)  # (m, n)
        self.gamma = nn.ParameterList(nn.Parameter(torch.tensor(step, dtype=a.dtype)) for _ in range(layers))

    def step_weight(self, k: int) -> torch.Tensor:
        return self.gamma[k] * self.w

    def own_parameters(self, k: int) -> list[nn.Parameter]:
        return [self.gamma[k]]


def build_model(method: str, a: torch.Tensor, cfg: ListaConfig) -> Unfolded:
    """The network of a learned method, initialised as ISTA (see the module docstring)."""
    ss = (cfg.ss_p_step, float(cfg.ss_p_max)) if method in SS_METHODS else None
    if method == "alista":
        return Alista(a, cfg.layers, cfg.lam, ss)
    if method in CP_FAMILY:
        return ListaCP(a, cfg.layers, cfg.lam, cfg.tied, ss)
    if method in ("lista", "lista-ss"):
        return Lista(a, cfg.layers, cfg.lam, cfg.tied, ss)
    raise ValueError(f"{method!r} is not a learned method")
