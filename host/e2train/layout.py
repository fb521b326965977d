"""Memory layouts of activation tensors: the trainer runs channels-last (see ``models.resnet``), and
the exact integer paths must follow that layout instead of copying it away."""

from __future__ import annotations

import torch


def memory_format_of(t: torch.Tensor) -> torch.memory_format:
    """channels-last for a 4-D tensor stored that way, the standard layout otherwise."""
    if t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def flat_view(t: torch.Tensor) -> torch.Tensor:
    """All elements as one dimension in storage order: a view (no copy) for a dense tensor of either
    layout, for reductions whose result does not depend on the order (min, max, exact integer sums)."""
    if memory_format_of(t) == torch.channels_last:
        return t.permute(0, 2, 3, 1).reshape(-1)
    return t.reshape(-1)


class _SpatialMean(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.shape = x.shape
        return x.mean(dim=(2, 3))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = ctx.shape
        return (grad / (height * width)).view(batch, channels, 1, 1).expand(ctx.shape)


def spatial_mean(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C) mean over the map, whose gradient is a broadcast view of (B, C) values.

    torch's mean materialises its gradient: a pass dividing a full-size tensor and a full-size
    allocation, for every SLU gate reading a block's output. The values are the same (each element is
    ``grad / (H W)``); only the broadcast is left to the sum that adds it to the map's other gradient."""
    return _SpatialMean.apply(x)
