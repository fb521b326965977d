"""Orthogonality regularizers (Bansal, Chen, Wang, NeurIPS 2018): SO, DSO, MC and SRIP as plug-in
losses for the conv and linear weights of any ``torch.nn.Module``.

Each weight becomes a matrix W with one column per filter (fan-in rows, output columns; a linear
weight (out, in) becomes its transpose), so W^T W compares filters with each other.  With I the
identity of the Gram matrix's size:

- ``so``:   ||G - I||_F^2, G the smaller Gram matrix (W^T W, or W W^T where W has more columns than
  rows: a wide W cannot have orthonormal columns, its rows can be orthonormal);
- ``dso``:  ||W^T W - I||_F^2 + ||W W^T - I||_F^2;
- ``mc``:   max |G - I| (the largest entry: mutual coherence of the filters);
- ``srip``: sigma(G - I), the spectral norm, estimated by power iteration with two matrix-vector
  products with W per step (G is never formed).  ``srip_form="sigma"`` is the paper's penalty;
  ``"sigma_squared"`` is what the official PyTorch code computes.

Use in any training loop::

    reg = OrthoRegularizer(model, OrthoConfig(kind="srip", coef=0.1, schedule="paper"))
    for step, (x, y) in enumerate(batches):
        loss = F.cross_entropy(model(x), y) + reg.loss(progress=step / total_steps)
        ...

or ``penalty(model, kind="so")`` for the unscaled sum over layers.

How it meets E2-Train's techniques (``e2train train --ortho ...``): the penalty is computed in fp32
on the master weights, not on their 8-bit codes, on the host; SMD-skipped iterations compute no
penalty; SLU's gate network is left out by default (``exclude=("gates.*",)``: it is a controller,
not a feature extractor).  With PSG a conv weight's gradient is ``sign(data gradient) +
coef * d penalty / dW``: the accelerator returns only the sign of the data term, and the penalty's
fp32 gradient is added to it on the host before the update (it is not inside the sign, which would
need the full-precision data gradient that PSG exists to avoid).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

import torch
import torch.nn as nn

KINDS = ("so", "dso", "mc", "srip")
SCHEDULES = ("paper", "constant")
SRIP_FORMS = ("sigma", "sigma_squared")
# The paper's coefficient over a 200-epoch run (0.1, 1e-3 from epoch 20, 1e-4 from 50, 1e-6 from 70,
# 0 from 120) as multipliers of the initial coefficient at fractions of the run.
PAPER_MILESTONES = ((0.0, 1.0), (0.10, 1e-2), (0.25, 1e-3), (0.35, 1e-5), (0.60, 0.0))
DEFAULT_EXCLUDE = ("gates.*",)


@dataclass(frozen=True)
class OrthoConfig:
    kind: str = "srip"
    coef: float = 0.1  # the paper's initial coefficient (the official code's default is 1e-2)
    schedule: str = "paper"
    srip_iters: int = 1  # power-iteration steps per evaluation (the paper: one, from a random start)
    srip_form: str = "sigma"
    persistent: bool = False  # start each SRIP estimate from the previous one's vector
    include: tuple[str, ...] = ()  # module-name patterns (fnmatch); empty: every conv and linear
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE

    def __post_init__(self) -> None:
        for name, value, allowed in (("kind", self.kind, KINDS), ("schedule", self.schedule, SCHEDULES),
                                     ("srip_form", self.srip_form, SRIP_FORMS)):
            if value not in allowed:
                raise ValueError(f"ortho {name} {value!r}; allowed: {', '.join(allowed)}")
        if not self.coef >= 0:
            raise ValueError(f"ortho coef must be >= 0, got {self.coef}")
        if self.srip_iters < 1:
            raise ValueError(f"srip_iters must be >= 1, got {self.srip_iters}")


def as_matrix(weight: torch.Tensor) -> torch.Tensor:
    """One column per filter: (out, in, kh, kw) -> (in*kh*kw, out); (out, in) -> (in, out)."""
    return weight.reshape(weight.shape[0], -1).T


def _wide(w: torch.Tensor) -> bool:
    return w.shape[1] > w.shape[0]


def _gram_minus_identity(w: torch.Tensor) -> torch.Tensor:
    gram = w @ w.T if _wide(w) else w.T @ w
    return gram - torch.eye(gram.shape[0], dtype=w.dtype, device=w.device)


def so(w: torch.Tensor) -> torch.Tensor:
    return _gram_minus_identity(w).square().sum()


def dso(w: torch.Tensor) -> torch.Tensor:
    eye_c = torch.eye(w.shape[1], dtype=w.dtype, device=w.device)
    eye_r = torch.eye(w.shape[0], dtype=w.dtype, device=w.device)
    return (w.T @ w - eye_c).square().sum() + (w @ w.T - eye_r).square().sum()


def mc(w: torch.Tensor) -> torch.Tensor:
    return _gram_minus_identity(w).abs().max()


def srip(w: torch.Tensor, v: torch.Tensor, iters: int = 1, form: str = "sigma") -> tuple[torch.Tensor, torch.Tensor]:
    """sigma(G - I) (or its square) by ``iters`` power steps from ``v``; returns (penalty, last unit vector).

    (G - I) v is computed as W^T (W v) - v (or W (W^T v) - v for a wide W): two matrix-vector products.
    G - I is symmetric, so its spectral norm is its largest |eigenvalue|, which power iteration finds.
    """
    def apply(vec: torch.Tensor) -> torch.Tensor:
        return (w @ (w.T @ vec) if _wide(w) else w.T @ (w @ vec)) - vec

    for _ in range(iters):
        u = apply(v)
        v = u / u.norm().clamp_min(torch.finfo(w.dtype).tiny)
    sigma = apply(v).norm()
    return (sigma if form == "sigma" else sigma.square()), v


def penalty_macs(rows: int, cols: int, kind: str, srip_iters: int = 1) -> int:
    """Multiply-accumulates of one evaluation of the penalty on a rows x cols W, forward and backward.

    SO: the smaller Gram (long * short^2) and its gradient 4 W (G - I) (the same); DSO: both Grams and
    both gradients; MC: the smaller Gram and the gradient of one entry (two columns of W); SRIP: two
    matrix-vector products per power step plus the final one, three times over for the backward pass
    (each product's gradient with respect to W and to the vector).
    """
    short, long = sorted((rows, cols))
    if kind == "so":
        return 2 * long * short * short
    if kind == "dso":
        return 2 * (rows * cols * cols + cols * rows * rows)
    if kind == "mc":
        return long * short * short + 2 * long
    if kind == "srip":
        return 3 * (srip_iters + 1) * 2 * rows * cols
    raise ValueError(f"ortho kind {kind!r}; allowed: {', '.join(KINDS)}")


def regularized_layers(model: nn.Module, include: tuple[str, ...] = (),
                       exclude: tuple[str, ...] = DEFAULT_EXCLUDE) -> list[tuple[str, nn.Module]]:
    """Conv and linear modules by name (their weights only: biases and BatchNorm are never penalised)."""
    def chosen(name: str) -> bool:
        if include and not any(fnmatch.fnmatchcase(name, p) for p in include):
            return False
        return not any(fnmatch.fnmatchcase(name, p) for p in exclude)

    return [(name, m) for name, m in model.named_modules()
            if isinstance(m, nn.Conv2d | nn.Linear) and chosen(name)]


@dataclass
class OrthoRegularizer:
    """The penalty of ``config.kind`` over a model's chosen layers, its coefficient schedule and its cost."""

    model: nn.Module
    config: OrthoConfig = field(default_factory=OrthoConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        self.layers = regularized_layers(self.model, self.config.include, self.config.exclude)
        if not self.layers:
            raise ValueError(f"no conv or linear layer matches include={self.config.include!r} "
                             f"exclude={self.config.exclude!r}")
        self._vectors: dict[str, torch.Tensor] = {}  # persistent SRIP vectors by layer

    def coefficient(self, progress: float) -> float:
        """The coefficient at ``progress`` (fraction of the run done, 0..1)."""
        if self.config.schedule == "constant":
            return self.config.coef
        multiplier = [m for start, m in PAPER_MILESTONES if progress >= start][-1]
        return self.config.coef * multiplier

    def penalty(self, step: int = 0) -> torch.Tensor:
        """The unscaled penalty summed over the layers (a scalar with gradients to every weight).

        SRIP's random start vectors come from (seed, step), not from a generator's running state, so a
        resumed run draws the same ones."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        return sum(self._layer_penalty(name, as_matrix(m.weight), generator) for name, m in self.layers)

    def loss(self, progress: float, step: int = 0) -> torch.Tensor | None:
        """``coefficient * penalty``, or None where the coefficient is 0 (nothing computed)."""
        coef = self.coefficient(progress)
        return coef * self.penalty(step) if coef > 0 else None

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The persistent SRIP vectors (empty otherwise): checkpoint them for an exact resume."""
        return dict(self._vectors)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self._vectors = dict(state)

    def macs(self) -> int:
        """MACs of one ``penalty()`` with its backward pass (what the energy model charges per step)."""
        return sum(penalty_macs(*as_matrix(m.weight).shape, self.config.kind, self.config.srip_iters)
                   for _, m in self.layers)

    def _layer_penalty(self, name: str, w: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        kind = self.config.kind
        if kind != "srip":
            return {"so": so, "dso": dso, "mc": mc}[kind](w)
        size = w.shape[0] if _wide(w) else w.shape[1]
        v = self._vectors.get(name) if self.config.persistent else None
        if v is None:
            v = torch.randn(size, generator=generator).to(dtype=w.dtype, device=w.device)
        value, v_last = srip(w, v, self.config.srip_iters, self.config.srip_form)
        if self.config.persistent:
            self._vectors[name] = v_last.detach()
        return value


def penalty(model: nn.Module, kind: str = "srip", **options) -> torch.Tensor:
    """The unscaled ``kind`` penalty of ``model``'s conv and linear weights (options: ``OrthoConfig``'s)."""
    return OrthoRegularizer(model, OrthoConfig(kind=kind, **options)).penalty()
