"""Energy model: counts by kind -> joules, with a static term over the modelled accelerator time.

``E = sum_k count_k * e_k + P_static * t_model``, where ``t_model`` is the accelerator's busy time:
the cycles of every kernel run of the step (``OpCounts.cycles``, from the cycle model at the
profile's array sizes) over the profile's clock.  The time therefore follows the hardware: the
predictor pass of psg_wgrad costs what its cycles cost, the recompute pass only the diagonals that
hold an unconfident entry, memory-bound runs their DRAM beats, and fp32 passes run on the smaller
fp32 array.  Host-side work (BatchNorm, head, gates, optimizer) is counted as operations only.
"""

from __future__ import annotations

from dataclasses import dataclass

from e2train.energy.counts import OpCounts
from e2train.energy.profile import EnergyProfile

PJ = 1e-12
STATIC_KIND = "static"  # the per-layer breakdown's name for static power over a layer's kernel time


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
    compute = sum(count * profile.pj(k) for k, count in counts.by_kind.items() if k != "dram_byte")
    dram = counts.by_kind["dram_byte"] * profile.pj("dram_byte")
    t = counts.cycles / profile.clock_hz
    return ModelledEnergy(compute * PJ, dram * PJ, profile.static_power_w * t, t)


def layer_energy_j(counts: OpCounts, profile: EnergyProfile) -> dict[str, dict[str, float]]:
    """Joules per layer and kind, for the breakdown in the report; static power over each layer's
    kernel time appears as the kind ``static``."""
    layers = {layer: {k: c * profile.pj(k) * PJ for k, c in kinds.items()}
              for layer, kinds in counts.per_layer.items()}
    for layer, cycles in counts.cycles_per_layer.items():
        layers.setdefault(layer, {})[STATIC_KIND] = profile.static_power_w * cycles / profile.clock_hz
    return layers
