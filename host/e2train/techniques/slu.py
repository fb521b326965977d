"""Selective layer update (SLU): learned per-sample gates that skip residual blocks.

Gate (ALGORITHMS.md 1.2): block output -> global average pool -> 1x1 conv C->10 (one per gated
block, since C differs) -> one LSTM cell 10->10 shared by all blocks, state reset every forward ->
linear 10->1 -> sigmoid.  Training samples a hard Bernoulli decision with a straight-through
gradient.

Evaluation rules (``EVAL_RULES``), because a deterministic rule must not silently change how much
of the network runs:
- ``calibrated`` (default): gate k runs a sample when ``p > t_k``; ``t_k`` is set on a fixed
  calibration batch of training images so that gate k executes the fraction of samples it
  executed in training (an exponential average kept in the model).  Test time then runs the
  computation level that was trained, and the samples each gate keeps are those it rates highest.
- ``half``: ``p > 0.5`` (the previous rule; with gates near 0.5 it runs every block or none).
- ``sample``: a Bernoulli draw as in training (the original code; test accuracy becomes random).
- ``random``: gate k runs a sample with the probability of its trained fraction, whatever the input:
  the control for the learned choice.  ``calibrated`` and ``random`` run the same computation, so
  the accuracy between them is what the gates' input dependence is worth.

Optional policy-gradient term (``slu_policy_coef``, off by default): the straight-through gradient
reaches a gate only through executed samples, and as the training loss falls it fades, while the
cost term pushes every sample alike, so the gates drift toward input-independence.  REINFORCE on
each sample's own loss (BlockDrop; SkipNet's hybrid RL) gives every sample's gates a signal: the
decisions of samples whose loss is above the batch mean become less likely, those below more.

Project choices: the cost regularizer weights each block by its real MAC count (normalised to a
mean of 1, so ``beta`` keeps the original scale); skipped samples are really skipped (gather the
executed ones, run the block, scatter back), so BatchNorm statistics come from executed samples only
and a skipped sample's gate gets no task-loss gradient (F(x) was never computed): only the cost
term (and the policy term, when on) reaches it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from e2train.layout import spatial_mean

GATE_HIDDEN = 10
EVAL_RULES = ("calibrated", "half", "sample", "random")
DRAWING_RULES = ("sample", "random")  # rules that draw at random: evaluation seeds them so that it repeats
TRAIN_FRACTION_MOMENTUM = 0.05  # exponential average of each gate's executed fraction in training


class GateNetwork(nn.Module):
    """One gate per gated block, sharing the LSTM cell and the output projection."""

    def __init__(self, channels: list[int], init_probability: float = 0.9):
        super().__init__()
        self.embed = nn.ModuleList(nn.Linear(c, GATE_HIDDEN) for c in channels)  # == 1x1 conv on the pooled map
        self.cell = nn.LSTMCell(GATE_HIDDEN, GATE_HIDDEN)
        self.proj = nn.Linear(GATE_HIDDEN, 1)
        # Start every gate at the target probability: the cost term then holds the computation
        # fraction instead of first having to drag it down from "everything on".
        nn.init.zeros_(self.proj.weight)
        nn.init.constant_(self.proj.bias, math.log(init_probability / (1 - init_probability)))
        self.state: tuple[torch.Tensor, torch.Tensor] | None = None
        self.register_buffer("train_fraction", torch.full((len(channels),), float(init_probability)))
        self.register_buffer("thresholds", torch.full((len(channels),), 0.5))
        self.calibrating = False  # set by calibrate_gates: eval masks then set the thresholds

    def reset(self) -> None:
        self.state = None

    def forward(self, index: int, features: torch.Tensor) -> torch.Tensor:
        """Probability (B,) that gated block ``index`` runs, from the previous block's output."""
        pooled = spatial_mean(features)  # (B, C)
        h, c = self.cell(self.embed[index](pooled), self.state)
        self.state = (h, c)
        return torch.sigmoid(self.proj(h)).squeeze(1)  # (B,)


    @torch.no_grad()
    def record_training(self, index: int, mask: torch.Tensor) -> None:
        """Fold one training batch's executed fraction of gate ``index`` into its running average."""
        if mask.numel():
            self.train_fraction[index].lerp_((mask.detach() > 0.5).float().mean(), TRAIN_FRACTION_MOMENTUM)

    def eval_mask(self, index: int, p: torch.Tensor, rule: str, generator: torch.Generator | None) -> torch.Tensor:
        """Hard decisions (B,) at evaluation under ``rule``; while calibrating, also sets ``t_k``."""
        if rule == "sample":
            return (p > uniform_like(p, generator)).to(p.dtype)
        if rule == "half":
            return (p > 0.5).to(p.dtype)
        if rule == "random":
            return (uniform_like(p, generator) < self.train_fraction[index]).to(p.dtype)
        if self.calibrating:
            self.thresholds[index] = threshold_for_fraction(p, float(self.train_fraction[index]))
        return (p > self.thresholds[index]).to(p.dtype)


