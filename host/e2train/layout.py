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
