"""One LISTA run directory: configuration, problem, every method's training, then the evaluation.

Layout::

    config.json            the resolved ListaConfig
    problem.pt             A, validation and test sets (seeded; saved so that eval needs no regeneration)
    methods/<name>/checkpoint.pt   each learned method's stage-wise training state (resumable)
    nmse.csv, thresholds.csv, nmse.png, thresholds.png, summary.json   (``evaluate``)

Safety as in ``e2train train``: one process per run directory (``run.lock``), a non-empty directory is
refused unless ``resume`` (continue every method from its checkpoint) or ``force`` (replace this run's
own files, keep any others).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from e2train.config import ConfigError
from e2train.lista.config import ListaConfig
from e2train.lista.evaluate import OUTPUT_FILES, evaluate_run
from e2train.lista.models import build_model
from e2train.lista.problem import PROBLEM_FILE, load_problem, make_problem, save_problem
from e2train.lista.stagewise import METHODS_DIR, StagewiseTrainer, StepReport, method_dir
from e2train.run_dir import CHECKPOINT_FILE, LOCK_FILE
from e2train.train.run_lock import RunLock

CONFIG_FILE = "config.json"
RUN_FILES = (CONFIG_FILE, PROBLEM_FILE, METHODS_DIR, *OUTPUT_FILES)


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_config(run_dir: Path) -> ListaConfig:
    path = run_dir / CONFIG_FILE
    if not path.exists():
        raise ConfigError(f"{path} does not exist: not a LISTA run directory (run `e2train lista train` first)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not valid JSON ({err})") from err
    return ListaConfig.from_dict(data)


def _prepare(run_dir: Path, cfg: ListaConfig, resume: bool, force: bool) -> None:
    """Refuse to mix runs; on resume the saved configuration must be the one given."""
    ours = [run_dir / name for name in RUN_FILES if (run_dir / name).exists()]
    if resume:
        if load_config(run_dir).to_dict() != cfg.to_dict():
            raise ConfigError(f"{run_dir / CONFIG_FILE} differs from the options given; resume without options "
                              "to continue that run, or start a new one in another --out")
        return
    others = [p for p in run_dir.iterdir() if p.name != LOCK_FILE and p not in ours] if run_dir.exists() else []
    if (ours or others) and not force:
        raise ConfigError(f"{run_dir} is not empty; use --resume to continue the run there, --force to replace "
                          "its run files, or another --out")
    for path in ours:
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def train_run(cfg: ListaConfig, run_dir: Path, *, resume: bool = False, force: bool = False,
              on_step: Callable[[StepReport], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Train every learned method stage-wise, then evaluate; returns the summary (``interrupted`` when
    `should_stop` ended training early: every finished step is in the checkpoints)."""
    lock = RunLock(run_dir)
    try:
        _prepare(run_dir, cfg, resume, force)
        if resume and (run_dir / PROBLEM_FILE).exists():
            problem = load_problem(run_dir)
        else:
            write_text_atomic(run_dir / CONFIG_FILE, json.dumps(cfg.to_dict(), indent=2))
            problem = make_problem(cfg)
            save_problem(problem, run_dir)
        for method in cfg.learned_methods:
            folder = method_dir(run_dir, method)
            folder.mkdir(parents=True, exist_ok=True)
            trainer = StagewiseTrainer(method, build_model(method, problem.a, cfg), problem, cfg, folder,
                                       resume=(folder / CHECKPOINT_FILE).exists(), on_step=on_step,
                                       should_stop=should_stop)
            if not trainer.run().done:
                return {"interrupted": True, "method": method, "run_dir": str(run_dir)}
        summary = evaluate_run(run_dir, cfg, problem)
    finally:
        lock.release()
    return {**summary, "interrupted": False}
