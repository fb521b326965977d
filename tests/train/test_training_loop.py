"""The training loop: SMD's true no-op, resume equality, Ctrl-C and crashes leave a readable trace."""

from __future__ import annotations

import json

import pytest
import torch

from e2train.config import resolve_config
from e2train.energy.trace import read_trace
from e2train.train.checkpoint import CheckpointError, load_checkpoint
from e2train.train.loop import Trainer

FAST = {"model": "resnet8", "batch_size": 32, "epochs": None}


def _trainer(tmp_path, name: str, resume: bool = False, on_iteration=None, **overrides) -> Trainer:
    cfg = resolve_config("quickstart", overrides={**FAST, "out": str(tmp_path / name), **overrides})
    return Trainer(cfg, tmp_path / name, resume=resume, on_iteration=on_iteration)


def _state(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_smd_skipped_iterations_are_true_no_ops(tmp_path) -> None:
    trainer = _trainer(tmp_path, "smd", iters=30, smd=0.5, psg=False, slu_target=None)
    skipped = [i for i in range(30) if trainer._smd_skips(i)]
    first_run = next(i for i in range(30) if not trainer._smd_skips(i))
    assert 5 < len(skipped) < 25 and first_run > 0  # seed 0 starts with a skipped iteration
    loaded = []
    original = trainer.source.materialize
    trainer.source.materialize = lambda it: loaded.append(it) or original(it)
    before = _state(trainer)
    trainer.total_iters = first_run  # stop right before the first executed iteration
    trainer.run()
    after = _state(trainer)
    assert loaded == []  # nothing loaded
    # nothing updated (BN stats included); the final evaluation calibrates the gates' test thresholds
    assert all(torch.equal(before[k], after[k]) for k in before if k != "gates.thresholds")
    assert trainer.optimizer.state_dict()["state"] == {}  # no momentum, no weight decay step
    trace = read_trace(tmp_path / "smd")
    assert trace["skipped"].all() and (trace["macs_forward"] == 0).all() and (trace["energy_model_j"] == 0).all()
    assert (trace["energy_baseline8_model_j"] > 0).all()  # the baseline did not skip


def test_resume_reproduces_the_uninterrupted_run(tmp_path) -> None:
    full = _trainer(tmp_path, "full", iters=8)
    full.run()

    def stop_at_4(report) -> None:
        if report.iteration == 4:
            part._stop_requested = True

    part = _trainer(tmp_path, "part", iters=8, on_iteration=stop_at_4)
    summary = part.run()
    assert summary["interrupted"] and load_checkpoint(tmp_path / "part")["iteration"] == 4
    assert len(read_trace(tmp_path / "part")) == 4
    resumed = _trainer(tmp_path, "part", resume=True, iters=8)
    assert resumed.start_iter == 4
    resumed.run()
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    ta, tb = read_trace(tmp_path / "full"), read_trace(tmp_path / "part")
    assert ta["loss"].equals(tb["loss"]) and ta["energy_model_j"].equals(tb["energy_model_j"])


def test_resume_refuses_a_different_config(tmp_path) -> None:
    _trainer(tmp_path, "r", iters=2).run()
    with pytest.raises(ValueError, match="different configuration"):
        _trainer(tmp_path, "r", resume=True, iters=2, lr=0.5)


def test_crash_leaves_a_readable_trace(tmp_path) -> None:
    def crash(report) -> None:
        if report.iteration == 3:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        _trainer(tmp_path, "crash", iters=10, on_iteration=crash).run()
    trace = read_trace(tmp_path / "crash")
    assert trace["iteration"].tolist() == [0, 1, 2]


def test_corrupt_checkpoint_is_a_clear_error(tmp_path) -> None:
    _trainer(tmp_path, "c", iters=2).run()
    (tmp_path / "c" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        _trainer(tmp_path, "c", resume=True, iters=2)


def test_run_directory_contents(tmp_path) -> None:
    summary = _trainer(tmp_path, "d", iters=6, eval_every=1).run()
    run = tmp_path / "d"
    for name in ("config.json", "summary.json", "trace.parquet", "eval.csv", "layer_energy.csv", "checkpoint.pt"):
        assert (run / name).exists(), name
    saved = json.loads((run / "summary.json").read_text())
    from e2train.run_dir import Summary

    assert set(saved) == set(Summary.__annotations__) - {"device"}  # the schema, no key more or less
    for key in ("test_accuracy", "iterations", "iterations_skipped", "slu_executed_fraction",
                "test_executed_fraction", "test_gate_p_std", "slu_eval_rule", "test_by_rule",
                "psg_recompute_fraction_hw", "psg_recompute_fraction_sw",
                "energy_model_j", "energy_baseline8_model_j", "energy_baseline32_model_j",
                "savings_vs_baseline8", "savings_vs_baseline32", "wall_time_s"):
        assert key in saved, key
    trace = read_trace(run)
    assert saved["energy_model_j"] == pytest.approx(trace["energy_model_j"].sum())
    expected = 1 - saved["energy_model_j"] / saved["energy_baseline8_model_j"]
    assert summary["savings_vs_baseline8"] == pytest.approx(expected)
    ran = trace[~trace["skipped"]]
    assert (ran["psg_recompute_fraction_hw"].between(0, 1)).all()
    # the software path recomputes whole output channels: never fewer entries than the kernel
    assert (ran["psg_recompute_fraction_sw"] >= ran["psg_recompute_fraction_hw"]).all()
    assert set(saved["test_by_rule"]) == {"calibrated", "half", "random"}
    assert (ran["macs_wgrad_predict"] > 0).all()


def test_power_source_fills_measured_columns(tmp_path) -> None:
    cfg = resolve_config("quickstart", overrides={**FAST, "iters": 4, "smd": 0.0, "out": str(tmp_path / "p")})
    summary = Trainer(cfg, tmp_path / "p", power_spec="simulated:pl").run()
    trace = read_trace(tmp_path / "p")
    assert trace["energy_measured_gross_j"].notna().all() and (trace["energy_measured_gross_j"] > 0).all()
    assert trace["energy_measured_err_j"].notna().all() and (trace["energy_measured_err_j"] > 0).all()
    assert summary["energy_measured_j"] == pytest.approx(trace["energy_measured_j"].sum())
    assert (tmp_path / "p" / "power.parquet").exists()  # the raw samples are kept
