"""Sample a power source in its own process (or thread) on a drift-free schedule; energy per window
afterwards.

Why not PYNQ's DataRecorder: it sleeps a fixed interval after each read (the period drifts by the read
time), stamps samples with the wall clock (which NTP may step) and only knows phases by ``mark()``.
Here deadlines are absolute on ``time.monotonic`` (the clock the trainer stamps iterations with), a late
sample never shifts the following ones, and windows are exact ``(t_start, t_end)`` pairs.

Typical use by the trainer::

    with PowerRecorder(open_power_source("hwmon:ina226_u79"), rate_hz=100) as rec:
        rec.measure_baseline(5.0)
        for it in ...:
            t0 = time.monotonic(); step(); sync_device(); t1 = time.monotonic()
            windows.append((t0, t1))
    energies = [rec.energy_between(t0, t1) for t0, t1 in windows]
    rec.save(run_dir / "power.parquet")

Where the schedule runs (``mode``): ``process`` (the default where the source reads the system's
monotonic clock and ``fork`` exists) samples in a forked process writing to a shared ring that a thread
here drains in bulk (``e2train.power.sampler``), so the trainer's Python work cannot delay samples;
``thread`` samples in a thread of this process, which needs the GIL for a few microseconds per sample and
shows a pure-Python hot loop (up to ``sys.getswitchinterval()``, 5 ms) as jitter.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import multiprocessing as mp
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from e2train.power.base import PowerReading, PowerSource, PowerSourceError, Quantity, RailInfo
from e2train.power.integrate import Baseline, WindowEnergy, baseline_from_samples, window_energy
from e2train.power.sampler import SamplerProcess, ScheduleCounters, ScheduleCounts, run_schedule

if TYPE_CHECKING:  # typing.Self is 3.11+; the package supports 3.10
    from typing import Self

log = logging.getLogger(__name__)

# Columns of a storage chunk before the rail values.
_T, _READ, _LATE = 0, 1, 2
_NFIXED = 3
PARQUET_META_KEY = b"e2train.power"
MODES = ("auto", "process", "thread")
DRAIN_S = 0.005  # how often the recorder copies the sampler process's new rows


class RecorderError(PowerSourceError):
    """Misuse of the recorder (e.g. restarting a stopped one) or a sampling thread that died."""


@dataclass(frozen=True)
class RecorderStats:
    """How well the recorder kept its schedule, and what it cost.

    ``jitter_s`` is the std of the intervals between scheduled samples; ``late_*`` is how long after its
    deadline a sample was taken; ``cpu_overhead_pct`` is the sampling thread's CPU time as a percentage
    of one core over the recording.
    """

    samples: int
    duration_s: float
    target_rate_hz: float
    achieved_rate_hz: float
    rate_error_pct: float
    interval_mean_s: float
    jitter_s: float
    interval_max_s: float
    late_mean_s: float
    late_p99_s: float
    late_max_s: float
    missed_deadlines: int
    read_errors: int
    read_mean_s: float
    thread_cpu_s: float
    cpu_overhead_pct: float
    process_cpu_s: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


class Recording:
    """Samples of a finished (or snapshotted) recording: what the integration functions need.

    ``t_s`` has shape (N,), ``values`` (N, rails); values are W for power rails and J for counters.
    """

    def __init__(
        self,
        t_s: np.ndarray,
        values: np.ndarray,
        rails: tuple[RailInfo, ...],
        baseline: Baseline | None = None,
        meta: dict | None = None,
    ) -> None:
        self.t_s = np.asarray(t_s, dtype=float)
        self.values = np.asarray(values, dtype=float).reshape(len(self.t_s), len(rails))
        self.rails = rails
        self.baseline = baseline
        self.meta = meta or {}

    def __len__(self) -> int:
        return len(self.t_s)

    def rail_indices(self, rails: tuple[str, ...] | None) -> list[int]:
        names = [r.name for r in self.rails]
        if rails is None:
            return list(range(len(names)))
        missing = [r for r in rails if r not in names]
        if missing:
            raise KeyError(f"no rail {missing} in this recording; rails: {', '.join(names)}")
        return [names.index(r) for r in rails]

    def energy_between(
        self, t_start: float, t_end: float, rails: tuple[str, ...] | None = None
    ) -> WindowEnergy:
        idx = self.rail_indices(rails)
        # Only the rows near the window (a few samples beyond twice the refresh period each side): the
        # integration is local, and slicing first keeps a long recording from being copied per window.
        margin = 2.0 * max((r.refresh_s for r in self.rails), default=0.0)
        lo, hi = np.searchsorted(self.t_s, [t_start - margin, t_end + margin])
        rows = slice(max(int(lo) - 4, 0), int(hi) + 4)
        values = self.values[rows][:, idx]
        return window_energy(
            self.t_s[rows], values, tuple(self.rails[i] for i in idx), t_start, t_end, self.baseline
        )

    def to_frame(self):  # -> pandas.DataFrame (pandas imported lazily: the recorder itself needs only numpy)
        import pandas as pd

        data = {"t_s": self.t_s}
        for j, rail in enumerate(self.rails):
            data[rail.column] = self.values[:, j]
        return pd.DataFrame(data)

    def save(self, path: Path | str) -> Path:
        """Write the raw samples as Parquet: ``t_s`` plus ``<rail>_w`` / ``<rail>_j`` columns.

        Rails (unit, resolution, refresh), the baseline and the recorder's stats go into the file's schema
        metadata under ``e2train.power``, so the file alone is enough to recompute any window's energy.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(self.to_frame(), preserve_index=False)
        meta = {
            **self.meta,
            "rails": [
                {
                    "name": r.name,
                    "column": r.column,
                    "quantity": r.quantity.value,
                    "unit": r.unit,
                    "resolution": r.resolution,
                    "refresh_s": r.refresh_s,
                    "note": r.note,
                }
                for r in self.rails
            ],
            "clock": "time.monotonic",
            "baseline": self.baseline.to_dict() if self.baseline else None,
        }
        schema_meta = dict(table.schema.metadata or {})
        schema_meta[PARQUET_META_KEY] = json.dumps(meta).encode()
        pq.write_table(table.replace_schema_metadata(schema_meta), path)
        return path

    @classmethod
    def load(cls, path: Path | str) -> Recording:
        """Read a file written by ``save`` (rails and baseline restored from its metadata)."""
        import pyarrow.parquet as pq

        from e2train.power.integrate import RailBaseline

        table = pq.read_table(path)
        raw = (table.schema.metadata or {}).get(PARQUET_META_KEY)
        if raw is None:
            raise ValueError(f"{path}: no e2train.power metadata; not written by PowerRecorder.save")
        meta = json.loads(raw)
        rails = tuple(
            RailInfo(r["name"], Quantity(r["quantity"]), r["resolution"], r["refresh_s"], r.get("note", ""))
            for r in meta.pop("rails")
        )
        b = meta.pop("baseline")
        baseline = (
            Baseline(b["t_start_s"], b["t_end_s"], {k: RailBaseline(**v) for k, v in b["rails"].items()})
            if b
            else None
        )
        df = table.to_pandas()
        values = np.column_stack([df[r.column].to_numpy(float) for r in rails])
        return cls(df["t_s"].to_numpy(float), values, rails, baseline, meta)


