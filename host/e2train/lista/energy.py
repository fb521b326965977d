"""Modelled joules per recovered signal of an unfolded network on the accelerator (ALGORITHMS.md 1.5 model).

A layer on a batch of B signals is two gemm runs, A (m x n) times x (n x B) and W_k^T (n x m) times r
(m x B), each m n B MACs, plus host work per signal (the residual b - A x, the addition, the threshold
and, with support selection, the ranking).  The runs are priced by the profile's cycle model (busy
cycles for static power, DRAM bytes) exactly as the trainer prices its convolutions, in 8b x 16b
(the fixed-point path) or in fp32 on the profile's fp32 array (the float network, for comparison).
The host's operations are counted as fp32 FLOPs and charged at the profile's per-FLOP energy.
"""

from __future__ import annotations

from dataclasses import dataclass

from e2train.energy.counts import OpCounts
from e2train.energy.model import model_energy
from e2train.energy.profile import EnergyProfile

HOST_FLOPS_PER_ENTRY = 4  # the addition, |v| - theta, max with 0, the sign
FP32_BYTES = 4


@dataclass(frozen=True)
class SignalEnergy:
    """Modelled energy of recovering one signal through every layer (batch cost / batch size)."""

    energy_j: float
    compute_j: float
    dram_j: float
    static_j: float
    macs: int
    accelerator_time_s: float
    profile: str
    profile_kind: str


def count_network(m: int, n: int, layers: int, batch: int, profile: EnergyProfile, precision: str) -> OpCounts:
    """Operation counts of `layers` CP-family layers on a batch; precision "int8x16" or "fp32"."""
    counts = OpCounts()
    hw = profile.accelerator
    for k in range(layers):
        name = f"layer{k + 1}"
        for rows, inner in ((m, n), (n, m)):  # A x, then W_k^T r
            if precision == "int8x16":
                counts.add(name, "mac_int8x16", rows * inner * batch)
                counts.add_run(name, hw.int8.gemm(rows, batch, inner, 2))
            else:
                counts.add(name, "mac_fp32", rows * inner * batch)
                counts.add_run(name, hw.fp32.gemm(rows, batch, inner, FP32_BYTES, FP32_BYTES))
        counts.add(name, "flop_fp32", (m + HOST_FLOPS_PER_ENTRY * n) * batch)
    return counts


def energy_per_signal(m: int, n: int, layers: int, batch: int, profile: EnergyProfile,
                      precision: str = "int8x16") -> SignalEnergy:
    counts = count_network(m, n, layers, batch, profile, precision)
    e = model_energy(counts, profile)
    macs = int(counts.by_kind["mac_int8x16"] + counts.by_kind["mac_fp32"])
    return SignalEnergy(e.total_j / batch, e.compute_j / batch, e.dram_j / batch, e.static_j / batch,
                        macs // batch, e.model_time_s / batch, profile.name, profile.kind)
