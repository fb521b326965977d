"""CIFAR ResNets of BasicBlocks (He et al. 2016), widths 16/32/64 (one wide variant), optional SLU gates.

Down-sampling shortcuts are 1x1 stride-2 conv + BN (they keep running when their block is skipped).
All convs are ``QConv2d``, so one model class serves the fp32 baseline, the 8-bit baseline and PSG.

Signedness of conv inputs: a block's output is post-ReLU, except for a sample whose gated block
was skipped: it leaves as the shortcut's output, which after a down-sampling shortcut is a BN
output with negative entries, and identity shortcuts carry it on to every later block.  Convs that
can see such inputs quantize them as signed codes (one bit less of resolution, no clamping of the
negative part); the others keep unsigned codes.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from e2train.layout import spatial_mean
from e2train.nn.qconv import QConv2d
from e2train.techniques.slu import GateNetwork, GateRecord, straight_through_mask

# name -> (blocks per stage n, depth 6n+2)
MODELS = {"resnet8": 1, "resnet14": 2, "resnet20": 3, "resnet38": 6, "resnet74": 12, "resnet110": 18, "wrn28-10": 4}
BASE_WIDTHS = (16, 32, 64)
# Wide ResNet 28-10's layout (Zagoruyko & Komodakis 2016: n = 4, widths x 10; 25 3x3 convs, 2 shortcut
# convs and the classifier make 28) for the orthogonality paper's CIFAR runs, built from this file's
# post-activation blocks without dropout: the same size (about 36.6 M parameters), not the same network.
WIDTHS = {"wrn28-10": (160, 320, 640)}


# Gather and merge of the executed samples, as autograd functions so that both directions stay
# channels-last: index_select returns the standard layout, which made every gradient of a gated block's
# layers arrive in the other layout (a reorder in each conv and BatchNorm backward, slow elementwise
# kernels); and indexing backpropagates through an accumulating scatter, which distinct indices do not need.
#
# The base's gradient is assembled once: the merge's backward hands its copy of the output gradient (the
# skipped rows' gradient) to the backward of the gather that cut the base rows, which writes the executed
# rows into it.  Otherwise the merge returned a full-size gradient for the base and the gather another, mostly
# zeros, and autograd added the two: three full-size passes more per block, on a CPU as long as the
# block's smaller convolutions.


def _select_samples(t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return t.permute(0, 2, 3, 1).index_select(0, index).permute(0, 3, 1, 2)  # (B, H, W, C) rows: channels-last


def _sample_dots(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B,) dot products of each sample's values, read in the channels-last order without a product tensor
    (``vecdot``: a fifth of the time of a batched (1 x n) @ (n x 1) matrix product on CPU, measured)."""
    rows = a.shape[0]
    return torch.linalg.vecdot(a.permute(0, 2, 3, 1).reshape(rows, -1), b.permute(0, 2, 3, 1).reshape(rows, -1))


class _BaseGradient:
    """The hand-over between a merge's backward and its base gather's backward (one per gated forward)."""

    def __init__(self) -> None:
        self.grad: torch.Tensor | None = None


class _GatherSamples(torch.autograd.Function):
    """``t[index]`` for distinct indices; with a hand-over, ``t`` is the merged block's base."""

    @staticmethod
    def forward(ctx, t: torch.Tensor, index: torch.Tensor, handover: _BaseGradient | None) -> torch.Tensor:
        ctx.save_for_backward(index)
        ctx.shape = t.shape
        ctx.handover = handover
        return _select_samples(t, index)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (index,) = ctx.saved_tensors
        handover: _BaseGradient | None = ctx.handover
        if handover is not None and handover.grad is not None:
            grad_t, handover.grad = handover.grad, None  # the skipped rows' gradient; the executed ones follow
        else:
            grad_t = torch.empty(ctx.shape, dtype=grad.dtype, device=grad.device,
                                 memory_format=torch.channels_last).zero_()
        return grad_t.index_copy_(0, index, grad), None, None


