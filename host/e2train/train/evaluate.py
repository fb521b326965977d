"""Test-set evaluation: accuracy, the executed computation fraction, and how input-dependent the
SLU gates are.

With SLU, the gates decide by the model's evaluation rule (``techniques.slu.EVAL_RULES``); the
``calibrated`` rule first sets each gate's threshold on a fixed calibration batch of training
images, so test time runs the computation level that training ran.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from e2train.data.batches import BatchSource
from e2train.models.resnet import ResNet
from e2train.techniques.slu import DRAWING_RULES, computation_fraction

CALIBRATION_SAMPLES = 512


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    executed_fraction: float  # MAC-weighted fraction of gated-block work run at test time (1.0 without SLU)
    rule: str | None = None  # the gates' evaluation rule (None without SLU)
    # per gated block, the standard deviation of p over the test samples: 0 means the gate ignores its input
    gate_p_std: list[float] = field(default_factory=list)
    gate_executed: list[float] = field(default_factory=list)  # per gated block, fraction of test samples run

    @property
    def mean_gate_p_std(self) -> float | None:
        return sum(self.gate_p_std) / len(self.gate_p_std) if self.gate_p_std else None


@torch.no_grad()
def calibrate_gates(model: ResNet, source: BatchSource, samples: int = CALIBRATION_SAMPLES) -> None:
    """Set the ``calibrated`` rule's thresholds from one fixed batch of training images."""
    x, _ = source.calibration_batch(samples)
    was_training = model.training
    model.eval()
    model.gates.calibrating = True
    try:
        model(x)
    finally:
        model.gates.calibrating = False
        model.train(was_training)


@torch.no_grad()
def evaluate(model: ResNet, source: BatchSource, block_macs: list[int], rule: str | None = None) -> Evaluation:
    """Accuracy on the test set; ``rule`` overrides the model's gate rule for this evaluation."""
    was_training = model.training
    saved_rule, saved_generator = model.gate_rule, model.gate_generator
    model.gate_rule = rule or saved_rule
    if model.gated and model.gate_rule == "calibrated":
        calibrate_gates(model, source)
    if model.gate_rule in DRAWING_RULES:
        model.gate_generator = torch.Generator().manual_seed(0)
    model.eval()
    correct = total = 0
    executed, weights, probabilities, masks = [], [], [], []
    try:
        for x, y in source.test_batches():
            logits = model(x)
            correct += int((logits.argmax(1) == y).sum())
            total += len(y)
            if model.gated:
                executed.append(computation_fraction(model.last_gates, block_macs))
                weights.append(len(y))
                probabilities.append(torch.stack(model.last_gates.probabilities))  # (gates, B)
                masks.append(torch.stack(model.last_gates.masks))
    finally:
        model.gate_rule, model.gate_generator = saved_rule, saved_generator
        model.train(was_training)
    if not model.gated:
        return Evaluation(correct / max(total, 1), 1.0)
    p = torch.cat(probabilities, dim=1)
    frac = sum(e * w for e, w in zip(executed, weights)) / sum(weights)
    return Evaluation(correct / max(total, 1), frac, model.gate_rule if rule is None else rule,
                      p.std(dim=1).tolist(), torch.cat(masks, dim=1).mean(dim=1).tolist())
