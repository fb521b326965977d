"""The whole training run inside one simulation of the RTL (``--backend rtl``).

The trainer runs in the simulator's process, on the device the simulation hands to the job (passed
to ``Trainer(device=...)``, never looked up globally); progress is relayed out through a file that
this side tails.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from e2train.config import TrainConfig
from e2train.device.base import Device
from e2train.train.loop import IterationReport, Trainer


class _ProgressWriter:
    """Inside the simulation: each ``IterationReport`` as one flushed JSON line (picklable)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, report: IterationReport) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(report)) + "\n")


class _ProgressRelay(threading.Thread):
    """Outside: tails the progress file and hands each report to ``on_iteration``."""

    def __init__(self, path: Path, on_iteration: Callable[[IterationReport], None], poll_s: float) -> None:
        super().__init__(name="e2train-sim-progress", daemon=True)
        self.path = path
        self.on_iteration = on_iteration
        self.poll_s = poll_s
        self._halt = threading.Event()
        self._offset = 0

    def _drain(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as handle:
            handle.seek(self._offset)
            while True:
                line = handle.readline()
                if not line.endswith("\n"):
                    break  # nothing more, or a line still being written
                self._offset = handle.tell()
                self.on_iteration(IterationReport(**json.loads(line)))

    def run(self) -> None:
        while not self._halt.wait(self.poll_s):
            self._drain()

    def finish(self) -> None:
        self._halt.set()
        self.join()
        self._drain()


def training_job(device: Device, cfg: TrainConfig, run_dir: str, resume: bool, force: bool, power_spec: str | None,
                 cwd: str, progress_file: str | None) -> dict[str, Any]:
    """Runs inside the simulator (``run_in_simulator``): the trainer, on the simulation's device."""
    old = os.getcwd()
    os.chdir(cwd)  # relative paths in the config (data_dir, energy_profile) mean what they meant outside
    try:
        on_iteration = _ProgressWriter(progress_file) if progress_file else None
        trainer = Trainer(cfg, Path(run_dir), resume=resume, on_iteration=on_iteration, power_spec=power_spec,
                          force=force, device=device)
        return trainer.run()
    finally:
        os.chdir(old)


def train_in_simulator(cfg: TrainConfig, run_dir: str | Path, *, resume: bool = False, force: bool = False,
                       power_spec: str | None = None,
                       on_iteration: Callable[[IterationReport], None] | None = None,
                       poll_s: float = 0.5, **sim_options: Any) -> dict[str, Any]:
    """``Trainer(cfg, run_dir).run()`` inside one simulation of the RTL (``cfg.sim``); returns the summary.

    One simulation serves every kernel call of the run (starting a simulator costs about a second).
    ``on_iteration`` is called here, outside, as iterations complete inside (relayed through a
    file in the run directory).  ``sim_options`` go to ``run_in_simulator`` (e.g. ``build_root``).
    Ctrl-C reaches the simulator too: the run stops without its final checkpoint and summary.
    """
    from e2train.device.rtl_sim import run_in_simulator

    if cfg.backend != "rtl":
        raise ValueError(f"train_in_simulator runs backend 'rtl', not {cfg.backend!r}")
    run_dir = Path(run_dir).resolve()
    # outside the run directory, which the trainer requires empty for a new run
    handle, progress_name = tempfile.mkstemp(prefix="e2train-progress-", suffix=".jsonl")
    os.close(handle)
    progress = Path(progress_name)
    job = functools.partial(training_job, cfg=cfg, run_dir=str(run_dir), resume=resume, power_spec=power_spec,
                            force=force, cwd=os.getcwd(), progress_file=str(progress) if on_iteration else None)
    relay = _ProgressRelay(progress, on_iteration, poll_s) if on_iteration else None
    if relay is not None:
        relay.start()
    try:
        return run_in_simulator(job, cfg.sim, **sim_options)  # type: ignore[no-any-return]
    finally:
        if relay is not None:
            relay.finish()
        progress.unlink(missing_ok=True)
