"""RunDir answers what a sweep or a report asks of a folder, from the files the trainer writes."""

from __future__ import annotations

import json
from pathlib import Path

from e2train.config import resolve_config
from e2train.run_dir import CHECKPOINT_FILE, CONFIG_FILE, SUMMARY_FILE, RunDir
from e2train.train.loop import Trainer


def test_a_finished_run_is_finished_and_not_resumable(tmp_path: Path) -> None:
    out = tmp_path / "run"
    Trainer(resolve_config("quickstart", overrides={"model": "resnet8", "iters": 2, "batch_size": 16}), out).run()
    run = RunDir(out)
    assert run.finished and not run.resumable
    assert run.summary()["iterations"] == 2 and run.config()["iters"] == 2
    assert all(run.file(name).exists() for name in (CONFIG_FILE, SUMMARY_FILE, CHECKPOINT_FILE))


def test_an_interrupted_or_killed_run_is_resumable(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    assert not run.finished and not run.resumable and run.summary() is None
    (tmp_path / CHECKPOINT_FILE).write_bytes(b"a checkpoint")
    assert run.resumable  # killed: a checkpoint, no summary
    (tmp_path / SUMMARY_FILE).write_text(json.dumps({"interrupted": True}))
    assert run.resumable and not run.finished
    (tmp_path / SUMMARY_FILE).write_text("{truncated")
    assert run.summary() is None and run.resumable
