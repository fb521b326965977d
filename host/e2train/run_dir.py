"""A run directory: the one place its file names are stated, and the questions asked of a folder
(is a run here, did it finish, where does it resume).  The trainer writes these files, reports and
benchmarks read them, and sweeps decide from them which trials are left to run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

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


class Summary(TypedDict, total=False):
    """``summary.json``: what a run reports when it stops (the schema, stated once; None: not applicable)."""

    test_accuracy: float | None
    test_executed_fraction: float | None  # gated blocks' work run at test time (SLU)
    test_gate_p_std: float | None
    slu_eval_rule: str | None
    test_by_rule: dict[str, dict[str, float]]  # gated models: accuracy and fraction under each gate rule
    iterations: int
    iterations_planned: int
    iterations_skipped: int  # by SMD
    interrupted: bool
    slu_executed_fraction: float | None  # in training
    psg_recompute_fraction_hw: float | None  # per entry, as the psg_wgrad kernel recomputes
    psg_recompute_fraction_sw: float | None  # what the software path computed (whole rows)
    energy_model_j: float
    energy_baseline8_model_j: float
    energy_baseline32_model_j: float
    energy_ortho_model_j: float | None
    savings_vs_baseline8: float | None
    savings_vs_baseline32: float | None
    energy_measured_j: float | None  # only when every iteration has a measured window
    energy_measured_partial_j: float | None  # otherwise, beside its coverage
    energy_measured_coverage: float | None
    power_error: str | None
    power_source: str | None
    measured_simulated: bool
    energy_profile: dict[str, Any]  # name, kind, path
    wall_time_s: float
    train_time_s: float  # the iterations' own time (no evaluation, no checkpoints)
    config: dict[str, Any]  # the resolved TrainConfig
    device: dict[str, Any]  # device backends: kernel calls, cycles, counters


@dataclass(frozen=True)
class RunDir:
    """A run folder by its path; reading never changes it."""

    path: Path

    def __init__(self, path: str | Path) -> None:
        object.__setattr__(self, "path", Path(path))

    def file(self, name: str) -> Path:
        return self.path / name

    def summary(self) -> Summary | None:
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
