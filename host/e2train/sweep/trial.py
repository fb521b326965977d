"""One trial, run inside a Ray worker: an ordinary ``e2train train`` run in its own folder.

The trial picks up where its folder left off (finished: nothing to do; a checkpoint: resume; anything
else: start afresh), so a retry after a killed worker and a rerun of the whole sweep are the same thing.
Errors that another attempt cannot fix (a bad configuration value, a dataset path this worker cannot
see) come back as a failed record instead of an exception, so Ray does not retry them.
"""

from __future__ import annotations

import os
import socket
import traceback
from pathlib import Path
from typing import Any

import torch

from e2train.config import resolve_config
from e2train.errors import E2TrainError
from e2train.run_dir import RunDir
from e2train.sweep.folder import FAILED, FINISHED, INTERRUPTED


class DatasetNotVisible(E2TrainError):
    """The dataset path of a trial does not exist on the worker that runs it."""


def run_trial(name: str, overrides: dict[str, Any], sweep_dir: str, threads: int) -> dict[str, Any]:
    """Train (or resume, or skip) trial ``name`` in ``sweep_dir/name``; returns its status record."""
    run_dir = Path(sweep_dir) / name
    record: dict[str, Any] = {"trial": name, "host": socket.gethostname(), "pid": os.getpid()}
    if RunDir(run_dir).finished:
        return {**record, "status": FINISHED, "error": None}
    torch.set_num_threads(max(threads, 1))
    from e2train.train.loop import Trainer  # the trainer's imports are only needed where a trial runs

    try:
        values = dict(overrides)
        cfg = resolve_config(values.pop("preset", None), None, {**values, "out": str(run_dir)})
        if cfg.data_dir and not Path(cfg.data_dir).exists():
            raise DatasetNotVisible(
                f"data_dir {cfg.data_dir} does not exist on worker {socket.gethostname()}; every node needs the "
                "dataset at that path (a shared file system, or a copy at the same place on each node)")
        resume = RunDir(run_dir).resumable
        if cfg.backend == "rtl":  # the whole run inside one simulation, as `e2train train --backend rtl`
            from e2train.train.in_simulator import train_in_simulator

            summary = train_in_simulator(cfg, run_dir, resume=resume, force=not resume)
        else:
            summary = Trainer(cfg, run_dir, resume=resume, force=not resume).run()
    except E2TrainError as err:
        return {**record, "status": FAILED, "error": f"{type(err).__name__}: {err}"}
    except Exception:
        # Unexpected: re-raised for Ray to retry (up to the spec's retries); the text is kept by the runner.
        traceback.print_exc()
        raise
    status = INTERRUPTED if summary.get("interrupted") else FINISHED
    return {**record, "status": status, "error": None}