def process_capable(source: PowerSource) -> bool:
    """A forked sampler shares the timeline only when the source reads the system's monotonic clock, and
    reads the same values only when nothing in this process feeds the source."""
    return ("fork" in mp.get_all_start_methods() and source.clock is time.monotonic
            and not source.state_in_process)


class PowerRecorder:
    """Samples ``source`` at ``rate_hz`` in a background process or thread into chunked numpy storage."""

    def __init__(self, source: PowerSource, rate_hz: float = 100.0, chunk_samples: int = 8192,
                 mode: str = "auto") -> None:
        """``mode`` "process" samples in a forked process (for long recordings beside busy Python
        work; the source's state is the one at ``start``), "thread" in this process, "auto" the
        process where possible."""
        if not rate_hz > 0:
            raise ValueError(f"rate_hz must be positive, got {rate_hz!r}")
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}; allowed: {', '.join(MODES)}")
        if mode == "process" and not process_capable(source):
            raise ValueError(f"mode 'process' needs fork and a source on time.monotonic; {source.name} is not")
        if mode == "auto":
            mode = "process" if process_capable(source) else "thread"
        self.mode = mode
        self._sampler: SamplerProcess | None = None
        self._pulled = 0  # rows copied from the sampler process
        self._pull_lock = threading.Lock()
        self.source = source
        self.rails = source.rails
        self.rate_hz = float(rate_hz)
        self.period_s = 1.0 / self.rate_hz
        self.clock = source.clock
        self.baseline: Baseline | None = None
        self._chunk = int(chunk_samples)
        self._width = _NFIXED + len(self.rails)
        self._chunks: list[np.ndarray] = []
        self._chunk_t0: list[float] = []  # first timestamp of each chunk, for bisecting windows
        self._n = 0  # rows written (the thread is the only writer)
        self._n_scheduled = 0  # rows from the schedule (the final stop() sample is not one)
        self._lock = threading.Lock()
        self._stop_evt = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = "new"  # new -> running -> stopped
        self._counts: ScheduleCounters = ScheduleCounts()
        self._thread_cpu_s = 0.0
        self._process_cpu0 = 0.0
        self._process_cpu_s = math.nan
        self._t_origin = math.nan
        self._t_stop = math.nan
        self.error: BaseException | None = None
        if source.refresh_period_s > 0 and self.rate_hz > 1.5 / source.refresh_period_s:
            log.info(
                "sampling %s at %.0f Hz, faster than its refresh (%.0f Hz): extra samples repeat values",
                source.name,
                self.rate_hz,
                1.0 / source.refresh_period_s,
            )

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> PowerRecorder:
        """Start sampling (no-op if already running). The first sample is taken immediately."""
        if self._state == "running":
            return self
        if self._state == "stopped":
            raise RecorderError("this recorder was stopped; create a new PowerRecorder for a new recording")
        self._state = "running"
        self._process_cpu0 = time.process_time()
        self._t_origin = self.clock()
        if self.mode == "process":
            self._sampler = SamplerProcess(self.source, self.period_s, self._width)
            self._counts = self._sampler.counters
            self._sampler.start()
            if math.isfinite(self._sampler.origin):  # NaN: the sampler failed before its first deadline
                self._t_origin = self._sampler.origin
        target = self._drain if self.mode == "process" else self._run
        self._thread = threading.Thread(target=target, name=f"power-recorder[{self.source.name}]", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> RecorderStats:
        """Stop sampling and take one last sample so windows ending just before ``stop`` are covered.

        Idempotent: later calls return the same stats. Safe from a KeyboardInterrupt handler.
        """
        if self._state == "running":
            self._stop_evt.set()
            if self._sampler is not None:
                self._sampler.stop()
            assert self._thread is not None
            self._thread.join()
            if self._sampler is not None:  # exited: its last rows and its CPU time are final now
                self._pull()
                self._thread_cpu_s = self._sampler.cpu_s
            self._state = "stopped"
            self._t_stop = self.clock()
            self._process_cpu_s = time.process_time() - self._process_cpu0
            try:
                self._append(self.source.read(), math.nan)
            except Exception as err:  # noqa: BLE001 - any sensor failure; the schedule's samples stay usable
                log.warning("final sample from %s failed: %s", self.source.name, err)
            if self.error is not None:
                log.error("power sampling thread stopped early: %s", self.error)
        elif self._state == "new":
            self._state = "stopped"
        return self.stats

    @property
    def loop(self) -> str:
        """What runs the schedule: "thread", or the sampler process's loop ("C" or "Python")."""
        return self._sampler.loop if self._sampler is not None else self.mode

    @property
    def running(self) -> bool:
        return self._state == "running"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the sampling thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        """Thread mode: the schedule in this thread."""
        cpu0 = time.thread_time()

        def emit(reading: PowerReading, late: float) -> None:
            self._append(reading, late)
            self._n_scheduled = self._n
            self._thread_cpu_s = time.thread_time() - cpu0

        self.error = run_schedule(self.source, self._t_origin, self.period_s, self._stop_evt.wait, emit,
                                  self._counts)
        self._thread_cpu_s = time.thread_time() - cpu0

    def _drain(self) -> None:
        """Process mode: pull the sampler's new rows until stopped (``stop`` pulls the last ones)."""
        while not self._stop_evt.wait(DRAIN_S):
            self._pull()

    def _pull(self) -> None:
        """Process mode: copy the rows the sampler wrote since the last pull (callable from any thread)."""
        sampler = self._sampler
        if sampler is None:
            return
        with self._pull_lock:
            rows = sampler.rows_since(self._pulled)
            self._pulled += len(rows)
            self._append_rows(rows)
            self._n_scheduled += len(rows)  # every pulled row is a scheduled one (stop()'s last is not)
            if self.error is None:
                self.error = sampler.error

    def _append(self, reading: PowerReading, late: float) -> None:
        self._append_rows(np.array([[reading.t_s, reading.read_s, late, *reading.values]], dtype=np.float64))

    def _append_rows(self, rows: np.ndarray) -> None:
        """Rows ``(t, read_s, late, values...)`` into the chunks, filling each before the next."""
        done = 0
        while done < len(rows):
            at = self._n % self._chunk
            if at == 0:
                chunk = np.empty((self._chunk, self._width), dtype=np.float64)
                with self._lock:
                    self._chunks.append(chunk)
                    self._chunk_t0.append(float(rows[done, _T]))
            take = min(self._chunk - at, len(rows) - done)
            self._chunks[-1][at : at + take] = rows[done : done + take]
            done += take
            self._n += take  # published last: readers never see a half-written row

    # -- access to samples -----------------------------------------------------------------------------

    def _rows(self, first_chunk: int = 0, last_chunk: int | None = None) -> np.ndarray:
        self._pull()  # process mode: what the sampler has written by now
        with self._lock:
            n = self._n
            chunks = self._chunks[first_chunk:last_chunk]
        if not chunks:
            return np.empty((0, self._width))
        filled_last = n - (first_chunk + len(chunks) - 1) * self._chunk
        parts = chunks[:-1] + [chunks[-1][: min(filled_last, self._chunk)]]
        return np.concatenate(parts) if len(parts) > 1 else parts[0].copy()

    def _rows_around(self, t_a: float, t_b: float) -> np.ndarray:
        """Rows covering [t_a, t_b] plus one sample beyond each end (for interpolation at boundaries)."""
        self._pull()
        with self._lock:
            starts = list(self._chunk_t0)
        first = max(bisect.bisect_right(starts, t_a) - 1, 0)
        last = bisect.bisect_right(starts, t_b) + 1
        rows = self._rows(first, last)
        lo = max(int(np.searchsorted(rows[:, _T], t_a, side="left")) - 1, 0)
        hi = int(np.searchsorted(rows[:, _T], t_b, side="right")) + 1
        return rows[lo:hi]

    def snapshot(self) -> Recording:
        """All samples so far (a copy), with rails, baseline and stats: safe while running."""
        rows = self._rows()
        meta = {"source": self.source.name, "rate_hz": self.rate_hz, "stats": self.stats.to_dict()}
        return Recording(rows[:, _T], rows[:, _NFIXED:], self.rails, self.baseline, meta)

    def to_frame(self):  # -> pandas.DataFrame
        return self.snapshot().to_frame()

    def save(self, path: Path | str) -> Path:
        """Raw samples to Parquet (see ``Recording.save``); call after ``stop`` for the complete record."""
        return self.snapshot().save(path)

    # -- baseline and windows --------------------------------------------------------------------------

    def measure_baseline(self, seconds: float) -> Baseline:
        """Record ``seconds`` of idle power (starting the recorder if needed) and keep it as the baseline.

        Call it before the run with the device idle: net energy subtracts this mean, and its std feeds the
        noise terms of every window's uncertainty.
        """
        if not seconds > 0:
            raise ValueError(f"baseline needs a positive duration, got {seconds!r}")
        self.start()
        t_a = self.clock()
        time.sleep(seconds)
        t_b = self.clock()
        # Wait for the sample that closes the window so the last interval is not extrapolated.
        deadline = t_b + 2 * self.period_s + 1.0
        while self._last_t() < t_b and self.clock() < deadline and self.running and self.error is None:
            time.sleep(self.period_s / 4)
        if self.error is not None:  # the sensor's own error, not an empty-window complaint
            raise RecorderError(f"reading {self.source.name} failed during the baseline: {self.error}") from self.error
        rows = self._rows_around(t_a, t_b)
        self.baseline = baseline_from_samples(rows[:, _T], rows[:, _NFIXED:], self.rails, t_a, t_b)
        fresh = min(r.n_eff for r in self.baseline.rails.values())
        if fresh < 10:
            log.warning(
                "baseline holds only %.0f fresh readings per rail; measure longer for a stable mean", fresh
            )
        return self.baseline

    def wait_for_sample(self, timeout_s: float = 2.0) -> float:
        """Time of the next sample from now on: a window that starts there has a reading at its start."""
        self.start()
        t_now = self.clock()
        deadline = t_now + timeout_s + 2 * self.period_s
        while self._last_t() < t_now and self.clock() < deadline and self.running and self.error is None:
            time.sleep(self.period_s / 4)
        if self._last_t() < t_now:
            raise RecorderError(f"no reading of {self.source.name} within {timeout_s:g} s"
                                + (f": {self.error}" if self.error is not None else ""))
        return self._last_t()

    def set_baseline(self, baseline: Baseline | None) -> None:
        """Use a baseline measured elsewhere (e.g. ``baseline_from_samples`` on an earlier recording)."""
        self.baseline = baseline

    def _last_t(self) -> float:
        self._pull()
        n = self._n
        if n == 0:
            return -math.inf
        return float(self._chunks[(n - 1) // self._chunk][(n - 1) % self._chunk, _T])

    def energy_between(
        self, t_start: float, t_end: float, rails: tuple[str, ...] | None = None
    ) -> WindowEnergy:
        """Energy of [t_start, t_end] (monotonic seconds), summed over ``rails`` (default: all).

        Works while running for windows already covered by samples; a window reaching past the last
        sample (or before the first) comes back ``complete=False`` with NaN energies. See
        ``e2train.power.integrate`` for the integration and the uncertainty formula.
        """
        margin = 2.0 * max(self.source.refresh_period_s, self.period_s)
        rows = self._rows_around(t_start - margin, t_end + margin)
        rec = Recording(rows[:, _T], rows[:, _NFIXED:], self.rails, self.baseline)
        return rec.energy_between(t_start, t_end, rails)

    def energies_between(
        self, windows: list[tuple[float, float]], rails: tuple[str, ...] | None = None
    ) -> list[WindowEnergy]:
        """``energy_between`` for many windows over one snapshot (cheaper after ``stop``)."""
        rec = self.snapshot()
        return [rec.energy_between(a, b, rails) for a, b in windows]

    # -- stats -----------------------------------------------------------------------------------------

    @property
    def stats(self) -> RecorderStats:
        rows = self._rows()[: self._n_scheduled]
        n = len(rows)
        t = rows[:, _T]
        dt = np.diff(t)
        duration = float(t[-1] - t[0]) if n > 1 else 0.0
        achieved = (n - 1) / duration if duration > 0 else math.nan
        late = rows[:, _LATE]
        wall = (self._t_stop if self._state == "stopped" else self.clock()) - self._t_origin
        return RecorderStats(
            samples=n,
            duration_s=duration,
            target_rate_hz=self.rate_hz,
            achieved_rate_hz=achieved,
            rate_error_pct=100.0 * (achieved - self.rate_hz) / self.rate_hz,
            interval_mean_s=float(dt.mean()) if n > 1 else math.nan,
            jitter_s=float(dt.std()) if n > 1 else math.nan,
            interval_max_s=float(dt.max()) if n > 1 else math.nan,
            late_mean_s=float(late.mean()) if n else math.nan,
            late_p99_s=float(np.percentile(late, 99)) if n else math.nan,
            late_max_s=float(late.max()) if n else math.nan,
            missed_deadlines=self._counts.missed,
            read_errors=self._counts.read_errors,
            read_mean_s=float(rows[:, _READ].mean()) if n else math.nan,
            thread_cpu_s=self._thread_cpu_s,
            cpu_overhead_pct=100.0 * self._thread_cpu_s / wall if wall > 0 else math.nan,
            process_cpu_s=self._process_cpu_s,
        )
