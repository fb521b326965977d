"""The recorder's sampling schedule, and the process that runs it away from the training process.

Why a process: a sampling thread shares the GIL with the trainer, and every stretch of pure-Python
work there (the optimizer step, a data loader, a progress bar) delays its samples by up to the
interpreter's switch interval; at 100 Hz that was 3.7 ms of jitter, at 1 kHz it would drop
samples.  A forked process has its own interpreter: it sleeps to absolute deadlines on
``time.monotonic`` (the system-wide clock the trainer stamps iterations with) and writes each
reading into a preallocated shared ring, which the recorder drains in bulk.

The schedule itself (``run_schedule``) is the same for the thread and the process: absolute
deadlines, a late sample never shifts the next ones, whole missed periods are skipped and counted.
For sources that are plain files (hwmon) the process runs that schedule as a C loop
(``native_sampler``), which at 1 kHz costs about half the Python loop's CPU.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import multiprocessing as mp
import os
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from e2train.native import NativeBuildError
from e2train.power import native_sampler
from e2train.power.base import PowerReading, PowerSource, PowerSourceError

log = logging.getLogger(__name__)

MAX_CONSECUTIVE_ERRORS = 10
RING_SAMPLES = 1 << 16  # 65 s at 1 kHz between drains: the recorder drains every few milliseconds
SAMPLER_NICE = -10  # a process that sleeps 99 % of the time may wake first; ignored without permission
_ERROR_BYTES = 1024


class ScheduleCounters(Protocol):
    missed: int
    read_errors: int


@dataclass
class ScheduleCounts:
    """The schedule's counters where it runs in this process (a thread)."""

    missed: int = 0
    read_errors: int = 0


