"""Operation counts against hand-computed numbers, and the energy model's arithmetic."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from e2train.energy.counts import (
    BASELINE8,
    BASELINE32,
    LayerActivity,
    LayerShape,
    Precision,
    count_ops,
    full_network_activities,
    trace_shapes,
)
from e2train.energy.cycle_model import CycleModel
from e2train.energy.model import PJ, model_energy
from e2train.energy.profile import OP_KINDS, ProfileError, load_profile
from e2train.models.resnet import ResNet

# ResNet-8 (one block per stage) on a 1x8x8 input, MACs per sample:
STEM = 16 * 1 * 9 * 64  # 9,216
BLOCK0 = 2 * 16 * 16 * 9 * 64  # two 3x3 convs at 8x8: 294,912
BLOCK1 = 32 * 16 * 9 * 16 + 32 * 32 * 9 * 16 + 32 * 16 * 16  # 4x4 after stride 2, plus the 1x1 shortcut
BLOCK2 = 64 * 32 * 9 * 4 + 64 * 64 * 9 * 4 + 64 * 32 * 4  # 2x2
CONV_MACS = STEM + BLOCK0 + BLOCK1 + BLOCK2  # 762,880
HEAD_MACS = 64 * 10


@pytest.fixture()
def resnet8():
    torch.manual_seed(0)
    model = ResNet(1, 10, 1)
    return model, trace_shapes(model, (1, 8, 8))


def test_traced_shapes_match_hand_count(resnet8) -> None:
    model, shapes = resnet8
    assert CONV_MACS == 762_880
    assert sum(s.macs for s in shapes.values() if s.kind == "conv") == CONV_MACS
    assert shapes[model.stem].macs == STEM
    assert shapes[model.head].macs == HEAD_MACS


def test_baseline_counts_by_kind(resnet8) -> None:
    model, shapes = resnet8
    acts = full_network_activities(shapes, batch=2, stem=model.stem)
    params = sum(p.numel() for p in model.parameters())
    fp32 = count_ops(acts, BASELINE32, params)
    assert fp32.macs_forward == 2 * CONV_MACS
    assert fp32.macs_backward_input == 2 * (CONV_MACS - STEM)  # no gradient for the input image
    assert fp32.macs_wgrad_full == 2 * CONV_MACS and fp32.macs_wgrad_predict == 0
    conv_fp32 = 2 * CONV_MACS + 2 * (CONV_MACS - STEM) + 2 * CONV_MACS
    assert fp32.by_kind["mac_fp32"] == conv_fp32 + 3 * 2 * HEAD_MACS  # head: forward + two gradients
    int8 = count_ops(acts, BASELINE8, params)
    assert int8.by_kind["mac_int8"] == 2 * CONV_MACS
    assert int8.by_kind["mac_fp32"] == conv_fp32 - 2 * CONV_MACS + 3 * 2 * HEAD_MACS
    assert int8.dram_bytes < fp32.dram_bytes


def test_psg_and_skipping_counts() -> None:
    # W: 5 x 10 (fan-in), 20 output positions per sample, 3 samples: P = 60
    shape = LayerShape("conv", "conv", macs=1000, in_elems=10, out_elems=100, weight_elems=50,
                       out_channels=5, fan_in=10, positions=20)
    mask = np.zeros((5, 10), dtype=bool)
    mask[0, :5] = True
    act = LayerActivity(shape, samples=3, backward_samples=3, input_grad=True, psg_entries=50,
                        psg_recomputed=5, psg_reduction=60, psg_masks=[mask])
    c = count_ops([act], Precision("int8", "int16", True), updated_params=0)
    assert c.by_kind["mac_int8"] == 3000
    assert c.by_kind["mac_int8x16"] == 3000 + 5 * 60  # input gradient + recomputed entries
    assert c.by_kind["mac_int4x16"] == 50 * 60
    hw = CycleModel()
    forward = hw.gemm(5, 60, 10, 1)
    # by hand: 1 x 8 output tiles x K=10 cycles = 80 < max(720 bytes read, 1200 written) / 8 = 150 beats
    assert (forward.bytes_read, forward.bytes_written, forward.cycles_busy) == (720, 1200, 4 + 40 + 150)
    runs = [forward, hw.gemm(10, 60, 5, 2), hw.psg(5, 10, 60, mask)]  # forward, input gradient, psg_wgrad
    assert c.cycles == sum(r.cycles_busy for r in runs)
    assert c.dram_bytes == sum(r.bytes_read + r.bytes_written for r in runs)
    skipped = count_ops([LayerActivity(shape, 0, 0)], Precision("int8", "int16", True), 0)
    assert skipped.cycles == 0 and skipped.dram_bytes == 0


def test_recompute_pass_costs_cycles_only_where_decisions_need_it() -> None:
    shape = LayerShape("conv", "conv", macs=64 * 144 * 64, out_channels=64, fan_in=144, positions=64)

    def cycles(mask: np.ndarray) -> float:
        act = LayerActivity(shape, 4, 4, True, mask.size, int(mask.sum()), 256, [mask])
        return count_ops([act], Precision("int8", "int16", True), 0).cycles

    none, some, full = (np.zeros((64, 144), bool), np.eye(64, 144, dtype=bool), np.ones((64, 144), bool))
    assert cycles(none) < cycles(some) < cycles(full)


def test_fp32_passes_run_on_the_smaller_fp32_array() -> None:
    shape = LayerShape("conv", "conv", macs=16 * 144 * 1024, out_channels=16, fan_in=144, positions=1024)
    forward_only = [LayerActivity(shape, 1, 0)]
    int8 = count_ops(forward_only, BASELINE8, 0)
    fp32 = count_ops(forward_only, BASELINE32, 0)
    assert fp32.cycles > 4 * int8.cycles  # 12 fp32 multiply-adds per cycle against 64 int8 MACs


def test_energy_model_arithmetic(tmp_path) -> None:
    profile_path = tmp_path / "p.json"
    energies = {k: float(i + 1) for i, k in enumerate(OP_KINDS)}
    profile_path.write_text(json.dumps({"name": "t", "kind": "prior", "clock_hz": 1e6, "array": {"rows": 2, "cols": 2},
                                        "static_power_w": 0.5, "energy_pj": energies}))
    profile = load_profile(str(profile_path))
    assert (profile.accelerator.int8.rows, profile.accelerator.int8.clock_hz) == (2, 1e6)
    shape = LayerShape("conv", "conv", macs=100, in_elems=1, out_elems=1, weight_elems=100,
                       out_channels=1, fan_in=100, positions=1)
    c = count_ops([LayerActivity(shape, 1, 0)], Precision("int8", "fp32", False), 0, profile.accelerator)
    e = model_energy(c, profile)
    assert e.compute_j == pytest.approx(100 * 1 * PJ)  # mac_int8 = 1 pJ
    assert e.dram_j == pytest.approx(c.dram_bytes * 6 * PJ)  # dram_byte = 6 pJ
    # 1 x 100 times 100 x 1: 100 k-steps; reads 104 + 100 * 8 bytes = 113 beats: memory-bound
    assert c.cycles == 4 + 40 + 113
    assert e.static_j == pytest.approx(0.5 * c.cycles / 1e6)
    assert e.total_j == pytest.approx(e.compute_j + e.dram_j + e.static_j)


def test_profiles_load_and_fail_clearly(tmp_path) -> None:
    for name in ("fpga_zynq7020_prior", "horowitz45nm"):
        profile = load_profile(name)
        assert profile.kind == "prior" and set(profile.energy_pj) == set(OP_KINDS)
    with pytest.raises(ProfileError, match="not found"):
        load_profile("no-such-profile")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"clock_hz": 1, "energy_pj": {"mac_int8": None}}))
    with pytest.raises(ProfileError, match="lacks values"):
        load_profile(str(bad))
