"""Nothing lost, nothing silently wrong: resume keeps every evaluation and the true summary, run
folders take one run at a time, mid-epoch and SIGTERM checkpoints, typed configuration values."""

from __future__ import annotations

import json
import os
import signal
import time

import pandas as pd
import pytest

from e2train.config import ConfigError, resolve_config
from e2train.power.simulated import SimulatedSource
from e2train.train.checkpoint import load_checkpoint
from e2train.train.loop import Trainer
from e2train.train.run_lock import RunInUseError, RunLock

# digits: 1438 training images, batch 128 -> 11 iterations per epoch
SMALL = {"model": "resnet8", "batch_size": 128, "epochs": None, "smd": 0.0, "checkpoint_every_iters": 0}


def _trainer(tmp_path, name: str, resume: bool = False, on_iteration=None, force: bool = False,
             **overrides) -> Trainer:
    cfg = resolve_config("quickstart", overrides={**SMALL, "out": str(tmp_path / name), **overrides})
    return Trainer(cfg, tmp_path / name, resume=resume, on_iteration=on_iteration, force=force)


def _stop_at(n: int, holder: list):
    def stop(report) -> None:
        if report.iteration == n:
            holder[0]._stop_requested = True
    return stop


def test_resume_keeps_every_evaluation_and_the_final_summary(tmp_path) -> None:
    full = _trainer(tmp_path, "full", iters=33).run()  # evaluations after iterations 11, 22, 33
    holder: list = []
    for stop in (11, 22):  # two interruptions, each right at an epoch's evaluation and checkpoint
        holder[:] = [_trainer(tmp_path, "part", resume=stop == 22, iters=33, on_iteration=_stop_at(stop, holder))]
        assert holder[0].run()["interrupted"]
    resumed = _trainer(tmp_path, "part", resume=True, iters=33).run()
    evals = pd.read_csv(tmp_path / "part" / "eval.csv")
    assert evals["iteration"].tolist() == [11, 22, 33]
    assert evals["test_accuracy"].tolist() == pd.read_csv(tmp_path / "full" / "eval.csv")["test_accuracy"].tolist()
    assert resumed["test_accuracy"] == full["test_accuracy"]
    again = _trainer(tmp_path, "part", resume=True, iters=33).run()  # a finished run, resumed once more
    assert again["test_accuracy"] == full["test_accuracy"]
    # the earlier sessions' wall time is kept (up to their last checkpoint), not restarted at 0
    assert again["wall_time_s"] == pytest.approx(resumed["wall_time_s"], rel=0.2)


def test_a_second_process_in_the_same_folder_is_refused(tmp_path) -> None:
    lock = RunLock(tmp_path / "busy")  # as another process running there would hold it
    try:
        with pytest.raises(RunInUseError, match=f"in use by another e2train run \\(pid {os.getpid()}"):
            _trainer(tmp_path, "busy", iters=2)
    finally:
        lock.release()
    _trainer(tmp_path, "busy", iters=2).run()  # free again


def test_a_non_empty_folder_needs_resume_or_force_and_force_keeps_other_files(tmp_path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes")
    with pytest.raises(ConfigError, match="is not empty \\(notes.txt\\)"):
        _trainer(tmp_path, "mine", iters=2)
    assert (folder / "notes.txt").read_text() == "my notes"
    _trainer(tmp_path, "mine", iters=2, force=True).run()
    first = json.loads((folder / "summary.json").read_text())
    _trainer(tmp_path, "mine", iters=3, force=True).run()
    assert json.loads((folder / "summary.json").read_text())["iterations"] == 3 != first["iterations"]
    assert (folder / "notes.txt").read_text() == "my notes"


def test_mid_epoch_checkpoints_make_a_first_epoch_crash_resumable(tmp_path) -> None:
    def crash(report) -> None:
        if report.iteration == 7:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError):
        _trainer(tmp_path, "crash", iters=11, checkpoint_every_iters=3, on_iteration=crash).run()
    assert load_checkpoint(tmp_path / "crash")["iteration"] == 6
    resumed = _trainer(tmp_path, "crash", resume=True, iters=11, checkpoint_every_iters=3)
    assert resumed.start_iter == 6
    assert resumed.run()["iterations"] == 11


