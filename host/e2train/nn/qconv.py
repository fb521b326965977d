"""Conv2d with an 8-bit integer forward pass and a choice of backward passes.

``precision="fp32"`` is an ordinary conv (the fp32 baseline).  ``precision="int8"`` quantizes
weights and activations (``e2train.quant``), convolves the integer codes exactly and scales back
in floating point.  Backward: the input gradient uses either the fp32 error with the 8-bit weights
(as the original E2-Train code) or 16-bit error codes (as the hardware path); the weight gradient is
either full precision (8-bit baseline) or PSG signs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn as nn
import torch.nn.functional as F

from e2train import intmath, quant
from e2train.techniques.psg import PsgConfig, PsgDecision, psg_conv_weight_grad

PRECISIONS = ("fp32", "int8")
INPUT_GRAD_MODES = ("fp32", "int16")


@dataclass
class ConvStats:
    """What one conv did in the current iteration: the energy accounting reads it."""

    samples: int = 0  # samples through the forward pass (SLU skips reduce it)
    psg_entries: int = 0  # weight-gradient entries decided by PSG (N * K)
    psg_recomputed: int = 0  # of which the hardware kernel recomputes at full precision (per entry)
    psg_computed_full: int = 0  # entries the implementation that ran computed at full precision
    psg_reduction: int = 0  # P, the reduction length of each entry
    psg_masks: list[torch.Tensor] = field(default_factory=list)  # (N, K) recompute decisions, one per run

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


class ConvKernels(Protocol):
    """Where the integer math of a conv runs: the seam between the trainer and a backend.

    Every implementation returns exactly the same integers (the contract of
    ``e2train.kernels.reference``); ``TorchKernels`` is the fast software path, device backends
    run the same calls through the accelerator drivers.
    """

    def forward(self, x_codes: torch.Tensor, w_codes: torch.Tensor, stride: int, padding: int,
                x_signed: bool) -> torch.Tensor: ...

    def input_grad(self, g_codes: torch.Tensor, w_codes: torch.Tensor, input_shape: torch.Size, stride: int,
                   padding: int) -> torch.Tensor: ...

    def wgrad_psg(self, x_codes: torch.Tensor, x_signed: bool, x_scale: torch.Tensor, grad_out: torch.Tensor,
                  weight_shape: torch.Size, stride: int, padding: int,
                  cfg: PsgConfig) -> tuple[torch.Tensor, PsgDecision, int]: ...


class TorchKernels:
    """Exact integer math with torch (float32 where provably exact, int8 limbs, float64)."""

    def forward(self, x_codes, w_codes, stride, padding, x_signed):
        return intmath.conv2d(x_codes, w_codes, stride, padding, x_signed)

    def input_grad(self, g_codes, w_codes, input_shape, stride, padding):
        return intmath.conv2d_input_grad(g_codes, w_codes, input_shape, stride, padding)

    def wgrad_psg(self, x_codes, x_signed, x_scale, grad_out, weight_shape, stride, padding, cfg):
        return psg_conv_weight_grad(x_codes, x_signed, x_scale, grad_out, weight_shape, stride, padding, cfg)


TORCH_KERNELS = TorchKernels()


class _Int8Conv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, act_range: torch.Tensor, layer: QConv2d):
        qx = quant.quantize_activation(x, act_range, layer.input_signed)
        qw = quant.quantize_weight(weight)
        acc = layer.kernels.forward(qx.codes, qw.codes, layer.stride[0], layer.padding[0],
                                    layer.input_signed)  # (B, Cout, Ho, Wo)
        scale = qw.scale.view(1, -1, 1, 1).to(acc.dtype) * qx.scale.to(acc.dtype)
        ctx.save_for_backward(qx.codes, qx.scale, qw.codes, qw.scale)
        ctx.layer = layer
        ctx.input_shape = x.shape
        # Written into a channels-last tensor in the same pass: backends return either layout, and the
        # layers after this one must see the same layout (and so sum in the same order) on every backend.
        out = torch.empty(acc.shape, dtype=x.dtype, device=acc.device, memory_format=torch.channels_last)
        return torch.mul(acc, scale, out=out)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        x_codes, x_scale, w_codes, w_scale = ctx.saved_tensors
        layer: QConv2d = ctx.layer
        stride, padding = layer.stride[0], layer.padding[0]
        stats = layer.stats
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            if layer.input_grad == "int16":
                # Fold the per-channel weight scales into the error so one integer code set remains.
                qg = quant.quantize_gradient(grad_out * w_scale.view(1, -1, 1, 1))
                acc = layer.kernels.input_grad(qg.codes, w_codes, ctx.input_shape, stride, padding)
                # channels-last on every backend, as the forward's output (computed in acc's type, then cast)
                grad_x = torch.mul(acc, qg.scale.to(acc.dtype), out=torch.empty(
                    ctx.input_shape, dtype=grad_out.dtype, device=acc.device, memory_format=torch.channels_last))
            else:
                grad_x = intmath.conv2d_input_float(ctx.input_shape, w_codes * w_scale, grad_out, stride, padding)
        if ctx.needs_input_grad[1]:
            if layer.psg is None:
                grad_w = torch.nn.grad.conv2d_weight(x_codes * x_scale, w_codes.shape, grad_out,
                                                     stride=stride, padding=padding)
            else:
                grad_w, decision, reduction = layer.kernels.wgrad_psg(
                    x_codes, layer.input_signed, x_scale, grad_out, w_codes.shape, stride, padding, layer.psg)
                stats.psg_entries += decision.recompute.numel()
                stats.psg_recomputed += int(decision.recompute.sum())
                stats.psg_computed_full += decision.computed_full
                stats.psg_masks.append(decision.recompute)
                stats.psg_reduction = reduction
        return grad_x, grad_w, None, None


class QConv2d(nn.Conv2d):
    """A bias-free square conv whose arithmetic precision is a setting, not a different class."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, *, input_signed: bool = False):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.input_signed = input_signed  # False: the input is post-ReLU, so codes are unsigned
        self.precision = "fp32"
        self.input_grad = "fp32"
        self.psg: PsgConfig | None = None
        self.kernels: ConvKernels = TORCH_KERNELS
        self.range_momentum = 0.1
        self.register_buffer("running_range", torch.zeros(()))
        self.stats = ConvStats()

    def configure(self, precision: str, input_grad: str = "fp32", psg: PsgConfig | None = None) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r}; allowed: {', '.join(PRECISIONS)}")
        if input_grad not in INPUT_GRAD_MODES:
            raise ValueError(f"input gradient {input_grad!r}; allowed: {', '.join(INPUT_GRAD_MODES)}")
        if psg is not None and precision != "int8":
            raise ValueError("PSG predicts from 8-bit activation codes: it needs precision int8")
        self.precision, self.input_grad, self.psg = precision, input_grad, psg

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.stats.samples += x.shape[0]
        if self.precision == "fp32":
            return F.conv2d(x, self.weight, stride=self.stride, padding=self.padding)
        if self.training:
            act_range = quant.activation_range(x)
            with torch.no_grad():
                first = bool(self.running_range == 0)
                self.running_range.lerp_(act_range, 1.0 if first else self.range_momentum)
        else:
            act_range = self.running_range
        return _Int8Conv.apply(x, self.weight, act_range, self)
