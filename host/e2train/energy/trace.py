"""The per-iteration trace: schema, crash-safe writer, validating reader.

Rows go to an append-only JSON-lines journal as they happen (one flushed line per iteration, so
a crash loses at most the iteration in flight) and to ``trace.parquet``, rewritten atomically at
checkpoints and at the end.  Readers prefer the Parquet file and fall back to the journal when a
run died before its last rewrite.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Protocol, TypedDict, get_args, get_type_hints

import pandas as pd

from e2train.errors import E2TrainError
from e2train.run_dir import JOURNAL_FILE, TRACE_FILE

SCHEMA_VERSION = 2
# Columns added after schema 1, with the value they have in a run written before them.
ADDED_COLUMNS = {"count_mac_ortho": 0.0, "ortho_loss": math.nan}


class TraceRow(TypedDict):
    """One row of the trace per iteration: the schema, with each column's pandas dtype.  The order is
    the file's column order."""

    iteration: Annotated[int, "int64"]
    epoch: Annotated[int, "int64"]
    skipped: Annotated[bool, "bool"]
    t_start: Annotated[float, "float64"]  # time.monotonic() seconds, the same clock as the power recorder
    t_end: Annotated[float, "float64"]
    loss: Annotated[float, "float64"]
    ortho_loss: Annotated[float, "float64"]  # coefficient x penalty (NaN: none computed); added in schema 2
    lr: Annotated[float, "float64"]
    slu_executed_fraction: Annotated[float, "float64"]
    psg_recompute_fraction_hw: Annotated[float, "float64"]  # per entry, as the psg_wgrad kernel
    psg_recompute_fraction_sw: Annotated[float, "float64"]  # entries the software path computed at full precision
    macs_forward: Annotated[int, "int64"]
    macs_backward_input: Annotated[int, "int64"]
    macs_wgrad_predict: Annotated[int, "int64"]
    macs_wgrad_full: Annotated[int, "int64"]
    dram_bytes: Annotated[int, "int64"]
    count_mac_int8: Annotated[float, "float64"]
    count_mac_int8x16: Annotated[float, "float64"]
    count_mac_int4x16: Annotated[float, "float64"]
    count_mac_fp32: Annotated[float, "float64"]
    count_flop_fp32: Annotated[float, "float64"]
    count_dram_byte: Annotated[float, "float64"]
    count_mac_ortho: Annotated[float, "float64"]  # orthogonality penalty (priced as mac_fp32); added in schema 2
    model_time_s: Annotated[float, "float64"]
    energy_compute_model_j: Annotated[float, "float64"]
    energy_dram_model_j: Annotated[float, "float64"]
    energy_static_model_j: Annotated[float, "float64"]
    energy_model_j: Annotated[float, "float64"]
    energy_baseline8_model_j: Annotated[float, "float64"]
    energy_baseline32_model_j: Annotated[float, "float64"]
    energy_measured_j: Annotated[float, "float64"]  # net of the idle baseline where one was measured, else gross
    energy_measured_err_j: Annotated[float, "float64"]  # one sigma
    energy_measured_gross_j: Annotated[float, "float64"]
    measured_short_window: Annotated[bool | None, "boolean"]  # window shorter than the sensor's refresh period


# column -> pandas dtype, read off TraceRow
COLUMNS: dict[str, str] = {name: get_args(kind)[1]
                           for name, kind in get_type_hints(TraceRow, include_extras=True).items()}


class MeasuredWindow(Protocol):
    """What the trace takes from one measured window (``e2train.power.integrate.WindowEnergy``)."""

    net_energy_j: float
    energy_err_j: float
    gross_energy_j: float
    gross_err_j: float
    short_window: bool


def measured_columns(iterations: Sequence[int], windows: Sequence[MeasuredWindow]) -> dict[int, dict]:
    """The trace's measured columns per iteration, from the recorder's window over each iteration.

    The join of measured and modelled joules, kept here beside the schema rather than in the loop:
    ``energy_measured_j`` is net of the idle baseline where one was measured (NaN net), else gross,
    with the matching one-sigma error.
    """
    columns = {}
    for iteration, w in zip(iterations, windows, strict=True):
        has_net = not math.isnan(w.net_energy_j)
        columns[iteration] = {"energy_measured_j": w.net_energy_j if has_net else w.gross_energy_j,
                              "energy_measured_err_j": w.energy_err_j if has_net else w.gross_err_j,
                              "energy_measured_gross_j": w.gross_energy_j,
                              "measured_short_window": bool(w.short_window)}
    return columns


class TraceError(E2TrainError, ValueError):
    """A trace file is missing, truncated or has the wrong columns."""


def to_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.astype(COLUMNS)


class TraceWriter:
    def __init__(self, run_dir: Path, rows: list[TraceRow] | None = None):
        self.run_dir = run_dir
        self.rows: list[TraceRow] = list(rows or [])
        self._journal = open(run_dir / JOURNAL_FILE, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        for row in self.rows:
            self._journal.write(json.dumps(row) + "\n")
        self._journal.flush()

    def append(self, row: TraceRow) -> None:
        missing = set(COLUMNS) - set(row)
        if missing:
            raise TraceError(f"trace row lacks {sorted(missing)}")
        self.rows.append(row)
        self._journal.write(json.dumps(row) + "\n")
        self._journal.flush()

    def fill_measured(self, measured: dict[int, dict]) -> None:
        """Measured joules arrive after the fact (the recorder integrates its samples at the end)."""
        for row in self.rows:
            row.update(measured.get(row["iteration"], {}))

    def write(self) -> Path:
        path = self.run_dir / TRACE_FILE
        tmp = path.with_name(path.name + ".tmp")
        frame = to_frame(self.rows)
        frame.attrs["schema_version"] = SCHEMA_VERSION
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
        return path

    def close(self) -> None:
        if not self._journal.closed:
            self.write()
            self._journal.close()


def _read_journal(path: Path) -> pd.DataFrame:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(path.read_text(encoding="utf-8").splitlines()):
                break  # the line being written when the process died
            raise TraceError(f"{path}: line {number} is not valid JSON") from None
    frame = to_frame(rows)
    for column, value in ADDED_COLUMNS.items():  # rows written before the column existed
        if rows and column not in rows[0]:
            frame[column] = value
    return frame


def read_trace(run_dir: str | Path) -> pd.DataFrame:
    """Load a run's trace, checking the schema; journal rows beyond the Parquet file win."""
    run_dir = Path(run_dir)
    parquet, journal = run_dir / TRACE_FILE, run_dir / JOURNAL_FILE
    frame = None
    if parquet.exists():
        try:
            frame = pd.read_parquet(parquet)
        except Exception as err:  # pyarrow raises several types for truncated files
            raise TraceError(f"{parquet}: unreadable Parquet file ({err})") from err
        frame = frame.assign(**{c: v for c, v in ADDED_COLUMNS.items() if c not in frame.columns})
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise TraceError(f"{parquet}: missing columns {missing} (written by another version?)")
    if journal.exists():
        logged = _read_journal(journal)
        if frame is None or len(logged) > len(frame):
            frame = logged
    if frame is None:
        raise TraceError(f"{run_dir}: no {TRACE_FILE} or {JOURNAL_FILE}: not a run directory")
    iters = frame["iteration"].to_numpy()
    if len(iters) and (iters[1:] <= iters[:-1]).any():
        raise TraceError(f"{run_dir}: iterations are not strictly increasing")
    return frame


def nan_to_none(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value
