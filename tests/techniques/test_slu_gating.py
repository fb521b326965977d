"""SLU: real skipping (gather/scatter) equals masked dense computation; gates and cost term."""

from __future__ import annotations

import pytest
import torch

from e2train.models.resnet import BasicBlock, ResNet
from e2train.techniques.slu import (
    GateRecord,
    computation_fraction,
    slu_cost_loss,
    slu_policy_loss,
    straight_through_mask,
)


def _block(stride: int) -> BasicBlock:
    torch.manual_seed(0)
    block = BasicBlock(4, 8 if stride == 2 else 4, stride)
    block.eval()  # BN from running statistics: the batch's composition does not change the math
    return block


def test_gather_scatter_equals_masked_dense() -> None:
    for stride in (1, 2):
        block = _block(stride)
        x = torch.randn(6, 4, 8, 8)
        mask = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
        out, executed = block.gated(x, mask)
        dense = block(x)  # every sample through the block
        skipped = block.shortcut(x)
        expected = mask.view(-1, 1, 1, 1) * dense + (1 - mask.view(-1, 1, 1, 1)) * skipped
        assert executed == 3
        assert torch.allclose(out, expected, atol=1e-6)


@pytest.mark.parametrize("stride", [1, 2])
def test_gather_scatter_gradients_equal_the_masked_formula_in_channels_last(stride) -> None:
    """The custom gather/scatter functions: numerical gradients (gradcheck) for the input and the mask,
    the task-loss gradient reaches executed samples' gates only, and the output, the gradient entering
    the block's layers and the input gradient stay channels-last (each conv and BatchNorm's fast layout)."""
    block = _block(stride).double()
    x = torch.randn(5, 4, 6, 6, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    mask = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x, m: block.gated(x, m)[0], (x.requires_grad_(), mask.requires_grad_()))
    layouts = []

    def record_layout(module, grad_in, grad_out) -> None:
        layouts.append(grad_out[0].is_contiguous(memory_format=torch.channels_last))

    hook = block.bn2.register_full_backward_hook(record_layout)
    out, _ = block.gated(x, mask)
    assert out.is_contiguous(memory_format=torch.channels_last)
    x.grad = mask.grad = None
    out.backward(torch.randn_like(out))
    hook.remove()
    assert layouts == [True]
    assert x.grad.is_contiguous(memory_format=torch.channels_last)
    assert torch.all(mask.grad[mask == 0] == 0) and torch.all(mask.grad[mask == 1] != 0)


def test_skipped_samples_do_not_run_the_block() -> None:
    block = _block(2)
    block.conv1.stats.reset()
    block.shortcut[0].stats.reset()
    block.gated(torch.randn(5, 4, 8, 8), torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0]))
    assert block.conv1.stats.samples == 2  # only the executed samples
    assert block.shortcut[0].stats.samples == 5  # the down-sampling shortcut runs for all


def test_all_skipped_block_returns_shortcut() -> None:
    block = _block(1)
    x = torch.randn(3, 4, 8, 8)
    out, executed = block.gated(x, torch.zeros(3))
    assert executed == 0 and torch.equal(out, x)


def test_straight_through_mask_is_hard_forward_soft_backward() -> None:
    p = torch.tensor([0.2, 0.9], requires_grad=True)
    m = straight_through_mask(p, torch.Generator().manual_seed(0))
    assert set(m.detach().tolist()) <= {0.0, 1.0}
    m.sum().backward()
    assert torch.equal(p.grad, torch.ones(2))


def test_cost_term_sign_follows_target() -> None:
    masks = [torch.tensor([1.0, 1.0], requires_grad=True), torch.tensor([1.0, 0.0], requires_grad=True)]
    record = GateRecord(masks=masks, executed=[2, 1], batch=2)
    macs = [100, 300]
    assert computation_fraction(record, macs) == (2 * 100 + 1 * 300) / (2 * 400)
    slu_cost_loss(record, macs, target=0.5, beta=1.0).backward()  # 62.5 % > 50 %: push down
    assert masks[1].grad[0] > 0 and masks[1].grad[0] == 3 * masks[0].grad[0]  # weighted by MACs
    low = [m.detach().requires_grad_() for m in masks]
    slu_cost_loss(GateRecord(low, [2, 1], 2), macs, target=0.9, beta=1.0).backward()
    assert low[0].grad[0] < 0  # below target: push up


def test_policy_term_makes_a_worse_than_average_samples_decisions_less_likely() -> None:
    """REINFORCE with the batch mean as baseline: descent lowers the probability of the decisions taken
    for samples whose loss is above the mean (run or skip alike) and raises it below the mean."""
    p = torch.tensor([0.6, 0.6, 0.3, 0.3], requires_grad=True)
    masks = [torch.tensor([1.0, 1.0, 0.0, 0.0])]
    losses = torch.tensor([2.0, 0.0, 2.0, 0.0])  # samples 0, 2 worse than the mean, 1, 3 better
    slu_policy_loss(GateRecord(masks=masks, probabilities=[p], batch=4), losses, coef=1.0).backward()
    step = -p.grad  # gradient descent's direction for p
    assert step[0] < 0 and step[1] > 0  # ran: worse -> run less often, better -> more often
    assert step[2] > 0 and step[3] < 0  # skipped: worse -> run more often, better -> skip more often
    expected = torch.tensor([1 / 0.6, -1 / 0.6, -1 / 0.7, 1 / 0.7]) / 4  # (l_i - mean) d log pi / dp / B
    assert torch.allclose(p.grad, expected)


def test_policy_term_is_zero_when_every_sample_does_equally_well() -> None:
    p = torch.tensor([0.2, 0.9], requires_grad=True)
    loss = slu_policy_loss(GateRecord(masks=[torch.tensor([0.0, 1.0])], probabilities=[p], batch=2),
                           torch.tensor([0.7, 0.7]), coef=3.0)
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.all(p.grad == 0)


def test_evaluation_gates_are_deterministic() -> None:
    torch.manual_seed(0)
    model = ResNet(2, 10, 1, gated=True).eval()
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        a = model(x)
        b = model(x)
    assert torch.equal(a, b)


def test_batchnorm_statistics_come_from_executed_samples_only() -> None:
    torch.manual_seed(0)
    block = BasicBlock(4, 4, 1).train()
    block.bn1.momentum = 1.0  # running stats = this batch's stats
    x = torch.randn(4, 4, 8, 8)
    x[1] += 1000.0  # a skipped sample with extreme activations
    block.gated(x, torch.tensor([1.0, 0.0, 1.0, 1.0]))
    reference = BasicBlock(4, 4, 1).train()
    reference.load_state_dict({k: v for k, v in block.state_dict().items() if "running" not in k
                               and "num_batches" not in k}, strict=False)
    reference.bn1.momentum = 1.0
    reference.residual(x[[0, 2, 3]])
    assert torch.allclose(block.bn1.running_mean, reference.bn1.running_mean, atol=1e-5)
