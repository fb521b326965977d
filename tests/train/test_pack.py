"""Packed run and sweep folders: smaller, still reported, and a packed unfinished run resumes to the
same model and trace as one that never moved."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from click.testing import CliRunner

from e2train.cli.main import cli
from e2train.config import resolve_config
from e2train.energy.trace import read_trace
from e2train.run_dir import CHECKPOINT_FILE, JOURNAL_FILE, LOCK_FILE, TRACE_FILE, RunDir
from e2train.sweep.folder import SPEC_FILE, STATES_FILE
from e2train.sweep.pack import pack
from e2train.train.loop import Trainer
from e2train.train.pack import PackError

FAST = {"model": "resnet8", "batch_size": 32, "epochs": None, "iters": 8}


def _trainer(tmp_path, name: str, resume: bool = False, on_iteration=None) -> Trainer:
    cfg = resolve_config("quickstart", overrides={**FAST, "out": str(tmp_path / name)})
    return Trainer(cfg, tmp_path / name, resume=resume, on_iteration=on_iteration)


def _stopped_at_5(tmp_path, name: str) -> None:
    def stop(report) -> None:
        if report.iteration == 5:
            trainer._stop_requested = True

    trainer = _trainer(tmp_path, name, on_iteration=stop)
    trainer.run()


def test_a_packed_unfinished_run_resumes_to_the_run_that_never_moved(tmp_path) -> None:
    full = _trainer(tmp_path, "full")
    full.run()
    _stopped_at_5(tmp_path, "part")
    pack(tmp_path / "part", tmp_path / "packed")
    names = {p.name for p in (tmp_path / "packed").iterdir()}
    assert CHECKPOINT_FILE in names and TRACE_FILE in names and not names & {JOURNAL_FILE, LOCK_FILE}
    moved = tmp_path / "moved"
    shutil.copytree(tmp_path / "packed", moved)
    cfg = resolve_config("quickstart", overrides={**FAST, "out": str(tmp_path / "part")})  # its own config
    resumed = Trainer(cfg, moved, resume=True)
    assert resumed.start_iter == 5
    resumed.run()
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    cols = ["iteration", "skipped", "loss", "energy_model_j"]
    assert read_trace(tmp_path / "full")[cols].equals(read_trace(moved)[cols])


def test_a_finished_run_packs_without_checkpoint_or_journal_and_reads_the_same(tmp_path) -> None:
    _trainer(tmp_path, "done").run()
    pack(tmp_path / "done", tmp_path / "packed")
    assert not (tmp_path / "packed" / CHECKPOINT_FILE).exists()
    assert not (tmp_path / "packed" / JOURNAL_FILE).exists()
    assert RunDir(tmp_path / "packed").finished
    assert read_trace(tmp_path / "packed").equals(read_trace(tmp_path / "done"))
    size = lambda p: sum(f.stat().st_size for f in p.rglob("*"))  # noqa: E731
    assert size(tmp_path / "packed") < size(tmp_path / "done") / 2


def test_a_sweep_folder_packs_each_trial_and_keeps_its_own_files(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / SPEC_FILE).write_text(json.dumps({"base": {}}))
    (sweep / STATES_FILE).write_text("{}")
    _trainer(sweep, "seed=0").run()
    _stopped_at_5(sweep, "seed=1")
    result = CliRunner().invoke(cli, ["pack", str(sweep), str(tmp_path / "packed")])
    assert result.exit_code == 0, result.output
    assert "packed" in result.output and "MB" in result.output
    packed = tmp_path / "packed"
    assert (packed / SPEC_FILE).exists() and (packed / STATES_FILE).exists()
    assert not (packed / "seed=0" / CHECKPOINT_FILE).exists() and (packed / "seed=1" / CHECKPOINT_FILE).exists()
    again = CliRunner().invoke(cli, ["pack", str(sweep), str(packed)])
    assert again.exit_code == 2 and "not empty" in again.output  # nothing overwritten
    with pytest.raises(PackError, match="neither a run folder nor a sweep folder"):
        pack(tmp_path, tmp_path / "other")
