"""The energy model's time against the RTL's own counters (as FINN checks its estimates against
rtlsim): every conv pass of a ResNet-20 layer priced by ``e2train.energy.counts`` against the
CYCLES_BUSY of the same kernel runs on the Verilator-simulated RTL, within
``RTL_CYCLE_TOLERANCE``.  Batch 1, ideal memory; real layer shapes, random codes (gemm cycles do
not depend on the values; psg_wgrad's do, through the recompute mask, which the model is given).
"""

from __future__ import annotations

import numpy as np
import pytest

from e2train.backends import get_backend
from e2train.energy.counts import LayerActivity, Precision, count_ops, trace_shapes
from e2train.energy.cycle_model import RTL_CYCLE_TOLERANCE
from e2train.kernels.driver_conv import im2col
from e2train.kernels.reference import msb4
from e2train.models.resnet import build_model

pytestmark = pytest.mark.verilator

# ResNet-20 layers: stage 1, stage 2's down-sampling conv and shortcut, stage 2, stage 3's first, stage 3
LAYERS = ["blocks.0.conv1", "blocks.3.conv1", "blocks.3.shortcut.0", "blocks.4.conv1", "blocks.6.conv1",
          "blocks.7.conv2"]
HARDWARE_PATH = Precision("int8", "int16", True)


@pytest.fixture(scope="module")
def resnet20_shapes():
    model = build_model("resnet20", 10, 3)
    shapes = trace_shapes(model, (3, 32, 32))
    modules = dict(model.named_modules())
    return {name: (modules[name], shapes[modules[name]]) for name in LAYERS}


@pytest.mark.parametrize("name", LAYERS)
def test_modelled_layer_cycles_match_the_rtl_counters(name, resnet20_shapes, require_sim) -> None:
    require_sim("verilator")
    rtl = get_backend("rtl")
    conv, shape = resnet20_shapes[name]
    rng = np.random.default_rng(7)
    cin, kh = conv.in_channels, conv.kernel_size[0]
    side = round((shape.in_elems / cin) ** 0.5)  # square CIFAR feature maps
    x = rng.integers(0, 255, (1, cin, side, side), endpoint=True).astype(np.uint8)
    cols = im2col(x, kh, conv.stride[0], conv.padding[0])  # (K, P)
    w = rng.integers(-127, 127, (shape.out_channels, shape.fan_in), endpoint=True).astype(np.int8)
    g = rng.integers(-32767, 32767, (shape.out_channels, cols.shape[1]), endpoint=True).astype(np.int16)
    assert cols.shape == (shape.fan_in, shape.positions)

    forward = rtl.gemm(w, cols, "i8u8", sim="verilator")
    input_grad = rtl.gemm(np.ascontiguousarray(w.T), g, "i8i16", sim="verilator")
    predictions = g.astype(np.int64) @ msb4(cols, False).astype(np.int64).T
    magnitudes = np.sort(np.abs(16 * predictions).ravel())
    tau = int(magnitudes[magnitudes.size // 2])  # about half the entries recomputed
    wgrad = rtl.psg_wgrad(cols, g, tau, False, sim="verilator")
    rtl_runs = {"forward": forward, "input_grad": input_grad, "wgrad": wgrad}

    mask = wgrad.recompute_mask.astype(bool)
    act = LayerActivity(shape, 1, 1, True, mask.size, int(mask.sum()), shape.positions, [mask])
    modelled = count_ops([act], HARDWARE_PATH, 0).cycles
    measured = sum(r.counters["CYCLES_BUSY"] for r in rtl_runs.values())
    per_run = {k: r.counters["CYCLES_BUSY"] for k, r in rtl_runs.items()}
    assert abs(modelled / measured - 1) <= RTL_CYCLE_TOLERANCE, (name, modelled, measured, per_run)
