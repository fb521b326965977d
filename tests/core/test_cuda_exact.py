"""The exact integer math on a CUDA device returns the same integers as on the CPU (and so as the
kernel reference): TF32 must not touch the float32 paths, the int8 products must stay exact."""

from __future__ import annotations

import pytest
import torch

from e2train import intmath, quant
from e2train.techniques.psg import PsgConfig, psg_conv_weight_grad

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible to torch")]


def _codes(shape: tuple[int, ...], lo: int, hi: int, seed: int) -> torch.Tensor:
    return torch.randint(lo, hi + 1, shape, generator=torch.Generator().manual_seed(seed)).float()


@pytest.mark.parametrize("signed", [False, True])
def test_forward_conv_equals_cpu(signed: bool) -> None:
    x = _codes((16, 32, 16, 16), -127 if signed else 0, 127 if signed else 255, 0)
    w = _codes((32, 32, 3, 3), -127, 127, 1)
    cpu = intmath.conv2d(x, w, 1, 1)
    assert torch.equal(intmath.conv2d(x.cuda(), w.cuda(), 1, 1).cpu(), cpu)


@pytest.mark.parametrize("weight_peak", [2, 20, 127])  # float32 direct, byte split, float64
def test_input_grad_equals_cpu(weight_peak: int) -> None:
    g = _codes((16, 32, 8, 8), -32767, 32767, 2)
    w = _codes((32, 16, 3, 3), -weight_peak, weight_peak, 3)
    shape = torch.Size([16, 16, 16, 16])
    cpu = intmath.conv2d_input_grad(g, w, shape, 2, 1)
    assert torch.equal(intmath.conv2d_input_grad(g.cuda(), w.cuda(), shape, 2, 1).cpu(), cpu)


def test_psg_weight_grad_equals_cpu() -> None:
    x = _codes((32, 16, 16, 16), 0, 255, 4)
    grad_out = torch.randn(32, 32, 16, 16, generator=torch.Generator().manual_seed(5))
    shape = torch.Size([32, 16, 3, 3])
    cfg = PsgConfig(0.05, "rel")
    cpu_signs, cpu_decision, _ = psg_conv_weight_grad(x, False, torch.tensor(0.01), grad_out, shape, 1, 1, cfg)
    signs, decision, _ = psg_conv_weight_grad(x.cuda(), False, torch.tensor(0.01).cuda(), grad_out.cuda(), shape,
                                              1, 1, cfg)
    assert torch.equal(signs.cpu(), cpu_signs)
    assert torch.equal(decision.recompute.cpu(), cpu_decision.recompute)
    assert quant.quantize_gradient(grad_out.cuda()).codes.cpu().equal(quant.quantize_gradient(grad_out).codes)
