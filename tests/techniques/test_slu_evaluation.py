"""SLU at evaluation: calibrated thresholds run the trained fraction; skipped blocks' outputs keep their sign."""

from __future__ import annotations

import pytest
import torch

from e2train import quant
from e2train.models.resnet import ResNet, build_model
from e2train.nn.qconv import QConv2d
from e2train.techniques.slu import threshold_for_fraction


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.6, 1.0])
def test_threshold_keeps_the_requested_fraction(fraction: float) -> None:
    p = torch.rand(200, generator=torch.Generator().manual_seed(1))
    t = threshold_for_fraction(p, fraction)
    assert float((p > t).float().mean()) == pytest.approx(fraction, abs=1 / 200)


def test_threshold_with_ties_cannot_split_them() -> None:
    p = torch.full((10,), 0.5)
    assert float((p > threshold_for_fraction(p, 1.0)).float().mean()) == 1.0
    assert float((p > threshold_for_fraction(p, 0.0)).float().mean()) == 0.0


def _gated_model(init: float) -> ResNet:
    torch.manual_seed(0)
    model = build_model("resnet14", 10, 1, slu_target=init)
    torch.nn.init.normal_(model.gates.proj.weight, std=1.0)  # gates that depend on the input
    return model


def test_calibrated_rule_runs_the_trained_fraction_where_half_runs_all() -> None:
    model = _gated_model(0.6).eval()
    model.gates.train_fraction.fill_(0.3)
    x = torch.randn(400, 1, 8, 8)
    model.gates.calibrating = True
    model(x[:200])
    model.gates.calibrating = False
    model.gate_rule = "calibrated"
    model(x[200:])
    executed = [m.mean().item() for m in model.last_gates.masks]
    assert all(abs(e - 0.3) < 0.12 for e in executed)  # held-out samples: the same fraction, up to sampling
    model.gate_rule = "half"
    model.gates.proj.bias.data.fill_(5.0)  # every p well above 0.5
    model(x[200:])
    assert all(m.mean().item() == 1.0 for m in model.last_gates.masks)


def test_random_rule_runs_the_trained_fraction_whatever_the_input() -> None:
    """The control for input dependence: the same computation as calibrated, not chosen by p."""
    model = _gated_model(0.6).eval()
    model.gates.train_fraction.copy_(torch.tensor([0.2, 0.5, 0.8, 0.5, 0.5])[: len(model.gates.train_fraction)])
    model.gate_rule = "random"
    model.gate_generator = torch.Generator().manual_seed(3)
    x = torch.randn(2000, 1, 8, 8)
    model(x)
    for k, mask in enumerate(model.last_gates.masks):
        assert mask.mean().item() == pytest.approx(float(model.gates.train_fraction[k]), abs=0.05)
        p = model.last_gates.probabilities[k]
        # not chosen by p: the executed samples' mean p is that of all samples (calibrated would take the top)
        assert p[mask > 0.5].mean().item() == pytest.approx(p.mean().item(), abs=3 * p.std().item() / 20)


def test_evaluation_under_a_drawing_rule_is_repeatable_and_leaves_the_training_generator() -> None:
    from e2train.train.evaluate import evaluate

    class Source:
        def test_batches(self):
            g = torch.Generator().manual_seed(5)
            for _ in range(3):
                yield torch.randn(50, 1, 8, 8, generator=g), torch.randint(0, 10, (50,), generator=g)

    model = _gated_model(0.6)
    training_generator = torch.Generator().manual_seed(9)
    model.gate_generator = training_generator
    macs = [1] * len(model.gates.train_fraction)
    first, second = (evaluate(model, Source(), macs, rule="random") for _ in range(2))
    assert first == second
    assert model.gate_generator is training_generator and model.gate_rule == "calibrated"


def test_training_tracks_each_gates_executed_fraction() -> None:
    model = _gated_model(0.6).train()
    model.gates.proj.bias.data.fill_(-20.0)  # p ~ 0: nothing runs
    for _ in range(200):
        model(torch.randn(8, 1, 8, 8))
    assert torch.all(model.gates.train_fraction < 0.01)


def test_convs_after_a_skippable_downsampling_block_take_signed_inputs() -> None:
    model = build_model("resnet14", 10, 3, slu_target=0.6)  # blocks: 2 per stage, block 2 downsamples
    signed = {name for name, m in model.named_modules() if isinstance(m, QConv2d) and m.input_signed}
    assert "blocks.2.conv1" not in signed  # its input comes from stage 1: post-ReLU or identity
    assert {"blocks.3.conv1", "blocks.4.conv1", "blocks.4.shortcut.0", "blocks.5.conv1"} <= signed
    plain = build_model("resnet14", 10, 3)
    assert [n for n, m in plain.named_modules() if isinstance(m, QConv2d) and m.input_signed] == ["stem"]


def test_a_skipped_downsampling_block_passes_negative_values_unclamped() -> None:
    torch.manual_seed(0)
    model = build_model("resnet14", 10, 3, slu_target=0.6)
    for conv in model.qconvs():
        conv.configure("int8")
    model.gates.proj.bias.data.fill_(-30.0)  # every gate off: every gated block skipped
    model.gate_rule = "half"
    inputs: dict[str, torch.Tensor] = {}
    for name, m in model.named_modules():
        if isinstance(m, QConv2d):
            m.register_forward_pre_hook(lambda mod, args, name=name: inputs.__setitem__(name, args[0].detach()))
    model.train()
    model(torch.randn(4, 3, 16, 16))  # training forward: fresh activation ranges
    model.eval()
    model(torch.randn(4, 3, 16, 16))
    x = inputs["blocks.4.shortcut.0"]  # input of stage 3's down-sampling block, after stage 2's skipped one
    assert (x < 0).float().mean() > 0.2  # the skipped block's BN shortcut output is negative in places
    conv = model.blocks[4].shortcut[0]
    q = quant.quantize_activation(x, conv.running_range, conv.input_signed)
    inside = x.abs() <= conv.running_range
    assert torch.allclose(q.dequantize()[inside], x[inside], atol=float(q.scale) / 2 + 1e-6)  # no clamping to 0
