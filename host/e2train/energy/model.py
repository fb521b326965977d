"""Energy model: counts by kind -> joules, with a static term over the modelled accelerator time.

``E = sum_k count_k * e_k + P_static * t_model`` with
``t_model = max(MACs / macs_per_cycle, DRAM bytes / bytes_per_cycle) / clock``.  The time model
gives every MAC kind the same throughput, which flatters fp32 (a real fp32 MAC costs several DSPs
and cycles): savings against the fp32 baseline are therefore conservative.
"""

from __future__ import annotations

from dataclasses import dataclass

from e2train.energy.counts import OpCounts
from e2train.energy.profile import EnergyProfile

PJ = 1e-12


@dataclass(frozen=True)
class ModelledEnergy:
    compute_j: float
    dram_j: float
    static_j: float
    model_time_s: float

    @property
    def total_j(self) -> float:
        return self.compute_j + self.dram_j + self.static_j


def model_energy(counts: OpCounts, profile: EnergyProfile) -> ModelledEnergy:
    compute = sum(counts.by_kind[k] * profile.energy_pj[k] for k in profile.energy_pj if k != "dram_byte")
    dram = counts.by_kind["dram_byte"] * profile.energy_pj["dram_byte"]
    cycles = max(counts.accelerator_macs / profile.macs_per_cycle, counts.dram_bytes / profile.dram_bytes_per_cycle)
    t = cycles / profile.clock_hz
    return ModelledEnergy(compute * PJ, dram * PJ, profile.static_power_w * t, t)


def layer_energy_j(counts: OpCounts, profile: EnergyProfile) -> dict[str, dict[str, float]]:
    """Dynamic joules per layer and kind, for the breakdown in the report."""
    return {layer: {k: c * profile.energy_pj[k] * PJ for k, c in kinds.items()}
            for layer, kinds in counts.per_layer.items()}
