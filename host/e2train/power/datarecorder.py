"""Import frames saved from PYNQ's ``DataRecorder`` (pickled DataFrame or CSV) and integrate per mark.

A DataRecorder frame is indexed by wall-clock timestamps (``pd.to_datetime(time.time(), unit="s")``),
has a ``Mark`` column (``Invocation`` on older images) counting ``record()``/``mark()`` calls, and one
column per sensor named ``<rail>_power``, ``<rail>_voltage`` or ``<rail>_current``.

A mark's window runs from its first sample to the first sample of the next mark; the last mark ends one
sampling interval after its last sample (DataRecorder takes a reading, then sleeps an interval: each
reading stands for the interval after it, and the last one is held to its end). Windows tile the
recording, so the marks' energies add up to the total. The true boundary lies somewhere in the sampling
interval around that sample; the edge term of the uncertainty (refresh period = the median sampling
interval) accounts for it.

Resolution: only PMBus regulators (PMIC rails) report in 1/8 W steps; current-shunt monitors such as
the INA226 resolve far finer. ``pmbus_rails`` names the rails that get the PMBus step, the others get
``resolution_w`` (default: an INA226 with a 1 mA current LSB, 25 mW per power step).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from e2train.errors import E2TrainError
from e2train.power.base import Quantity, RailInfo
from e2train.power.integrate import baseline_from_samples, typical_interval_s
from e2train.power.pynq_rails import PMBUS_RESOLUTION_W
from e2train.power.recorder import Recording

log = logging.getLogger(__name__)

MARK_COLUMNS = ("Mark", "Invocation")
INA226_RESOLUTION_W = 0.025  # power LSB = 25 x current LSB; 1 mA current LSB, a common configuration
_SUFFIXES = ("_power", "_voltage", "_current")


class DataRecorderFormatError(E2TrainError, ValueError):
    """The file is not a DataRecorder frame; the message names the file and what is missing."""


@dataclass
class DataRecorderImport:
    """Result of ``read_datarecorder``.

    ``marks``: one row per mark (``mark``, ``t_start_s``, ``t_end_s``, ``duration_s``, ``samples``,
    ``energy_j``, ``energy_err_j``, ``net_energy_j``, ``mean_power_w``, ``<rail>_energy_j``...).
    ``samples``: ``t_s`` (seconds since the first sample), ``mark``, ``<rail>_w`` per rail.
    ``t0_epoch_s``: wall-clock time of the first sample.
    """

    path: Path
    mark_column: str
    rails: tuple[RailInfo, ...]
    marks: pd.DataFrame
    samples: pd.DataFrame
    recording: Recording
    t0_epoch_s: float


def _load_frame(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            return pd.read_csv(path, index_col=0)
        frame = pd.read_pickle(path)
    except (ValueError, OSError, EOFError, pd.errors.ParserError) as err:
        raise DataRecorderFormatError(f"{path}: cannot read as a DataRecorder frame ({err})") from err
    except Exception as err:  # unpickling arbitrary bytes raises anything from UnpicklingError to KeyError
        raise DataRecorderFormatError(
            f"{path}: not a pickled DataFrame ({type(err).__name__}: {err})"
        ) from err
    if not isinstance(frame, pd.DataFrame):
        raise DataRecorderFormatError(
            f"{path}: the pickle holds a {type(frame).__name__}, not a pandas DataFrame"
        )
    return frame


def _timestamps_s(frame: pd.DataFrame, path: Path) -> np.ndarray:
    """Index -> seconds since the epoch (datetime index) or as given (numeric seconds)."""
    idx = frame.index
    if isinstance(idx, pd.RangeIndex):
        raise DataRecorderFormatError(
            f"{path}: no timestamp index (a RangeIndex); save the frame with its index (frame.to_csv(path))"
        )
    if pd.api.types.is_numeric_dtype(idx.dtype):
        return np.asarray(idx, dtype=float)
    try:
        dt = pd.DatetimeIndex(pd.to_datetime(idx))
    except (ValueError, TypeError) as err:
        raise DataRecorderFormatError(f"{path}: index is neither timestamps nor seconds ({err})") from err
    if dt.tz is not None:
        dt = dt.tz_convert("UTC").tz_localize(None)
    return (dt - pd.Timestamp(0)) / pd.Timedelta(seconds=1)


def _rail_powers(frame: pd.DataFrame, path: Path) -> dict[str, np.ndarray]:
    prefixes: dict[str, set[str]] = {}
    for col in frame.columns:
        for suffix in _SUFFIXES:
            if isinstance(col, str) and col.endswith(suffix):
                prefixes.setdefault(col[: -len(suffix)], set()).add(suffix)
    powers = {}
    for rail, have in prefixes.items():
        if "_power" in have:
            powers[rail] = frame[f"{rail}_power"].to_numpy(float)
        elif {"_voltage", "_current"} <= have:
            powers[rail] = frame[f"{rail}_voltage"].to_numpy(float) * frame[f"{rail}_current"].to_numpy(float)
        else:
            log.warning(
                "%s: rail %s has %s only; need _power or _voltage and _current", path, rail, sorted(have)
            )
    if not powers:
        raise DataRecorderFormatError(
            f"{path}: no '<rail>_power' column (nor '<rail>_voltage' with '<rail>_current'); "
            f"columns: {', '.join(map(str, frame.columns))}"
        )
    return powers


def read_datarecorder(
    path: Path | str,
    *,
    pmbus_rails: tuple[str, ...] = (),
    resolution_w: float = INA226_RESOLUTION_W,
    baseline_mark: int | None = None,
) -> DataRecorderImport:
    """Per-mark energy (trapezoid) from a saved DataRecorder frame.

    ``pmbus_rails`` are read through PMBus (1/8 W steps); every other rail has ``resolution_w``.
    ``baseline_mark`` names a mark recorded with the device idle: its mean power becomes the baseline
    and ``net_energy_j`` is filled.
    """
    path = Path(path)
    frame = _load_frame(path)
    mark_col = next((c for c in MARK_COLUMNS if c in frame.columns), None)
    if mark_col is None:
        raise DataRecorderFormatError(
            f"{path}: missing column 'Mark' (or 'Invocation' on older PYNQ images); "
            f"columns: {', '.join(map(str, frame.columns))}"
        )
    t_abs = _timestamps_s(frame, path)
    powers = _rail_powers(frame, path)
    marks = frame[mark_col].to_numpy()
    order = np.argsort(t_abs, kind="stable")
    t_abs, marks = t_abs[order], marks[order]
    values = np.column_stack([p[order] for p in powers.values()])
    keep = np.isfinite(t_abs) & np.all(np.isfinite(values), axis=1)
    if not keep.all():
        log.warning("%s: dropping %d rows with missing values", path, int((~keep).sum()))
    t_abs, marks, values = t_abs[keep], marks[keep], values[keep]
    if len(t_abs) < 2:
        raise DataRecorderFormatError(f"{path}: {len(t_abs)} usable samples; need at least 2")

    t0 = float(t_abs[0])
    t = t_abs - t0
    interval = typical_interval_s(t)
    unknown = sorted(set(pmbus_rails) - set(powers))
    if unknown:
        raise DataRecorderFormatError(f"{path}: no rail {', '.join(unknown)} (rails: {', '.join(powers)})")
    rails = tuple(
        RailInfo(
            name, Quantity.POWER, PMBUS_RESOLUTION_W if name in pmbus_rails else resolution_w, interval,
            note="DataRecorder; refresh = sampling interval",
        )
        for name in powers
    )
    # the last reading holds for one more interval, as every other reading does
    t = np.append(t, t[-1] + interval)
    values = np.vstack([values, values[-1]])
    marks = np.append(marks, marks[-1])
    baseline = None
    windows = _mark_windows(t, marks)
    if baseline_mark is not None:
        if baseline_mark not in windows:
            raise ValueError(f"{path}: no mark {baseline_mark} (marks: {sorted(windows)})")
        # Only the mark's own samples: its window also spans the ramp into the next mark.
        own = t[marks.astype(int) == baseline_mark]
        baseline = baseline_from_samples(t, values, rails, float(own[0]), float(own[-1]))
    recording = Recording(t, values, rails, baseline, {"source": f"datarecorder:{path.name}"})

    rows = []
    for mark, (a, b) in windows.items():
        w = recording.energy_between(a, b)
        row = {
            "mark": mark,
            "t_start_s": a,
            "t_end_s": b,
            "duration_s": w.duration_s,
            "samples": w.samples,
            "energy_j": w.gross_energy_j,
            "energy_err_j": w.gross_err_j,
            "net_energy_j": w.net_energy_j,
            "net_energy_err_j": w.energy_err_j,
            "mean_power_w": w.gross_power_w,
            "short_window": w.short_window,
        }
        for name, re in w.by_rail.items():
            row[f"{name}_energy_j"] = re.gross_energy_j
        rows.append(row)
    real = slice(0, len(t) - 1)  # the readings in the file, without the closing one
    samples = pd.DataFrame({"t_s": t[real], "mark": marks[real],
                            **{r.column: values[real, j] for j, r in enumerate(rails)}})
    return DataRecorderImport(path, mark_col, rails, pd.DataFrame(rows), samples, recording, t0)


def _mark_windows(t: np.ndarray, marks: np.ndarray) -> dict[int, tuple[float, float]]:
    """Mark -> (start, end): from its first sample to the next mark's first sample, the last mark to
    the last sample (read_datarecorder appends the closing one; see module doc)."""
    order: list[int] = []
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for i, m in enumerate(marks):
        key = int(m)
        if key not in first:
            first[key] = i
            order.append(key)
        last[key] = i
    windows = {}
    for k, m in enumerate(order):
        start = float(t[first[m]])
        end = float(t[first[order[k + 1]]]) if k + 1 < len(order) else float(t[last[m]])
        windows[m] = (start, end)
    return windows
