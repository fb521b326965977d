"""Typed training configuration: presets, config files, flags, and validation with clear errors.

Precedence: preset < config file (YAML or JSON) < command-line flags.  The resolved config is
saved in every run directory and checkpoint.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from e2train.data.datasets import DATASETS
from e2train.errors import E2TrainError
from e2train.kernels.toolchain import SIMULATORS
from e2train.models.resnet import MODELS
from e2train.nn.qconv import INPUT_GRAD_MODES, PRECISIONS
from e2train.techniques import ortho
from e2train.techniques.psg import THRESHOLD_MODES
from e2train.techniques.slu import EVAL_RULES

# How the learning rate moves over a run (``train.loop.lr_factor``).  "step": divided by 10 at each of
# lr_milestones (the paper's).  "onecycle": from lr / 10 up to lr over the first 30 % of the run, then
# linearly down to 0 at its end, the usual shape for short budgets (Smith & Topin 2017).
LR_SCHEDULES = ("step", "onecycle")
BACKENDS = ("torch", "emulate", "rtl", "pynq")  # "torch": software; the rest: e2train.backends.device_kernels


class ConfigError(E2TrainError, ValueError):
    """A configuration value is not allowed; the message names the allowed values."""


@dataclass
class TrainConfig:
    dataset: str = "digits"
    data_dir: str | None = None
    model: str = "resnet14"
    epochs: float | None = 30.0  # nominal budget; SMD-skipped iterations count toward it
    iters: int | None = None  # overrides epochs when set
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_milestones: tuple[float, ...] = (0.5, 0.75)  # fractions of the run; lr / 10 at each ("step" schedule)
    lr_schedule: str = "step"  # LR_SCHEDULES: "step" (the milestones) or "onecycle" (lr is the peak)
    precision: str = "int8"
    input_grad: str = "fp32"  # "int16": the hardware path's 16-bit error codes
    smd: float = 0.0  # drop probability
    slu_target: float | None = None  # target computation fraction of gated blocks; None = SLU off
    slu_beta: float = 1e-3  # 1e-4 let the task loss pull the gates far below target on digits
    slu_policy_coef: float = 0.0  # REINFORCE on each sample's own loss for the gates (0 = off): techniques.slu
    slu_eval_rule: str = "calibrated"  # how gates decide at evaluation (techniques.slu.EVAL_RULES)
    psg: bool = False
    psg_threshold: float = 0.05
    psg_threshold_mode: str = "rel"
    # learning-rate factor of the sign updates: 1 is the original's (same lr); measured on digits, 3 seeds
    # each: 1.0 and 0.01 reach the same accuracy, 0.01 keeps conv weight norms ~85x smaller (README)
    psg_lr_scale: float = 1.0
    ortho: str = "none"  # orthogonality penalty on conv/linear weights: none, so, dso, mc, srip
    ortho_coef: float = 0.1  # the paper's initial coefficient
    ortho_schedule: str = "paper"  # paper: x1e-2 at 10 % of the run, 1e-3 at 25 %, 1e-5 at 35 %, 0 from 60 %
    ortho_srip_iters: int = 1  # power-iteration steps per SRIP estimate
    ortho_srip_form: str = "sigma"  # sigma (the paper) or sigma_squared (the official code)
    ortho_persistent: bool = False  # SRIP starts from the previous step's vector
    seed: int = 0
    torch_device: str = "cpu"  # where torch computes (cpu, cuda:N); the FPGA device is `backend`
    backend: str = "torch"
    sim: str = "icarus"  # simulator of the RTL when backend="rtl"
    energy_profile: str = "fpga_zynq7020_prior"
    eval_every: int = 1  # epochs between test evaluations (for the accuracy-vs-energy curve)
    checkpoint_every: int = 1  # epochs between checkpoints
    checkpoint_every_iters: int = 100  # and every this many iterations within an epoch (0: epoch ends only)
    out: str | None = None

    def validate(self) -> TrainConfig:
        for f in fields(self):
            setattr(self, f.name, _typed(f.name, str(f.type), getattr(self, f.name)))
        def choice(name: str, allowed: tuple[str, ...]) -> None:
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(f"{name}={value!r} is not allowed; choose one of: {', '.join(allowed)}")

        choice("dataset", DATASETS)
        choice("model", tuple(MODELS))
        choice("precision", PRECISIONS)
        choice("input_grad", INPUT_GRAD_MODES)
        choice("psg_threshold_mode", THRESHOLD_MODES)
        choice("lr_schedule", LR_SCHEDULES)
        choice("slu_eval_rule", EVAL_RULES)
        choice("ortho", ("none", *ortho.KINDS))
        choice("ortho_schedule", ortho.SCHEDULES)
        choice("ortho_srip_form", ortho.SRIP_FORMS)
        if self.ortho_coef < 0:
            raise ConfigError(f"ortho_coef={self.ortho_coef} must be >= 0")
        if self.ortho_srip_iters < 1:
            raise ConfigError(f"ortho_srip_iters={self.ortho_srip_iters} must be >= 1")
        choice("backend", BACKENDS)
        choice("sim", SIMULATORS)
        if self.dataset != "digits" and not self.data_dir:
            raise ConfigError(f"dataset={self.dataset} needs data_dir (--data-dir): nothing is downloaded")
        if not 0.0 <= self.smd < 1.0:
            raise ConfigError(f"smd={self.smd} must be a drop probability in [0, 1)")
        if self.slu_target is not None and not 0.0 < self.slu_target <= 1.0:
            raise ConfigError(f"slu_target={self.slu_target} must be a computation fraction in (0, 1]")
        if self.psg and self.precision != "int8":
            raise ConfigError("psg needs precision=int8 (it predicts from 8-bit activation codes)")
        if self.backend != "torch":
            self._validate_device_backend()
        if not self.psg_lr_scale > 0:
            raise ConfigError(f"psg_lr_scale={self.psg_lr_scale} must be > 0")
        if self.psg_threshold < 0:
            raise ConfigError(f"psg_threshold={self.psg_threshold} must be >= 0")
        for name in ("batch_size", "eval_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 1")
        if self.iters is None and (self.epochs is None or self.epochs <= 0):
            raise ConfigError("give a positive budget: epochs > 0 or iters >= 1")
        if self.iters is not None and self.iters < 1:
            raise ConfigError(f"iters={self.iters} must be >= 1")
        if self.lr <= 0:
            raise ConfigError(f"lr={self.lr} must be > 0")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum={self.momentum} must be in [0, 1)")
        for name in ("weight_decay", "slu_beta", "slu_policy_coef", "seed", "checkpoint_every_iters"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 0")
        if any(not 0 < m < 1 for m in self.lr_milestones):
            raise ConfigError(f"lr_milestones={self.lr_milestones} must be fractions of the run in (0, 1)")
        return self

    def _validate_device_backend(self) -> None:
        """The accelerator computes 8-bit forward, 16-bit-error input gradients and PSG with a fixed tau."""
        needs = f"backend={self.backend} runs the convs on the accelerator's kernels"
        if self.precision != "int8":
            raise ConfigError(f"{needs}: it needs precision=int8 (the gemm takes 8-bit codes)")
        if self.input_grad != "int16":
            raise ConfigError(f"{needs}: it needs input_grad=int16 (input gradients go through the "
                              "int8 x int16 gemm)")
        if self.psg and self.psg_threshold_mode != "abs":
            raise ConfigError(f"{needs}: it needs psg_threshold_mode=abs; psg_wgrad compares each prediction "
                              "with a fixed integer tau, while a relative threshold depends on max |g_pred| "
                              "over the whole layer, known only after all predictions")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_PAPER_SCHEDULE: dict[str, Any] = {"iters": 64_000, "epochs": None, "batch_size": 128, "lr": 0.1,
                                   "lr_milestones": (2 / 3, 0.95), "smd": 0.5, "slu_target": 0.6, "psg": True,
                                   "input_grad": "int16", "checkpoint_every": 1}

PRESETS: dict[str, dict[str, Any]] = {
    # The README's first command: SMD + SLU + PSG on the embedded 8x8 digits, a couple of minutes on 2 cores.
    # The gates' policy-gradient term is on here, where it was measured (README: SLU); CIFAR presets keep 0.
    "quickstart": {"dataset": "digits", "model": "resnet14", "epochs": 30, "batch_size": 64,
                   "smd": 0.5, "slu_target": 0.6, "psg": True, "slu_policy_coef": 1.0},
    # The ablation on CIFAR-10 (ResNet-20), one short schedule.
    "cifar10-fp32": {"dataset": "imagefolder", "model": "resnet20", "batch_size": 128, "precision": "fp32"},
    "cifar10-int8": {"dataset": "imagefolder", "model": "resnet20", "batch_size": 128},
    "cifar10-smd": {"dataset": "imagefolder", "model": "resnet20", "batch_size": 128, "smd": 0.5},
    "cifar10-smd-slu": {"dataset": "imagefolder", "model": "resnet20", "batch_size": 128, "smd": 0.5,
                        "slu_target": 0.6},
    "cifar10-e2train": {"dataset": "imagefolder", "model": "resnet20", "batch_size": 128, "smd": 0.5,
                        "slu_target": 0.6, "psg": True, "input_grad": "int16"},
    # The paper's setups (ALGORITHMS.md 1.3/1.4): 64k iterations of batch 128, lr 0.1 divided by 10 at
    # 2/3 and near the end, the hardware path's 16-bit input gradients.  Give --data-dir (CIFAR pickles).
    "cifar10-resnet74-paper": {**_PAPER_SCHEDULE, "dataset": "cifar10", "model": "resnet74"},
    "cifar100-resnet110-paper": {**_PAPER_SCHEDULE, "dataset": "cifar100", "model": "resnet110"},
}


def _typed(name: str, annotation: str, value: Any) -> Any:
    """``value`` checked against the field's annotation: a config file or flag of the wrong type is
    named with the key, never turned into something else (``"false"`` is not a boolean)."""
    optional = "None" in annotation
    base = annotation.replace("| None", "").strip()
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{name} needs a value ({base}); null/None was given")
    given = f"{value!r} ({type(value).__name__})"
    if base == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{name}={given} must be true or false")
        return value
    if base == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{name}={given} must be a string")
        return value
    if base.startswith("tuple"):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}={given} must be a list of numbers")
        return tuple(_number(f"{name}[{i}]", v) for i, v in enumerate(value))
    number = _number(name, value)
    if base == "int":
        if not float(number).is_integer():
            raise ConfigError(f"{name}={given} must be a whole number")
        return int(number)
    return float(number)


def _number(name: str, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name}={value!r} ({type(value).__name__}) must be a number")
    if not math.isfinite(value):
        raise ConfigError(f"{name}={value!r} must be a finite number")
    return value


def load_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) if path.suffix in (".yaml", ".yml") else json.loads(path.read_text())
    except (yaml.YAMLError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: cannot parse ({err})") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of option names to values")
    return data


RENAMED_OPTIONS = {"device": "torch_device"}  # old name -> new, for config.json files of earlier runs


def with_current_names(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with options renamed since an earlier version under their current names."""
    return {RENAMED_OPTIONS.get(k, k): v for k, v in values.items()}


def resolve_config(preset: str | None = None, config_file: str | None = None,
                   overrides: dict[str, Any] | None = None, validate: bool = True) -> TrainConfig:
    """``validate=False`` leaves the values unchecked (a template to edit, e.g. still without data_dir)."""
    values: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; allowed: {', '.join(PRESETS)}")
        values.update(PRESETS[preset])
    if config_file is not None:
        values.update(load_config_file(config_file))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    values = with_current_names(values)
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    cfg = TrainConfig(**values)
    return cfg.validate() if validate else cfg
