"""A sweep file (YAML or JSON) expanded into trials with stable names.

    command: train
    base: {preset: quickstart, iters: 200}          # any config keys (and a preset)
    variants:                                       # optional: named sets of overrides
      8-bit: {preset: cifar10-int8}
      e2train: {preset: cifar10-e2train}
    grid: {smd: [0.0, 0.5], psg: [false, true]}     # every combination
    seeds: [0, 1, 2]
    retries: 2                                      # attempts after a crash or an unexpected error
    reference: 8-bit                                # optional: the variant the report's delta top-1 is against

The trials are variants x grid x seeds; each trial's overrides are base, then its variant, then its
grid point, then its seed.  A trial's name is derived from the values that vary (variant, grid values
by key in alphabetical order, seed), so rerunning the same sweep finds the same folders.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from e2train.config import PRESETS, ConfigError, TrainConfig

COMMANDS = ("train",)
SPEC_KEYS = ("command", "base", "variants", "grid", "seeds", "retries", "reference")
SHIPPED_SPECS = "e2train.sweep.specs"  # package holding the specs that ship with e2train, by file stem
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


class SweepSpecError(ConfigError):
    """A sweep file or flag that cannot describe a sweep."""


@dataclass(frozen=True)
class Trial:
    name: str  # folder name under the sweep directory
    params: dict[str, Any]  # what varies: variant, grid keys, seed (the results table's parameter columns)
    overrides: dict[str, Any]  # the full configuration given to resolve_config, "preset" included


@dataclass
class SweepSpec:
    command: str = "train"
    base: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [0])
    retries: int = 1
    reference: str | None = None  # a variant name: the report gives every configuration's accuracy against it

    def validate(self) -> SweepSpec:
        if self.command not in COMMANDS:
            raise SweepSpecError(f"command {self.command!r} cannot be swept; allowed: {', '.join(COMMANDS)}")
        known = {f.name for f in fields(TrainConfig)} | {"preset"}
        for where, keys in [("base", self.base), ("grid", self.grid),
                            *((f"variant {name!r}", v) for name, v in self.variants.items())]:
            unknown = sorted(set(keys) - known)
            if unknown:
                raise SweepSpecError(f"{where}: unknown option(s) {', '.join(unknown)}; "
                                     f"known: {', '.join(sorted(known))}")
        for overrides in [self.base, *self.variants.values()]:
            preset = overrides.get("preset")
            if preset is not None and preset not in PRESETS:
                raise SweepSpecError(f"unknown preset {preset!r}; allowed: {', '.join(PRESETS)}")
        for key, values in self.grid.items():
            if not isinstance(values, list) or not values:
                raise SweepSpecError(f"grid {key}: give a non-empty list of values, got {values!r}")
        if "seed" in self.grid:
            raise SweepSpecError("seeds go in 'seeds' (or --seeds), not in the grid")
        if not self.seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.seeds):
            raise SweepSpecError(f"seeds must be non-negative integers, got {self.seeds!r}")
        if len(set(self.seeds)) != len(self.seeds):
            raise SweepSpecError(f"seeds repeat: {self.seeds!r}")
        if not isinstance(self.retries, int) or self.retries < 0:
            raise SweepSpecError(f"retries must be an integer >= 0, got {self.retries!r}")
        if self.reference is not None and self.reference not in self.variants:
            raise SweepSpecError(f"reference {self.reference!r} is not a variant; variants: "
                                 f"{', '.join(self.variants) or 'none'}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def trials(self) -> list[Trial]:
        """Every trial in a fixed order: variants (as written), grid points, seeds."""
        variants = list(self.variants.items()) or [(None, {})]
        keys = sorted(self.grid)  # names must not depend on the order the grid was written in
        out = []
        for (variant, v_over), point, seed in itertools.product(
                variants, itertools.product(*(self.grid[k] for k in keys)), self.seeds):
            params: dict[str, Any] = {} if variant is None else {"variant": variant}
            params.update(zip(keys, point))
            params["seed"] = seed
            overrides = {**self.base, **v_over, **dict(zip(keys, point)), "seed": seed}
            out.append(Trial(trial_name(params), params, overrides))
        names = [t.name for t in out]
        if len(set(names)) != len(names):
            raise SweepSpecError("two trials would share a folder name; make the variant names or grid values "
                                 "distinct")
        return out


def trial_name(params: dict[str, Any]) -> str:
    """``variant__key=value__seed=N`` with characters a file system may dislike replaced by '-'."""
    parts = [f"{k}={_value_text(v)}" if k != "variant" else str(v) for k, v in params.items()]
    return "__".join(_UNSAFE.sub("-", p).strip("-") or "-" for p in parts)


def _value_text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool | list | dict) or value is None else str(value)


def parse_value(text: str) -> Any:
    """A flag's value typed the way YAML types it: 0.5 -> float, true -> bool, cifar10 -> str."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_assignment(text: str, flag: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise SweepSpecError(f"{flag} {text!r}: write KEY=VALUE")
    return key.strip().replace("-", "_"), value


def load_spec(source: str | Path) -> SweepSpec:
    """A spec file by path, or a spec shipped with e2train by name (``e2train sweep --list``)."""
    path = Path(source)
    if not path.exists():
        shipped = {p.stem: p for p in shipped_specs()}
        if str(source) not in shipped:
            raise SweepSpecError(f"no sweep spec {str(source)!r}: not a file, and not a shipped spec "
                                 f"({', '.join(sorted(shipped)) or 'none'})")
        path = shipped[str(source)]
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise SweepSpecError(f"cannot read sweep spec {path}: {err}") from err
    return spec_from_dict(data if data is not None else {}, str(path))


def spec_from_dict(data: Any, where: str = "sweep spec") -> SweepSpec:
    if not isinstance(data, dict):
        raise SweepSpecError(f"{where}: expected a mapping of {', '.join(SPEC_KEYS)}")
    unknown = sorted(set(data) - set(SPEC_KEYS))
    if unknown:
        raise SweepSpecError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(SPEC_KEYS)}")
    spec = SweepSpec(**data)
    if not isinstance(spec.base, dict) or not isinstance(spec.variants, dict) or not isinstance(spec.grid, dict):
        raise SweepSpecError(f"{where}: base, variants and grid are mappings")
    if any(not isinstance(v, dict) for v in spec.variants.values()):
        raise SweepSpecError(f"{where}: each variant is a mapping of config overrides")
    return spec


def shipped_specs() -> list[Path]:
    return sorted(Path(str(p)) for p in resources.files(SHIPPED_SPECS).iterdir() if p.name.endswith(".yaml"))