def threshold_for_fraction(p: torch.Tensor, fraction: float) -> float:
    """A threshold t with ``mean(p > t)`` as close to ``fraction`` as the values of p allow.

    Midway between the sorted neighbours at the cut, so that samples near the boundary at test
    time fall on the side the calibration batch would put them.
    """
    values = p.detach().flatten().sort(descending=True).values
    keep = round(fraction * values.numel())
    if keep <= 0:
        return float(values[0]) if values.numel() else 1.0
    if keep >= values.numel():
        return float(values[-1]) - 1e-6
    return float((values[keep - 1] + values[keep]) / 2)


def uniform_like(p: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """U(0, 1) of p's shape on p's device, drawn on the CPU so that a seeded generator gives the same
    decisions on every device."""
    return torch.rand(p.shape, generator=generator, device="cpu").to(p.device)


def straight_through_mask(p: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Hard Bernoulli(p) sample in the forward pass, gradient of p in the backward pass."""
    hard = (p.detach() > uniform_like(p, generator)).to(p.dtype)
    return hard - p.detach() + p


@dataclass
class GateRecord:
    """Per-forward gate decisions, for the cost term and the energy accounting."""

    masks: list[torch.Tensor] = field(default_factory=list)  # per gated block, (B,) STE masks
    executed: list[int] = field(default_factory=list)  # executed samples per gated block
    batch: int = 0
    probabilities: list[torch.Tensor] = field(default_factory=list)  # per gated block, (B,) p, not detached


def computation_fraction(record: GateRecord, block_macs: list[int]) -> float:
    """MAC-weighted fraction of gated-block work that ran."""
    total = sum(block_macs) * record.batch
    return sum(n * m for n, m in zip(record.executed, block_macs)) / total if total else 1.0


def slu_cost_loss(record: GateRecord, block_macs: list[int], target: float, beta: float) -> torch.Tensor:
    """``beta * s * E``: E the MAC-weighted executed (sample, block) count, s = +1 above target, -1 below."""
    mean_macs = sum(block_macs) / len(block_macs)
    cost = sum(m.sum() * (macs / mean_macs) for m, macs in zip(record.masks, block_macs))
    sign = 1.0 if computation_fraction(record, block_macs) > target else -1.0
    return beta * sign * cost  # type: ignore[return-value]


def slu_policy_loss(record: GateRecord, sample_losses: torch.Tensor, coef: float) -> torch.Tensor:
    """``coef * mean_i[(l_i - mean l) * sum_k log pi(a_ik | x_i)]``: REINFORCE with the batch mean as
    baseline, each sample rewarded by its own (detached) loss, over every gate's sampled decision."""
    advantage = (sample_losses - sample_losses.mean()).detach()
    log_prob = sum(torch.where(m.detach() > 0.5, p.clamp_min(1e-6).log(), (1 - p).clamp_min(1e-6).log())
                   for m, p in zip(record.masks, record.probabilities, strict=True))
    return coef * (advantage * log_prob).mean()  # type: ignore[union-attr]
