"""Checkpoints: everything needed to continue a run exactly where it stopped.

Batches, SMD decisions, gate samples and augmentation are pure functions of (seed, iteration),
so model, optimizer and the iteration counter are the whole state.  Files are written to a
temporary name and renamed, so a crash during a save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from e2train.errors import E2TrainError
from e2train.run_dir import CHECKPOINT_FILE


class CheckpointError(E2TrainError, RuntimeError):
    """A checkpoint is missing, corrupt, or belongs to a different configuration."""


def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> Path:
    path = run_dir / CHECKPOINT_FILE
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(run_dir: Path) -> dict[str, Any]:
    path = run_dir / CHECKPOINT_FILE
    if not path.exists():
        raise CheckpointError(f"{path} does not exist: nothing to resume (run without --resume to start)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{path} is corrupt or not an e2train checkpoint ({err}); "
                              "delete it to start over") from err
    for key in ("model", "optimizer", "iteration", "config"):
        if key not in state:
            raise CheckpointError(f"{path} lacks {key!r}: not an e2train checkpoint")
    return state
