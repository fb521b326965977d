"""Fixtures of the report tests: real (tiny) training runs made once per session, and a CLI runner.

The real runs prove the report reads what the trainer writes; they take a few seconds in all, so they
are session-scoped and must not be modified by tests (copy them first, see ``copy_run``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from e2train.config import resolve_config
from e2train.train.loop import Trainer

# name -> (config overrides, power spec)
REAL_RUNS = {
    "plain": ({}, None),
    "e2train": ({"smd": 0.5, "psg": True, "slu_target": 0.6}, None),
    "measured": ({"smd": 0.3}, "simulated:pl"),
}


@pytest.fixture(scope="session")
def real_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three finished runs of 6 iterations on the embedded digits: plain int8, E2-Train, and one with
    energy measured on the simulated power source."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name, (overrides, power_spec) in REAL_RUNS.items():
        run_dir = root / name
        options = {"iters": 6, "batch_size": 32, "seed": 1, "out": str(run_dir), **overrides}
        cfg = resolve_config(overrides=options)
        Trainer(cfg, run_dir, power_spec=power_spec).run()
        out[name] = run_dir
    return out


@pytest.fixture
def copy_run(tmp_path: Path):
    """Copy a session run into this test's folder, so the test may damage it."""

    def copy(source: Path, name: str | None = None) -> Path:
        target = tmp_path / (name or source.name)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("checkpoint.pt"))
        return target

    return copy


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