class _MergeExecuted(torch.autograd.Function):
    """``base`` with rows ``index`` replaced by ``m * out + (1 - m) * base_rows``: a gated block's
    straight-through mix and its scatter in one step (distinct indices).

    An executed sample's gate is exactly 1 in the forward pass (``straight_through_mask``'s
    ``(1 - p) + p`` rounds to 1 for every p in [0, 1]), so the rows are ``out`` itself: no mixing pass
    in the forward, and the gate's gradient is two per-sample dot products. Other gate values (a
    numerical gradient check) take the formula.  The base's gradient leaves through ``handover`` (to the
    gather of ``base_rows``), not as this function's gradient of ``base``.  ``in_place``: nothing else keeps
    ``base``, so the rows are written into it (no full-size copy).
    """

    @staticmethod
    def forward(ctx, base: torch.Tensor, index: torch.Tensor, out: torch.Tensor, base_rows: torch.Tensor,
                m: torch.Tensor, handover: _BaseGradient, in_place: bool) -> torch.Tensor:
        ctx.save_for_backward(index, out, base_rows, m)
        ctx.gates_are_one = bool(torch.all(m == 1))
        ctx.handover = handover
        w = m.view(-1, 1, 1, 1)
        rows = out if ctx.gates_are_one else w * out + (1 - w) * base_rows
        if in_place:
            ctx.mark_dirty(base)
            return base.index_copy_(0, index, rows)
        return base.clone().index_copy_(0, index, rows)  # clone keeps base's layout

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        index, out, base_rows, m = ctx.saved_tensors
        grad_rows = _select_samples(grad, index)
        w = m.view(-1, 1, 1, 1)
        ctx.handover.grad = grad.clone()  # its executed rows are overwritten by the base gather's backward
        grad_out = grad_rows if ctx.gates_are_one else grad_rows * w
        # base_rows also feeds the block's sum, so its gather's backward runs (and collects the hand-over) after
        # this one whatever is returned here
        grad_base_rows = None if ctx.gates_are_one else grad_rows * (1 - w)
        grad_m = None
        if ctx.needs_input_grad[4]:  # sum over a sample of grad * (out - base): two per-sample dot products
            grad_m = _sample_dots(grad_rows, out).sub_(_sample_dots(grad_rows, base_rows))
        return None, None, grad_out, grad_base_rows, grad_m, None, None


class BasicBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.conv1 = QConv2d(in_ch, out_ch, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = QConv2d(out_ch, out_ch, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(QConv2d(in_ch, out_ch, 1, stride, 0), nn.BatchNorm2d(out_ch))

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.residual(x) + self.shortcut(x))

    @property
    def downsamples(self) -> bool:
        return not isinstance(self.shortcut, nn.Identity)

    def input_convs(self) -> list[QConv2d]:
        """The convs that read the block's input (its first conv and a down-sampling shortcut's)."""
        return [self.conv1] + [m for m in self.shortcut.modules() if isinstance(m, QConv2d)]

    def gated(self, x: torch.Tensor, mask: torch.Tensor, x_owned: bool = False) -> tuple[torch.Tensor, int]:
        """``m * F(x) + (1 - m) * shortcut(x)`` computing F only for samples with m = 1.

        ``x_owned``: no autograd node keeps x (the output of an earlier merge), so an identity block writes its
        executed rows into x instead of a copy; a down-sampling shortcut's BatchNorm output is always its own.
        """
        base = self.shortcut(x)  # runs for every sample, skipped or not
        executed = (mask.detach() > 0.5).nonzero().flatten()
        if executed.numel() == 0:
            return base, 0
        handover = _BaseGradient()
        x_exec = _GatherSamples.apply(x, executed, handover if base is x else None)
        base_exec = x_exec if base is x else _GatherSamples.apply(base, executed, handover)  # identity: same rows
        out_exec = F.relu(self.residual(x_exec) + base_exec)
        in_place = base is not x or x_owned
        merged = _MergeExecuted.apply(base, executed, out_exec, base_exec, mask[executed], handover, in_place)
        return merged, executed.numel()


class ResNet(nn.Module):
    def __init__(self, blocks_per_stage: int, num_classes: int = 10, in_channels: int = 3,
                 widths: tuple[int, ...] = BASE_WIDTHS, gated: bool = False, gate_init: float = 0.9):
        super().__init__()
        self.stem = QConv2d(in_channels, widths[0], 3, 1, 1, input_signed=True)  # normalised image: signed
        self.stem_bn = nn.BatchNorm2d(widths[0])
        blocks = []
        in_ch = widths[0]
        for stage, width in enumerate(widths):
            for i in range(blocks_per_stage):
                blocks.append(BasicBlock(in_ch, width, 2 if stage > 0 and i == 0 else 1))
                in_ch = width
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(in_ch, num_classes)  # stays fp32, as in the original
        # The first block always runs; gate k decides block k+1 from block k's output.
        self.gates = GateNetwork([b.conv2.out_channels for b in blocks[:-1]], gate_init) if gated else None
        if gated:
            self._sign_inputs_after_skippable_downsampling()
        self.gate_generator: torch.Generator | None = None
        self.gate_rule = "calibrated"  # how gates decide at evaluation: see techniques.slu.EVAL_RULES
        self.last_gates = GateRecord()
        # Activations run channels-last: oneDNN's float and int8 convolutions take that layout without
        # a reorder (2-3x faster for 16-channel layers on CPU), and the int8 path writes its outputs in it.
        self.memory_format = torch.channels_last
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @property
    def gated(self) -> bool:
        return self.gates is not None

    def _sign_inputs_after_skippable_downsampling(self) -> None:
        """Signed codes for every block input that a skipped down-sampling block can make negative."""
        negative_possible = False
        for k, block in enumerate(self.blocks):
            if negative_possible:
                for conv in block.input_convs():
                    conv.input_signed = True
            negative_possible = negative_possible or (k > 0 and block.downsamples)  # block 0 always runs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W) normalised image
        x = F.relu(self.stem_bn(self.stem(x.contiguous(memory_format=self.memory_format))))
        record = GateRecord(batch=x.shape[0])
        if self.gates is not None:
            self.gates.reset()
        owned = False  # block 0's output is a ReLU's, which the ReLU's backward keeps
        for k, block in enumerate(self.blocks):
            if self.gates is None or k == 0:
                x = block(x)
                continue
            p = self.gates(k - 1, x)  # (B,)
            if self.training:
                mask = straight_through_mask(p, self.gate_generator)
                self.gates.record_training(k - 1, mask)
            else:
                mask = self.gates.eval_mask(k - 1, p, self.gate_rule, self.gate_generator)
            x, executed = block.gated(x, mask, x_owned=owned)
            owned = owned or executed > 0 or block.downsamples  # a merge's or a shortcut's output from here on
            record.masks.append(mask)
            record.probabilities.append(p)  # with its graph: the policy-gradient term trains through it
            record.executed.append(executed)
        self.last_gates = record
        return self.head(spatial_mean(x))  # (B, classes)

    def qconvs(self) -> list[QConv2d]:
        return [m for m in self.modules() if isinstance(m, QConv2d)]


def build_model(name: str, num_classes: int, in_channels: int, slu_target: float | None = None) -> ResNet:
    """A CIFAR ResNet; with an SLU target it is gated, each gate starting at that probability."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; allowed: {', '.join(MODELS)}")
    gate_init = min(max(slu_target or 0.9, 0.05), 0.95)  # keep the initial logit finite
    return ResNet(MODELS[name], num_classes, in_channels, widths=WIDTHS.get(name, BASE_WIDTHS),
                  gated=slu_target is not None, gate_init=gate_init)
