"""A run directory: the one place its file names are stated, and the questions asked of a folder
(is a run here, did it finish, where does it resume).  The trainer writes these files, reports and
benchmarks read them, and sweeps decide from them which trials are left to run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.json"  # the resolved TrainConfig, written when the run starts
SUMMARY_FILE = "summary.json"  # written when the run stops (finished, or interrupted with "interrupted": true)
EVAL_FILE = "eval.csv"  # one row per evaluation
LAYER_FILE = "layer_energy.csv"  # modelled joules per layer and operation kind
POWER_FILE = "power.parquet"  # raw power samples, where a source was measured
TRACE_FILE = "trace.parquet"  # one row per iteration (schema: e2train.energy.trace)
JOURNAL_FILE = "trace.jsonl"  # the same rows appended as they happen: readable after a crash
CHECKPOINT_FILE = "checkpoint.pt"  # model, optimizer and loop state for --resume
LOCK_FILE = "run.lock"  # held by the process writing the folder
COUNTERS_FILE = "device_counters.csv"  # kernel counters of a device backend


@dataclass(frozen=True)
class RunDir:
    """A run folder by its path; reading never changes it."""

    path: Path

    def __init__(self, path: str | Path) -> None:
        object.__setattr__(self, "path", Path(path))

    def file(self, name: str) -> Path:
        return self.path / name

    def summary(self) -> dict[str, Any] | None:
        """The summary, or None where the run never stopped cleanly (not started, running, or killed)."""
        try:
            return json.loads((self.path / SUMMARY_FILE).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def config(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.path / CONFIG_FILE).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    @property
    def finished(self) -> bool:
        """A summary written at the end of the budget (not by an interrupted run)."""
        summary = self.summary()
        return summary is not None and not summary.get("interrupted", False)

    @property
    def resumable(self) -> bool:
        return (self.path / CHECKPOINT_FILE).exists() and not self.finished
