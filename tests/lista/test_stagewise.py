"""Stage-wise training: a trained LISTA-CP beats ISTA at equal depth; a resumed run equals an uninterrupted one."""

from __future__ import annotations

import pytest
import torch
from lista_tiny import tiny_config

from e2train.lista.baselines import ista
from e2train.lista.metrics import nmse_db
from e2train.lista.models import build_model
from e2train.lista.problem import make_problem
from e2train.lista.stagewise import StagewiseTrainer
from e2train.train.checkpoint import CheckpointError


@pytest.mark.parametrize("method", ["lista-cp", "lista-cpss"])
def test_trained_network_beats_ista_at_equal_depth(tmp_path, method: str) -> None:
    cfg = tiny_config(methods=(method,), lr=2e-3, max_steps=80, patience_steps=30)
    problem = make_problem(cfg)
    model = build_model(method, problem.a, cfg)
    result = StagewiseTrainer(method, model, problem, cfg, tmp_path).run()
    assert result.done and len(result.stages) == 3 * cfg.layers
    with torch.no_grad():
        learned = nmse_db(model(problem.test_b)[-1], problem.test_x)
    baseline = nmse_db(list(ista(problem.a, problem.test_b, cfg.lam, cfg.layers))[-1], problem.test_x)
    assert learned < baseline - 1.0  # at least 1 dB better on the held-out test set


def test_patience_ends_a_stage_before_the_cap(tmp_path) -> None:
    cfg = tiny_config(methods=("lista-cp",), layers=1, lr=1e-12, patience_steps=10, max_steps=1000)
    problem = make_problem(cfg)
    result = StagewiseTrainer("lista-cp", build_model("lista-cp", problem.a, cfg), problem, cfg, tmp_path).run()
    assert [s.steps for s in result.stages] == [10, 10, 10]  # a tiny lr never improves validation


def _train(cfg, folder, stop_at: int | None = None, resume: bool = False):  # noqa: ANN001, ANN202
    problem = make_problem(cfg)
    model = build_model("lista-cpss", problem.a, cfg)
    trainer = StagewiseTrainer("lista-cpss", model, problem, cfg, folder, resume=resume,
                               should_stop=(lambda: trainer.pos.global_step >= stop_at) if stop_at else None)
    return model, trainer.run()


def test_resume_equals_an_uninterrupted_run(tmp_path) -> None:
    cfg = tiny_config(methods=("lista-cpss",))
    whole, whole_result = _train(cfg, tmp_path / "whole")
    stops = (23, 61, 95)  # mid-stage (between checkpoints), mid-stage, another layer
    for stop in stops:
        _, partial = _train(cfg, tmp_path / "cut", stop_at=stop, resume=stop != stops[0])
        assert not partial.done and partial.global_steps == stop
    resumed, result = _train(cfg, tmp_path / "cut", resume=True)
    assert result.done and result.global_steps == whole_result.global_steps
    assert [s.best_val_db for s in result.stages] == [s.best_val_db for s in whole_result.stages]
    for (name, got), (_, want) in zip(resumed.state_dict().items(), whole.state_dict().items(), strict=True):
        assert torch.equal(got, want), name


def test_resume_refuses_another_configuration(tmp_path) -> None:
    cfg = tiny_config(methods=("lista-cpss",))
    _train(cfg, tmp_path, stop_at=5)
    with pytest.raises(CheckpointError, match="another method or configuration"):
        _train(tiny_config(methods=("lista-cpss",), lr=1e-3), tmp_path, resume=True)
