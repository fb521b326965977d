"""Layout helpers: a spatial mean whose gradient is a broadcast view gives torch's gradient exactly."""

from __future__ import annotations

import torch

from e2train.layout import spatial_mean


def test_spatial_mean_matches_torch_and_its_gradient_adds_into_a_channels_last_map() -> None:
    """The map also feeds another path (as a block output feeds the next block and its gate): the summed
    gradient equals torch's bit for bit and stays channels-last, and no full-size tensor comes back
    from the mean itself (a stride-0 view)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, 5, 7, 9, generator=gen).contiguous(memory_format=torch.channels_last)
    head = torch.randn(5, 3, generator=gen)
    grads = []
    for mean in (spatial_mean, lambda t: t.mean(dim=(2, 3))):
        leaf = x.clone().requires_grad_()
        (torch.relu(leaf * 2).sum() + (mean(leaf) @ head).square().sum()).backward()
        grads.append(leaf.grad)
    assert torch.equal(spatial_mean(x), x.mean(dim=(2, 3)))
    assert torch.equal(grads[0], grads[1])
    assert grads[0].is_contiguous(memory_format=torch.channels_last)
    leaf = x.clone().requires_grad_()
    (gx,) = torch.autograd.grad(spatial_mean(leaf).sum(), leaf)
    assert gx.stride()[2:] == (0, 0)
