"""Energy profiles: per-operation energies, static power and throughput, with their provenance.

A profile is data, never code: a JSON file under ``measurements/profiles/`` (a literature prior,
clearly labelled) or one written by ``e2train calibrate`` from measured traces.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from e2train.energy.cycle_model import Accelerator, CycleModel
from e2train.errors import E2TrainError

OP_KINDS = ("mac_int8", "mac_int8x16", "mac_int4x16", "mac_fp32", "flop_fp32", "dram_byte")
# Kinds counted apart for the breakdown but priced as another kind (a profile holds no value of its own
# for them): the orthogonality penalty's fp32 MACs on the host.
PRICED_AS = {"mac_ortho": "mac_fp32"}
COUNTED_KINDS = OP_KINDS + tuple(PRICED_AS)
DEFAULT_PROFILE = "fpga_zynq7020_prior"
REPO_ROOT = Path(__file__).resolve().parents[3]


class ProfileError(E2TrainError, ValueError):
    """A profile file is missing, malformed, or lacks a value the model needs."""


@dataclass(frozen=True)
class EnergyProfile:
    name: str
    kind: str  # "prior" or "calibrated"
    source: str
    energy_pj: dict[str, float]
    static_power_w: float
    clock_hz: float
    accelerator: Accelerator  # array sizes and clock: the time that static power is charged for
    path: str

    def pj(self, kind: str) -> float:
        """Energy of one operation of a counted kind, in pJ."""
        return self.energy_pj[PRICED_AS.get(kind, kind)]


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
            accelerator=_accelerator(data), path=str(path),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ProfileError(f"{path}: malformed profile ({err})") from err


def _accelerator(data: dict) -> Accelerator:
    """The profile's ``array`` / ``fp32_array`` ({"rows", "cols"}) and clock; the RTL's defaults otherwise."""
    default = Accelerator()
    clock = float(data["clock_hz"])

    def array(key: str, fallback: CycleModel) -> CycleModel:
        dims = data.get(key) or {}
        return CycleModel(rows=int(dims.get("rows", fallback.rows)), cols=int(dims.get("cols", fallback.cols)),
                          clock_hz=clock)

    return Accelerator(array("array", default.int8), array("fp32_array", default.fp32))
