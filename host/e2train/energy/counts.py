"""Operation counts per iteration, by kind and precision, and per layer.

The accounting follows ALGORITHMS.md 1.5.  A layer's cost per sample comes from one traced
forward pass (shapes); what ran in an iteration comes from the layers' activity (samples through
each conv, BatchNorm, linear and gate; PSG decisions).  The baselines reuse the same code with
the activity of a network that runs every block on every sample.

Time and DRAM bytes of the conv layers come from the hardware path: each pass is priced as the
kernel run that ``e2train.kernels.driver_conv`` makes for it, by the cycle model
(``e2train.energy.cycle_model``): the forward pass one gemm on the im2col matrix (so its 3x3
re-reads are DRAM traffic), the input gradient one gemm of W^T with the 16-bit error codes, the
PSG weight gradient one psg_wgrad run whose recompute pass follows the actual decisions.  Passes
that run in fp32 (the baselines' backward, the fp32 baseline) are priced on the profile's fp32
array.  BatchNorm, the head and the gates run on the host in fp32 and are counted as operations
only (no accelerator time).  On-chip buffer traffic is not counted separately.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from e2train.energy.cycle_model import Accelerator, RunCost
from e2train.energy.profile import COUNTED_KINDS
from e2train.nn.qconv import QConv2d

BN_FLOPS_FORWARD = 4  # per element: subtract mean, divide by std, scale, shift
BN_FLOPS_BACKWARD = 8  # per element: two reductions and the chain rule through normalisation
OPTIMIZER_FLOPS_PER_PARAM = 4  # momentum SGD with weight decay
FP32_BYTES = 4


@dataclass(frozen=True)
class LayerShape:
    """Per-sample cost of one layer, from a traced forward pass."""

    name: str
    kind: str  # "conv", "bn", "linear", "lstm"
    macs: int  # per sample (elements for bn)
    in_elems: int = 0
    out_elems: int = 0
    weight_elems: int = 0
    gate: bool = False  # part of the SLU gate network (absent from the baselines)
    # convs as the kernels see them: W (out_channels x fan_in) times im2col (fan_in x positions per sample)
    out_channels: int = 0
    fan_in: int = 0  # Cin * kh * kw
    positions: int = 0  # Ho * Wo


@dataclass(frozen=True)
class Precision:
    """Which arithmetic each pass uses; the trainer's and the two baselines' settings."""

    forward: str  # "int8" or "fp32"
    input_grad: str  # "int16" or "fp32"
    psg: bool


BASELINE8 = Precision("int8", "fp32", False)
BASELINE32 = Precision("fp32", "fp32", False)


@dataclass
class LayerActivity:
    shape: LayerShape
    samples: int
    backward_samples: int
    input_grad: bool = True
    psg_entries: int = 0
    psg_recomputed: int = 0
    psg_reduction: int = 0
    psg_masks: list[np.ndarray] = field(default_factory=list)  # (N, K) recompute decisions of each run


@dataclass
class OpCounts:
    by_kind: dict[str, float] = field(default_factory=lambda: dict.fromkeys(COUNTED_KINDS, 0.0))
    per_layer: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    cycles_per_layer: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # accelerator busy
    macs_forward: int = 0
    macs_backward_input: int = 0
    macs_wgrad_predict: int = 0
    macs_wgrad_full: int = 0

    def add(self, layer: str, kind: str, count: float) -> None:
        self.by_kind[kind] += count
        self.per_layer[layer][kind] += count

    def add_run(self, layer: str, cost: RunCost) -> None:
        """One kernel run: its busy cycles and the DRAM bytes it moved."""
        self.cycles_per_layer[layer] += cost.cycles_busy
        self.add(layer, "dram_byte", cost.bytes_read + cost.bytes_written)

    @property
    def dram_bytes(self) -> int:
        return int(self.by_kind["dram_byte"])

    @property
    def cycles(self) -> float:
        return sum(self.cycles_per_layer.values())


def trace_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> dict[nn.Module, LayerShape]:
    """Per-sample shapes of every counted layer, from one forward pass that runs every block."""
    shapes: dict[nn.Module, LayerShape] = {}
    names = {m: n for n, m in model.named_modules()}

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        x = inputs[0]
        per = lambda t: t[0].numel()  # noqa: E731 - elements of one sample
        if isinstance(module, nn.Conv2d):
            k = module.weight[0].numel()
            cout = module.weight.shape[0]
            shapes[module] = LayerShape(names[module], "conv", per(output) * k, per(x), per(output),
                                        module.weight.numel(), out_channels=cout, fan_in=k,
                                        positions=per(output) // cout)
        elif isinstance(module, nn.BatchNorm2d):
            shapes[module] = LayerShape(names[module], "bn", per(x), per(x), per(x))
        elif isinstance(module, nn.Linear):
            shapes[module] = LayerShape(names[module], "linear", module.weight.numel(), per(x), per(output),
                                        module.weight.numel())

    gates = getattr(model, "gates", None)
    model.gates = None  # trace the plain network: every block runs
    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear))]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros((1, *input_shape), device=next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
        model.gates = gates
        model.train(was_training)
    if gates is not None:
        for name, m in gates.named_modules():
            if isinstance(m, nn.Linear):
                shapes[m] = LayerShape(f"gates.{name}", "linear", m.weight.numel(), m.in_features,
                                       m.out_features, m.weight.numel(), gate=True)
            elif isinstance(m, nn.LSTMCell):
                macs = 4 * m.hidden_size * (m.input_size + m.hidden_size)
                shapes[m] = LayerShape(f"gates.{name}", "lstm", macs, m.input_size, m.hidden_size, macs, gate=True)
    for conv in (m for m in model.modules() if isinstance(m, QConv2d)):
        conv.stats.reset()
    return shapes


def count_ops(activities: list[LayerActivity], precision: Precision, updated_params: int,
              accelerator: Accelerator | None = None) -> OpCounts:
    """Turn what ran into counts by kind and accelerator cycles; one code path for the trainer and
    both baselines."""
    hw = accelerator or Accelerator()
    counts = OpCounts()
    for act in activities:
        s, name = act.shape, act.shape.name
        if s.kind == "conv":
            _count_conv(counts, act, precision, hw)
        elif s.kind == "bn":
            counts.add(name, "flop_fp32", act.samples * s.macs * BN_FLOPS_FORWARD
                       + act.backward_samples * s.macs * BN_FLOPS_BACKWARD)
        else:  # linear head, gate projections, LSTM cell: fp32 on the host; backward = input + weight grads
            counts.add(name, "mac_fp32", (act.samples + 2 * act.backward_samples) * s.macs)
    counts.add("optimizer", "flop_fp32", OPTIMIZER_FLOPS_PER_PARAM * updated_params)
    return counts


def _count_conv(counts: OpCounts, act: LayerActivity, precision: Precision, hw: Accelerator) -> None:
    """The three passes of one conv, each as the kernel run the hardware path makes for it."""
    s, name = act.shape, act.shape.name
    int8 = precision.forward == "int8"
    if act.samples:
        fwd = act.samples * s.macs
        counts.macs_forward += fwd
        p = act.samples * s.positions
        if int8:  # W (N x K) codes times the im2col matrix of 8-bit codes
            counts.add(name, "mac_int8", fwd)
            counts.add_run(name, hw.int8.gemm(s.out_channels, p, s.fan_in, 1))
        else:
            counts.add(name, "mac_fp32", fwd)
            counts.add_run(name, hw.fp32.gemm(s.out_channels, p, s.fan_in, FP32_BYTES, FP32_BYTES))
    b = act.backward_samples
    if not b:
        return
    p = b * s.positions
    if act.input_grad:  # W^T (K x N) times the error (N x P), then col2im on the host
        counts.macs_backward_input += b * s.macs
        if int8 and precision.input_grad == "int16":
            counts.add(name, "mac_int8x16", b * s.macs)
            counts.add_run(name, hw.int8.gemm(s.fan_in, p, s.out_channels, 2))
        else:
            counts.add(name, "mac_fp32", b * s.macs)
            counts.add_run(name, hw.fp32.gemm(s.fan_in, p, s.out_channels, FP32_BYTES, FP32_BYTES))
    if precision.psg:  # psg_wgrad: the predictor for every entry, the full product where unconfident
        predict = act.psg_entries * act.psg_reduction
        full = act.psg_recomputed * act.psg_reduction
        counts.macs_wgrad_predict += predict
        counts.macs_wgrad_full += full
        counts.add(name, "mac_int4x16", predict)
        counts.add(name, "mac_int8x16", full)
        for mask in act.psg_masks:
            counts.add_run(name, hw.int8.psg(s.out_channels, s.fan_in, p, mask))
    else:  # fp32 weight gradient: G (N x P) times im2col^T (P x K)
        counts.macs_wgrad_full += b * s.macs
        counts.add(name, "mac_fp32", b * s.macs)
        counts.add_run(name, hw.fp32.gemm(s.out_channels, s.fan_in, p, FP32_BYTES, FP32_BYTES))


def full_network_activities(shapes: dict[nn.Module, LayerShape], batch: int, stem: nn.Module) -> list[LayerActivity]:
    """Activity of the plain network (no gates, every block on every sample, no PSG): the baselines."""
    return [LayerActivity(s, batch, batch, input_grad=m is not stem) for m, s in shapes.items() if not s.gate]
