"""The learning-rate schedules: the paper's steps, and one-cycle for short budgets (a function of the
iteration alone, so that a resumed run stays on the curve)."""

from __future__ import annotations

import pytest

from e2train.config import ConfigError, TrainConfig, resolve_config
from e2train.energy.trace import read_trace
from e2train.train.loop import ONECYCLE_START, ONECYCLE_WARMUP, Trainer, lr_factor


def test_step_divides_by_ten_at_each_milestone() -> None:
    factors = [lr_factor(i, 100, (0.5, 0.75)) for i in (0, 49, 50, 74, 75, 99)]
    assert factors == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])


def test_onecycle_rises_to_the_peak_then_falls_to_zero() -> None:
    total = 1000
    factors = [lr_factor(i, total, (0.5, 0.75), "onecycle") for i in range(total)]
    peak = round(ONECYCLE_WARMUP * total)
    assert factors[0] == pytest.approx(ONECYCLE_START) and factors[peak] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(factors[:peak], factors[1:peak + 1], strict=True))  # rising
    assert all(a > b for a, b in zip(factors[peak:], factors[peak + 1:], strict=False))  # falling
    assert 0 < factors[-1] < 0.01 and max(factors) == pytest.approx(1.0)


def test_an_unknown_schedule_is_refused_with_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match="lr_schedule='cosine'.*step, onecycle"):
        TrainConfig(lr_schedule="cosine").validate()


def test_the_trainer_follows_the_schedule(tmp_path) -> None:
    """Each trace row's lr is cfg.lr times the schedule's factor at that iteration."""
    cfg = resolve_config("quickstart", overrides={"model": "resnet8", "batch_size": 32, "epochs": None, "iters": 10,
                                                  "lr": 0.2, "lr_schedule": "onecycle", "out": str(tmp_path / "r")})
    Trainer(cfg, tmp_path / "r").run()
    trace = read_trace(tmp_path / "r")
    want = [0.2 * lr_factor(i, 10, cfg.lr_milestones, "onecycle") for i in trace["iteration"]]
    assert trace["lr"].tolist() == pytest.approx(want) and len(want) == 10
