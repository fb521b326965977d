"""The sweep folder: its file names and trial states, stated once for the runner, the results and reports.

A sweep folder holds one ordinary run folder per trial plus these files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from e2train.sweep.spec import SweepSpec, spec_from_dict

SPEC_FILE = "sweep.json"  # the spec the folder was made with: a rerun must match it
STATES_FILE = "trials.json"  # trial -> status record, rewritten after every change
RESULTS_PARQUET = "results.parquet"  # one row per trial
RESULTS_CSV = "results.csv"
SUMMARY_CSV = "summary.csv"  # per configuration: mean, std and count over seeds

# Trial states.
PENDING, RUNNING = "pending", "running"
FINISHED, FAILED, INTERRUPTED = "finished", "failed", "interrupted"
SKIPPED = "skipped"  # finished in an earlier sitting: not run again


def is_sweep_folder(path: Path) -> bool:
    return (Path(path) / SPEC_FILE).is_file()


def read_spec(out: Path) -> SweepSpec:
    return spec_from_dict(json.loads((Path(out) / SPEC_FILE).read_text(encoding="utf-8")), str(out / SPEC_FILE))


def read_states(out: Path) -> dict[str, dict[str, Any]]:
    try:
        return json.loads((Path(out) / STATES_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def write_json(path: Path, data: Any) -> None:
    """Atomically: a reader (or a crash) sees the old file or the new one, never half of one.  Keys keep
    their order: a spec's variants are the report's row order."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(tmp, path)
