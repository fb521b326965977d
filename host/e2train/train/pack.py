"""A run folder, packed: what a report needs and a resume needs, without what can be rebuilt.

Why: a run or a sweep often outlives the machine it started on (a sitting ends, a job moves to a
cluster, results go into a repository).  The line-by-line journal (``trace.jsonl``) is ten to twenty
times the size of the Parquet trace and only matters while the run is writing; a finished run's
checkpoint is never read again.  Packing writes the trace as ``read_trace`` sees it (journal rows
beyond the last Parquet rewrite included), keeps the checkpoint only where the run can still resume,
and copies everything else unchanged.  Copy the packed folder back and ``--resume`` (or rerun the
sweep) continues as if it had never moved.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from e2train.energy.trace import TraceError, read_trace, to_frame
from e2train.errors import E2TrainError
from e2train.run_dir import CHECKPOINT_FILE, CONFIG_FILE, JOURNAL_FILE, LOCK_FILE, TRACE_FILE, RunDir

REBUILT = {JOURNAL_FILE, LOCK_FILE, TRACE_FILE}  # not copied: the lock is per process, the others rewritten


class PackError(E2TrainError, ValueError):
    """A folder cannot be packed (not a run, or the destination is not empty)."""


def is_run_folder(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file()


def fresh_destination(dest: Path) -> None:
    if dest.exists() and any(dest.iterdir()):
        raise PackError(f"{dest} is not empty: pack into a new folder (nothing was written)")
    dest.mkdir(parents=True, exist_ok=True)


def pack_run(src: Path, dest: Path) -> int:
    """Pack one run folder into ``dest`` (new or empty); returns the bytes written."""
    if not is_run_folder(src):
        raise PackError(f"{src} is not a run folder (no {CONFIG_FILE})")
    fresh_destination(dest)
    run = RunDir(src)
    keep_checkpoint = run.resumable
    for item in sorted(src.iterdir()):
        if item.name in REBUILT or (item.name == CHECKPOINT_FILE and not keep_checkpoint):
            continue
        if item.is_dir():
            shutil.copytree(item, dest / item.name)
        else:
            shutil.copy2(item, dest / item.name)
    try:
        trace = read_trace(src)
    except TraceError:
        trace = None  # a run that stopped before its first iteration: nothing to write
    if trace is not None:
        to_frame(trace.to_dict("records")).to_parquet(dest / TRACE_FILE, index=False)
    return folder_bytes(dest)


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
