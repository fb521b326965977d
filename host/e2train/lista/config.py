"""The typed configuration of a LISTA run: problem, methods, training schedule.

Defaults follow ALGORITHMS.md section 3 (m = 250, n = 500, p = 0.1, 16 layers, batches of 64, lr 5e-4
then x0.2 and x0.02, patience 4000 steps, cap 200k).  ``PRESETS["quick"]`` is a problem small and short
enough to train every method on a CPU in a minute or two; it keeps the schedule's shape, not its size.
The resolved configuration is saved in every run directory and checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from e2train.config import ConfigError

BASELINES = ("ista", "fista")
LEARNED = ("lista", "lista-cp", "lista-ss", "lista-cpss", "alista")
METHODS = BASELINES + LEARNED
SS_METHODS = ("lista-ss", "lista-cpss", "alista")  # ALISTA uses support selection as in its paper
CP_FAMILY = ("lista-cp", "lista-cpss", "alista")  # x + W^T (b - A x): what the fixed-point path runs


@dataclass
class ListaConfig:
    # problem (ALGORITHMS.md 3, "Setup")
    m: int = 250
    n: int = 500
    sparsity: float = 0.1  # Bernoulli probability of a non-zero in x*
    snr_db: float | None = None  # None: noiseless
    condition_number: float | None = None  # None: plain Gaussian A
    seed: int = 0
    val_size: int = 1000
    test_size: int = 1000
    # methods
    methods: tuple[str, ...] = ("ista", "fista", "lista", "lista-cp", "lista-ss", "lista-cpss")
    layers: int = 16
    lam: float = 0.4  # LASSO weight of ISTA/FISTA; learned thresholds start at lam / L
    tied: bool = False  # one W shared by all layers (the official command); untied per layer (the paper)
    ss_p_step: float = 0.012  # p in p_k = min(k p, p_max): 1.2 % per layer
    ss_p_max: float | None = None  # must be set when a support-selection method runs (13 % in the paper)
    # stage-wise training
    batch_size: int = 64
    lr: float = 5e-4
    lr_decays: tuple[float, ...] = (0.2, 0.02)  # the two fine-tuning stages of all layers so far
    patience_steps: int = 4000  # a stage ends when validation NMSE has not improved for this long
    max_steps: int = 200_000  # cap per stage
    val_every: int = 10  # validation NMSE every this many steps (patience counts steps, not checks)
    checkpoint_every: int = 500  # steps between checkpoints within a stage
    device: str = "cpu"
    # fixed-point inference and energy
    fixed_point_backend: str | None = None  # None: no fixed-point pass; torch, reference, emulate, csim, rtl
    energy_profile: str = "fpga_zynq7020_prior"

    def validate(self) -> ListaConfig:
        """Check every value; a wrong one raises ConfigError naming what is allowed."""
        self.methods = tuple(self.methods)
        self.lr_decays = tuple(float(d) for d in self.lr_decays)
        unknown = [mth for mth in self.methods if mth not in METHODS]
        if unknown or not self.methods:
            raise ConfigError(f"unknown method(s) {', '.join(unknown) or '(none given)'}; "
                              f"choose from: {', '.join(METHODS)}")
        if len(set(self.methods)) != len(self.methods):
            raise ConfigError(f"methods {','.join(self.methods)} name one method twice")
        for name in ("m", "n", "layers", "batch_size", "val_size", "test_size", "patience_steps", "max_steps",
                     "val_every", "checkpoint_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}={value!r} must be an integer >= 1")
        if self.m > self.n:
            raise ConfigError(f"m={self.m} must not exceed n={self.n}: sparse recovery measures fewer than n values")
        _in_open_unit("sparsity", self.sparsity)
        for name in ("lam", "lr", "ss_p_step"):
            _positive(name, getattr(self, name))
        for decay in self.lr_decays:
            _positive("lr_decays entry", decay)
        if self.snr_db is not None and not math.isfinite(self.snr_db):
            raise ConfigError(f"snr_db={self.snr_db} must be a finite number of dB (omit it for noiseless)")
        if self.condition_number is not None and not (math.isfinite(self.condition_number)
                                                      and self.condition_number >= 1):
            raise ConfigError(f"condition_number={self.condition_number} must be >= 1")
        if any(mth in SS_METHODS for mth in self.methods):
            if self.ss_p_max is None or not (0 < self.ss_p_max <= 1):
                raise ConfigError(f"ss_p_max={self.ss_p_max} must be set in (0, 1] for support selection "
                                  "(the paper uses 0.13; 0 would silently turn SS off)")
        elif self.ss_p_max is not None and not 0 <= self.ss_p_max <= 1:
            raise ConfigError(f"ss_p_max={self.ss_p_max} must be in [0, 1]")
        if self.fixed_point_backend is not None:
            from e2train.backends import BACKEND_MODULES

            if self.fixed_point_backend not in BACKEND_MODULES:
                raise ConfigError(f"fixed_point_backend={self.fixed_point_backend!r} is not allowed; "
                                  f"choose one of: {', '.join(BACKEND_MODULES)}")
        return self

    @property
    def learned_methods(self) -> tuple[str, ...]:
        return tuple(mth for mth in self.methods if mth in LEARNED)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ListaConfig:
        known = {f.name for f in fields(cls)}
        extra = sorted(set(data) - known)
        if extra:
            raise ConfigError(f"unknown LISTA configuration key(s): {', '.join(extra)}")
        return cls(**data).validate()


def _positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name}={value!r} must be a number > 0")


def _in_open_unit(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ConfigError(f"{name}={value!r} must be in (0, 1)")


# Presets: "paper" is ALGORITHMS.md 3 as stated; "quick" trains every method on 2 CPU cores in about a minute
# (small problem, few layers, short patience and caps, small validation/test sets).
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"ss_p_max": 0.13},
    "quick": {"m": 64, "n": 128, "layers": 6, "val_size": 256, "test_size": 256, "patience_steps": 60,
              "max_steps": 300, "val_every": 10, "checkpoint_every": 100, "ss_p_max": 0.13,
              "ss_p_step": 0.02},
}


def resolve(preset: str, overrides: dict[str, Any]) -> ListaConfig:
    """A preset with the given values (None means "not given") replacing its own."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown LISTA preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    return ListaConfig(**values).validate()