def test_a_run_saved_before_device_was_renamed_torch_device_still_resumes(tmp_path) -> None:
    """Earlier versions called TrainConfig.torch_device "device" (confused with the FPGA device): their
    checkpoints and config.json files resume under the new name."""
    import torch

    from e2train.train.checkpoint import save_checkpoint

    def crash(report) -> None:
        if report.iteration == 4:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError):
        _trainer(tmp_path, "old", iters=8, checkpoint_every_iters=3, on_iteration=crash).run()
    state = load_checkpoint(tmp_path / "old")
    state["config"]["device"] = state["config"].pop("torch_device")  # as an earlier version wrote it
    save_checkpoint(tmp_path / "old", state)
    old_file = {**json.loads((tmp_path / "old" / "config.json").read_text())}
    old_file["device"] = old_file.pop("torch_device")
    (tmp_path / "old.json").write_text(json.dumps(old_file))
    cfg = resolve_config(config_file=str(tmp_path / "old.json"))
    assert cfg.torch_device == "cpu" and torch.device(cfg.torch_device).type == "cpu"
    resumed = Trainer(cfg, tmp_path / "old", resume=True)
    assert resumed.start_iter == 3 and resumed.run()["iterations"] == 8


def test_sigterm_checkpoints_and_stops(tmp_path) -> None:
    def terminate(report) -> None:
        if report.iteration == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)  # SIG_DFL, or whatever an earlier library installed
    summary = _trainer(tmp_path, "term", iters=11, on_iteration=terminate).run()
    assert summary["interrupted"] and load_checkpoint(tmp_path / "term")["iteration"] == 2
    assert signal.getsignal(signal.SIGTERM) == before  # the handler was put back


@pytest.mark.parametrize("key,value,message", [
    ("psg", "false", "psg='false' (str) must be true or false"),
    ("lr", float("nan"), "lr=nan must be a finite number"),
    ("epochs", float("inf"), "epochs=inf must be a finite number"),
    ("seed", -1, "seed=-1 must be >= 0"),
    ("batch_size", "64", "batch_size='64' (str) must be a number"),
    ("iters", 2.5, "iters=2.5 (float) must be a whole number"),
    ("lr_milestones", [0.5, "x"], "lr_milestones[1]='x' (str) must be a number"),
    ("lr_milestones", 0.5, "must be a list of numbers"),
    ("momentum", 1.5, "momentum=1.5 must be in [0, 1)"),
    ("model", 20, "model=20 (int) must be a string"),
])
def test_config_values_of_the_wrong_type_are_named(tmp_path, key, value, message) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({key: value}))
    with pytest.raises(ConfigError) as err:
        resolve_config(config_file=str(path))
    assert message in str(err.value)


def test_a_batch_larger_than_the_dataset_is_refused(tmp_path) -> None:
    with pytest.raises(ConfigError, match="batch_size=5000 exceeds the 1438 training images"):
        _trainer(tmp_path, "big", iters=1, batch_size=5000)


class _DyingSensor(SimulatedSource):
    """Reads normally until told it died, then every read fails (an I2C sensor that hangs). The test kills
    it from the training loop, so it is sampled in a thread of this process (``state_in_process``)."""

    state_in_process = True

    def __init__(self) -> None:
        super().__init__({"pl": lambda t: 1.5})
        self.dead = False

    def read(self):
        if self.dead:
            raise OSError("I2C bus timeout")
        return super().read()


def test_a_sensor_dying_part_way_gives_a_partial_measurement_with_its_coverage(tmp_path, monkeypatch) -> None:
    import e2train.power.factory as factory

    sensor = _DyingSensor()
    monkeypatch.setattr(factory, "open_power_source", lambda spec, **options: sensor)

    def die_at_iteration_10(report) -> None:
        time.sleep(0.05)  # iterations long enough for several samples each
        sensor.dead = sensor.dead or report.iteration >= 10

    summary = Trainer(resolve_config("quickstart", overrides={**SMALL, "iters": 30, "out": str(tmp_path / "s")}),
                      tmp_path / "s", power_spec="dying", on_iteration=die_at_iteration_10).run()
    assert summary["energy_measured_j"] is None  # never a partial sum presented as the run's energy
    assert 0 < summary["energy_measured_coverage"] < 1 and summary["energy_measured_partial_j"] is not None
    assert "I2C bus timeout" in summary["power_error"]
