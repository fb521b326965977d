"""Stage-wise training of an unfolded network (ALGORITHMS.md 3, "Training"), with checkpoints and resume.

For layer k = 1 .. L: stage 0 trains layer k's new parameters at lr; stages 1, 2 train every layer so
far at lr x 0.2 and lr x 0.02 (``lr_decays``); each stage runs Adam on fresh batches, takes the loss
at layer k's output, checks validation NMSE every ``val_every`` steps and ends when it has not
improved for ``patience_steps`` steps or after ``max_steps``.  A stage ends on its best validated
parameters (a project choice: the stage's starting point counts as validated, so a stage never
leaves the network worse on the validation set than it found it).

Resume: batches are a pure function of the global step (``problem.train_batch``), so the model, the
stage's Adam state, the position in the schedule and the stage's best parameters are the whole state;
a resumed run continues bit for bit as the uninterrupted one would have (tested).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from e2train.lista.config import ListaConfig
from e2train.lista.metrics import nmse_db
from e2train.lista.models import Unfolded
from e2train.lista.problem import Problem
from e2train.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

log = logging.getLogger(__name__)

METHODS_DIR = "methods"


def method_dir(run_dir: Path, method: str) -> Path:
    """Where one method's checkpoint lives inside a run directory."""
    return run_dir / METHODS_DIR / method


@dataclass
class Position:
    """Where training stands: layer (0-based), stage within the layer, step within the stage."""

    layer: int = 0
    stage: int = 0
    step: int = 0
    best_val_db: float = float("inf")
    best_step: int = 0
    global_step: int = 0
    done: bool = False


@dataclass(frozen=True)
class StepReport:
    """What the progress display needs after each step."""

    method: str
    layer: int  # 1-based
    stage: int
    step: int
    global_step: int
    loss: float
    best_val_db: float


@dataclass
class StageRecord:
    layer: int  # 1-based
    stage: int
    lr: float
    steps: int
    best_val_db: float


@dataclass
class TrainResult:
    done: bool  # False: stopped by should_stop, checkpoint written
    global_steps: int
    stages: list[StageRecord] = field(default_factory=list)


