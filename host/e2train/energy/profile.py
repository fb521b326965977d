"""Energy profiles: per-operation energies, static power and throughput, with their provenance.

A profile is data, never code: a JSON file under ``measurements/profiles/`` (a literature prior,
clearly labelled) or one written by ``e2train calibrate`` from measured traces.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

OP_KINDS = ("mac_int8", "mac_int8x16", "mac_int4x16", "mac_fp32", "flop_fp32", "dram_byte")
DEFAULT_PROFILE = "fpga_zynq7020_prior"
REPO_ROOT = Path(__file__).resolve().parents[3]


class ProfileError(ValueError):
    """A profile file is missing, malformed, or lacks a value the model needs."""


@dataclass(frozen=True)
class EnergyProfile:
    name: str
    kind: str  # "prior" or "calibrated"
    source: str
    energy_pj: dict[str, float]
    static_power_w: float
    clock_hz: float
    macs_per_cycle: float
    dram_bytes_per_cycle: float
    path: str


def profile_dirs() -> list[Path]:
    extra = os.environ.get("E2TRAIN_PROFILES")
    return ([Path(extra)] if extra else []) + [REPO_ROOT / "measurements" / "profiles"]


def resolve_profile(name_or_path: str) -> Path:
    path = Path(name_or_path).expanduser()
    if path.suffix == ".json" and path.is_file():
        return path
    for folder in profile_dirs():
        candidate = folder / f"{name_or_path}.json"
        if candidate.is_file():
            return candidate
    known = sorted({p.stem for d in profile_dirs() if d.is_dir() for p in d.glob("*.json")})
    raise ProfileError(f"energy profile {name_or_path!r} not found; known: {', '.join(known) or 'none'} "
                       "(or give a path to a .json profile)")


def load_profile(name_or_path: str = DEFAULT_PROFILE) -> EnergyProfile:
    path = resolve_profile(name_or_path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ProfileError(f"{path}: not valid JSON ({err})") from err
    energies = data.get("energy_pj") or {}
    missing = [k for k in OP_KINDS if energies.get(k) is None]
    if missing:
        raise ProfileError(f"{path}: energy_pj lacks values for {', '.join(missing)} "
                           "(a calibration that could not identify them needs --prior)")
    try:
        return EnergyProfile(
            name=str(data.get("name", path.stem)), kind=str(data.get("kind", "unknown")),
            source=str(data.get("source", "")), energy_pj={k: float(energies[k]) for k in OP_KINDS},
            static_power_w=float(data.get("static_power_w", 0.0)), clock_hz=float(data["clock_hz"]),
            macs_per_cycle=float(data.get("macs_per_cycle", 64)),
            dram_bytes_per_cycle=float(data.get("dram_bytes_per_cycle", 8)), path=str(path),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ProfileError(f"{path}: malformed profile ({err})") from err
