"""Operation counts per iteration, by kind and precision, and per layer.

The accounting follows ALGORITHMS.md 1.5.  A layer's cost per sample comes from one traced
forward pass (shapes); what ran in an iteration comes from the layers' activity (samples through
each conv, BatchNorm, linear and gate; PSG decisions).  The baselines reuse the same code with
the activity of a network that runs every block on every sample.

Byte accounting covers the accelerator's DRAM traffic of the conv layers (operands read and
results written at their real widths, weights read once per call); BatchNorm, the head and the
gates run on the host in fp32 and are counted as operations only.  On-chip buffer traffic is not
counted separately.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from e2train.energy.profile import OP_KINDS
from e2train.nn.qconv import QConv2d

BN_FLOPS_FORWARD = 4  # per element: subtract mean, divide by std, scale, shift
BN_FLOPS_BACKWARD = 8  # per element: two reductions and the chain rule through normalisation
OPTIMIZER_FLOPS_PER_PARAM = 4  # momentum SGD with weight decay
ACC_BYTES = 4  # int32 accumulators (or fp32 results) written back


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


@dataclass
class OpCounts:
    by_kind: dict[str, float] = field(default_factory=lambda: dict.fromkeys(OP_KINDS, 0.0))
    per_layer: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    macs_forward: int = 0
    macs_backward_input: int = 0
    macs_wgrad_predict: int = 0
    macs_wgrad_full: int = 0

    def add(self, layer: str, kind: str, count: float) -> None:
        self.by_kind[kind] += count
        self.per_layer[layer][kind] += count

    @property
    def dram_bytes(self) -> int:
        return int(self.by_kind["dram_byte"])

    @property
    def accelerator_macs(self) -> float:
        return sum(v for k, v in self.by_kind.items() if k.startswith("mac_"))


def trace_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> dict[nn.Module, LayerShape]:
    """Per-sample shapes of every counted layer, from one forward pass that runs every block."""
    shapes: dict[nn.Module, LayerShape] = {}
    names = {m: n for n, m in model.named_modules()}

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        x = inputs[0]
        per = lambda t: t[0].numel()  # noqa: E731 - elements of one sample
        if isinstance(module, nn.Conv2d):
            k = module.weight[0].numel()
            shapes[module] = LayerShape(names[module], "conv", per(output) * k, per(x), per(output),
                                        module.weight.numel())
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


def count_ops(activities: list[LayerActivity], precision: Precision, updated_params: int) -> OpCounts:
    """Turn what ran into counts by kind; one code path for the trainer and both baselines."""
    counts = OpCounts()
    int8 = precision.forward == "int8"
    act_bytes = 1 if int8 else 4
    w_bytes = 1 if int8 else 4
    err_bytes = 2 if (int8 and precision.input_grad == "int16") else 4
    for act in activities:
        s, name = act.shape, act.shape.name
        if s.kind == "conv":
            fwd = act.samples * s.macs
            counts.macs_forward += fwd
            counts.add(name, "mac_int8" if int8 else "mac_fp32", fwd)
            if act.samples:
                counts.add(name, "dram_byte", s.weight_elems * w_bytes
                           + act.samples * (s.in_elems * act_bytes + s.out_elems * ACC_BYTES))
            if not act.backward_samples:
                continue
            b = act.backward_samples
            if act.input_grad:
                counts.macs_backward_input += b * s.macs
                counts.add(name, "mac_int8x16" if err_bytes == 2 else "mac_fp32", b * s.macs)
                counts.add(name, "dram_byte", s.weight_elems * w_bytes
                           + b * (s.out_elems * err_bytes + s.in_elems * ACC_BYTES))
            if precision.psg:
                predict = act.psg_entries * act.psg_reduction
                full = act.psg_recomputed * act.psg_reduction
                counts.macs_wgrad_predict += predict
                counts.macs_wgrad_full += full
                counts.add(name, "mac_int4x16", predict)
                counts.add(name, "mac_int8x16", full)
                wgrad_out_bytes = 1  # int8 signs
            else:
                counts.macs_wgrad_full += b * s.macs
                counts.add(name, "mac_fp32", b * s.macs)
                wgrad_out_bytes = 4
            counts.add(name, "dram_byte", b * (s.in_elems * act_bytes + s.out_elems * err_bytes)
                       + s.weight_elems * wgrad_out_bytes)
        elif s.kind == "bn":
            counts.add(name, "flop_fp32", act.samples * s.macs * BN_FLOPS_FORWARD
                       + act.backward_samples * s.macs * BN_FLOPS_BACKWARD)
        else:  # linear head, gate projections, LSTM cell: fp32 on the host; backward = input + weight grads
            counts.add(name, "mac_fp32", (act.samples + 2 * act.backward_samples) * s.macs)
    counts.add("optimizer", "flop_fp32", OPTIMIZER_FLOPS_PER_PARAM * updated_params)
    return counts


def full_network_activities(shapes: dict[nn.Module, LayerShape], batch: int, stem: nn.Module) -> list[LayerActivity]:
    """Activity of the plain network (no gates, every block on every sample, no PSG): the baselines."""
    return [LayerActivity(s, batch, batch, input_grad=m is not stem) for m, s in shapes.items() if not s.gate]