class StagewiseTrainer:
    """Trains one method's network in `method_dir` (its checkpoint.pt), resuming if asked."""

    def __init__(self, method: str, model: Unfolded, problem: Problem, cfg: ListaConfig, method_dir: Path,
                 *, resume: bool = False, on_step: Callable[[StepReport], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> None:
        self.method, self.model, self.problem, self.cfg = method, model, problem, cfg
        self.dir = method_dir
        self.on_step = on_step or (lambda report: None)
        self.should_stop = should_stop or (lambda: False)
        self.pos = Position()
        self.stages: list[StageRecord] = []
        self._optimizer: torch.optim.Optimizer | None = None
        self._best: dict[str, torch.Tensor] | None = None
        if resume:
            self._restore()

    # -- schedule --------------------------------------------------------------------------------

    def _stage_lr(self, stage: int) -> float:
        return self.cfg.lr * (1.0 if stage == 0 else self.cfg.lr_decays[stage - 1])

    def _stage_params(self) -> list[torch.nn.Parameter]:
        k = self.pos.layer
        return self.model.layer_parameters(k) if self.pos.stage == 0 else self.model.parameters_up_to(k + 1)

    def _stage_finished(self) -> bool:
        return (self.pos.step >= self.cfg.max_steps
                or self.pos.step - self.pos.best_step >= self.cfg.patience_steps)

    # -- one stage -------------------------------------------------------------------------------

    @torch.no_grad()
    def _validate(self) -> float:
        return nmse_db(self.model(self.problem.val_b, self.pos.layer + 1)[-1], self.problem.val_x)

    def _start_stage(self) -> None:
        self._optimizer = torch.optim.Adam(self._stage_params(), lr=self._stage_lr(self.pos.stage))
        self.pos.best_val_db, self.pos.best_step = self._validate(), 0
        self._best = copy.deepcopy(self.model.state_dict())

    def _train_step(self) -> float:
        assert self._optimizer is not None
        x, b = self.problem.train_batch(self.pos.global_step, self.cfg.batch_size)  # (B, n), (B, m)
        x_hat = self.model(b, self.pos.layer + 1)[-1]
        loss = (x_hat - x).pow(2).sum(dim=1).mean()  # squared error of layer k's output
        self._optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._optimizer.step()
        self.pos.step += 1
        self.pos.global_step += 1
        return float(loss.detach())

    def _after_step(self) -> None:
        if self.pos.step % self.cfg.val_every == 0:
            val = self._validate()
            if val < self.pos.best_val_db:
                self.pos.best_val_db, self.pos.best_step = val, self.pos.step
                self._best = copy.deepcopy(self.model.state_dict())
        if self.pos.step % self.cfg.checkpoint_every == 0:
            self.save()

    def _end_stage(self) -> None:
        assert self._best is not None
        self.model.load_state_dict(self._best)
        self.stages.append(StageRecord(self.pos.layer + 1, self.pos.stage, self._stage_lr(self.pos.stage),
                                       self.pos.step, self.pos.best_val_db))
        log.info("%s layer %d stage %d: %d steps, best validation NMSE %.2f dB", self.method, self.pos.layer + 1,
                 self.pos.stage, self.pos.step, self.pos.best_val_db)
        self._optimizer, self._best = None, None
        self.pos.stage += 1
        self.pos.step = 0
        if self.pos.stage > len(self.cfg.lr_decays):
            self.pos.stage = 0
            self.pos.layer += 1
        self.pos.done = self.pos.layer >= self.model.layers
        self.save()

    # -- the loop --------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        """Train until every layer's stages are done or `should_stop` says so (then checkpoint)."""
        while not self.pos.done:
            if self._optimizer is None:
                self._start_stage()
            while not self._stage_finished():
                if self.should_stop():
                    self.save()
                    return TrainResult(False, self.pos.global_step, self.stages)
                loss = self._train_step()
                self._after_step()
                self.on_step(StepReport(self.method, self.pos.layer + 1, self.pos.stage, self.pos.step,
                                        self.pos.global_step, loss, self.pos.best_val_db))
            self._end_stage()
        return TrainResult(True, self.pos.global_step, self.stages)

    # -- checkpoints -----------------------------------------------------------------------------

    def save(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        state: dict[str, Any] = {
            "model": self.model.state_dict(), "iteration": self.pos.global_step, "config": self.cfg.to_dict(),
            "optimizer": None if self._optimizer is None else self._optimizer.state_dict(),
            "method": self.method, "position": asdict(self.pos), "best": self._best,
            "stages": [asdict(s) for s in self.stages],
        }
        return save_checkpoint(self.dir, state)

    def _restore(self) -> None:
        state = load_checkpoint(self.dir)
        if state.get("method") != self.method or state["config"] != self.cfg.to_dict():
            raise CheckpointError(f"{self.dir} holds a checkpoint of another method or configuration; "
                                  "resume with the run's own config.json or start over with --force")
        self.model.load_state_dict(state["model"])
        self.pos = Position(**state["position"])
        self.stages = [StageRecord(**s) for s in state["stages"]]
        self._best = state["best"]
        if state["optimizer"] is not None:
            self._optimizer = torch.optim.Adam(self._stage_params(), lr=self._stage_lr(self.pos.stage))
            self._optimizer.load_state_dict(state["optimizer"])


def load_trained(method_dir: Path, model: Unfolded) -> tuple[Position, list[StageRecord]]:
    """Load a finished (or partly trained) network's weights; the position says which."""
    state = load_checkpoint(method_dir)
    model.load_state_dict(state["model"])
    return Position(**state["position"]), [StageRecord(**s) for s in state["stages"]]
