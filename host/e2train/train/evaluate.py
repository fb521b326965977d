"""Test-set evaluation with deterministic gates (p > 0.5) and the executed computation fraction."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from e2train.data.batches import BatchSource
from e2train.models.resnet import ResNet
from e2train.techniques.slu import computation_fraction


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    executed_fraction: float  # MAC-weighted fraction of gated-block work run at test time (1.0 without SLU)


@torch.no_grad()
def evaluate(model: ResNet, source: BatchSource, block_macs: list[int]) -> Evaluation:
    was_training = model.training
    model.eval()
    correct = total = 0
    executed = []
    weights = []
    for x, y in source.test_batches():
        logits = model(x)
        correct += int((logits.argmax(1) == y).sum())
        total += len(y)
        if model.gated:
            executed.append(computation_fraction(model.last_gates, block_macs))
            weights.append(len(y))
    model.train(was_training)
    frac = sum(e * w for e, w in zip(executed, weights)) / sum(weights) if weights else 1.0
    return Evaluation(correct / max(total, 1), frac)