def run_schedule(source: PowerSource, origin: float, period: float, wait_stop: Callable[[float], bool],
                 emit: Callable[[PowerReading, float], None], counters: ScheduleCounters) -> BaseException | None:
    """Read ``source`` at ``origin + k * period`` until ``wait_stop`` says stop; returns the error
    that ended it after ``MAX_CONSECUTIVE_ERRORS`` failed reads in a row, else None.

    ``wait_stop(delay)`` sleeps up to ``delay`` seconds and tells whether to stop; ``emit(reading,
    late)`` stores a sample taken ``late`` seconds after its deadline.
    """
    clock = source.clock
    k = 0
    consecutive_errors = 0
    t_next = origin
    while True:
        if wait_stop(max(t_next - clock(), 0.0)):
            return None
        late = clock() - t_next
        try:
            reading = source.read()
            consecutive_errors = 0
        except Exception as err:  # noqa: BLE001 - sensors fail in many ways; count, retry, give up at N
            counters.read_errors += 1
            consecutive_errors += 1
            log.warning("reading %s failed (%d in a row): %s", source.name, consecutive_errors, err)
            if consecutive_errors >= MAX_CONSECUTIVE_ERRORS:
                return err
        else:
            emit(reading, late)
        k += 1
        t_next = origin + k * period
        behind = clock() - t_next
        if behind > period:  # more than a whole period late: skip the missed deadlines, do not burst
            skip = int(behind // period)
            counters.missed += skip
            k += skip
            t_next = origin + k * period


class SharedCounts:
    """The schedule's counters in shared memory: written by the sampler process, read by the recorder."""

    def __init__(self, ctx: mp.context.BaseContext) -> None:
        self._missed = ctx.RawValue("q", 0)
        self._read_errors = ctx.RawValue("q", 0)

    @property
    def missed(self) -> int:
        return int(self._missed.value)

    @missed.setter
    def missed(self, value: int) -> None:
        self._missed.value = value

    @property
    def read_errors(self) -> int:
        return int(self._read_errors.value)

    @read_errors.setter
    def read_errors(self, value: int) -> None:
        self._read_errors.value = value

    def c_pointers(self) -> tuple[object, object]:
        """Both counters by reference, for the C loop (``native_sampler``)."""
        return ctypes.byref(self._missed), ctypes.byref(self._read_errors)


def _native_library(source: PowerSource) -> Path | None:
    """The C loop's library when ``source`` offers its files and it builds here, else None (Python loop)."""
    if not callable(getattr(source, "native_files", None)):
        return None
    try:
        return native_sampler.library_path()
    except NativeBuildError as err:
        log.info("the power sampler runs its Python loop: %s", err)
        return None


class SamplerProcess:
    """``run_schedule`` in a forked process, writing rows ``(t, read_s, late, values...)`` to a ring.

    Where the source offers its files (``native_files``: hwmon) and a C compiler exists, the process runs
    the same schedule as a C loop instead (``native_sampler``); ``loop`` says which ("C" or "Python").
    """

    def __init__(self, source: PowerSource, period: float, width: int, capacity: int = RING_SAMPLES) -> None:
        ctx = mp.get_context("fork")
        self.width, self.capacity = width, capacity
        self._ring = ctx.RawArray("d", capacity * width)
        self._written = ctx.RawValue("q", 0)
        self._origin = ctx.RawValue("d", math.nan)
        self._stop = ctx.RawValue("b", 0)
        self._cpu_s = ctx.RawValue("d", 0.0)
        self._error = ctx.RawArray("c", _ERROR_BYTES)
        self._error_size = ctx.RawValue("q", 0)
        self.counters = SharedCounts(ctx)
        self._native_lib = _native_library(source)  # built here: a build problem shows in this process
        self.loop = "Python" if self._native_lib is None else "C"
        self._process = ctx.Process(target=self._main, args=(source, period), daemon=True,
                                    name=f"power-sampler[{source.name}]")

    def start(self, timeout_s: float = 10.0) -> None:
        """Fork the sampler and return once it has taken its first reading (or stopped trying), so a
        window opened after ``start`` has a sample at its beginning, as in a thread."""
        self._process.start()
        deadline = time.monotonic() + timeout_s
        while (not self._written.value and not self._error_size.value and self._process.is_alive()
               and time.monotonic() < deadline):
            time.sleep(0.0005)

    @property
    def origin(self) -> float:
        """The schedule's first deadline (monotonic seconds), chosen by the sampler when it started."""
        return float(self._origin.value)

    def _main(self, source: PowerSource, period: float) -> None:  # in the child
        with contextlib.suppress(OSError):  # PermissionError without CAP_SYS_NICE: run at normal priority
            os.setpriority(os.PRIO_PROCESS, 0, SAMPLER_NICE)
        ring = np.frombuffer(self._ring, dtype=np.float64).reshape(self.capacity, self.width)

        def wait_stop(delay: float) -> bool:
            if delay > 0:
                time.sleep(delay)
            return bool(self._stop.value)

        def emit(reading: PowerReading, late: float) -> None:
            n = self._written.value
            ring[n % self.capacity] = (reading.t_s, reading.read_s, late, *reading.values)
            self._written.value = n + 1  # published last: the reader never sees a half-written row

        origin = source.clock()  # here, not at fork: the child's start-up would make the first samples late
        self._origin.value = origin
        if self._native_lib is not None:
            error = self._run_native(source, origin, period)
        else:
            error = run_schedule(source, origin, period, wait_stop, emit, self.counters)
        self._cpu_s.value = time.process_time()
        if error is not None:  # the exception itself where it pickles small enough, else its text
            try:
                blob = pickle.dumps(error)
            except Exception:  # noqa: BLE001 - any unpicklable exception
                blob = b""
            if not blob or len(blob) > _ERROR_BYTES - 1:
                blob = pickle.dumps(PowerSourceError(f"{type(error).__name__}: {error}"[:_ERROR_BYTES // 2]))
            self._error.raw = blob.ljust(_ERROR_BYTES, b"\0")[:_ERROR_BYTES]
            self._error_size.value = len(blob)

    def _run_native(self, source: PowerSource, origin: float, period: float) -> BaseException | None:  # in the child
        """The C loop until stopped; the error that ended it, as ``run_schedule`` returns it."""
        lib = native_sampler.load(self._native_lib)  # type: ignore[arg-type]
        fds, two_files = source.native_files()  # type: ignore[attr-defined]
        bad_rail = ctypes.c_int(-1)
        missed, read_errors = self.counters.c_pointers()
        err = lib.e2t_sample_loop((ctypes.c_int * len(fds))(*fds), (ctypes.c_int * len(two_files))(*two_files),
                                  len(two_files), origin, period, self._ring, self.capacity, self.width,
                                  ctypes.byref(self._written), ctypes.byref(self._stop), missed, read_errors,
                                  MAX_CONSECUTIVE_ERRORS, ctypes.byref(bad_rail))
        if err == 0:
            return None
        rail = source.rails[bad_rail.value].name if 0 <= bad_rail.value < len(source.rails) else "?"
        return PowerSourceError(f"reading rail {rail} of {source.name} failed {MAX_CONSECUTIVE_ERRORS} times in a "
                                f"row: [Errno {err}] {os.strerror(err)}")

    def rows_since(self, start: int) -> np.ndarray:
        """Rows written from row number ``start`` on (a copy); rows overwritten before the call are lost
        and logged."""
        end = int(self._written.value)
        if end - start > self.capacity:
            log.error("power sampler ring overran: %d samples lost", end - start - self.capacity)
            start = end - self.capacity
        ring = np.frombuffer(self._ring, dtype=np.float64).reshape(self.capacity, self.width)
        index = np.arange(start, end) % self.capacity
        return ring[index].copy()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.value = 1
        self._process.join(timeout_s)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()

    @property
    def written(self) -> int:
        return int(self._written.value)

    @property
    def cpu_s(self) -> float:
        """CPU seconds the sampler process used (known once it has exited)."""
        return float(self._cpu_s.value)

    @property
    def error(self) -> BaseException | None:
        """The exception that ended the sampling (after ``MAX_CONSECUTIVE_ERRORS`` failed reads), if any."""
        size = int(self._error_size.value)
        return pickle.loads(self._error.raw[:size]) if size else None
