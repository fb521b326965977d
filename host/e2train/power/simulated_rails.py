"""Simulated power rails of a simulated or emulated accelerator: watts from activity counters.

SIMULATED. Nothing here is measured: these rails exist so that the energy pipeline (recorder,
per-iteration windows, reports) can be exercised end to end with the emulated device and the RTL
simulator, and so that its numbers move with the work the kernels do.  The source is named
``simulated-rails`` and carries ``simulated = True``; reports must label its joules as such.

Model (a Zynq-like board at the default 100 MHz kernel clock; every coefficient is a parameter of
``RailModel`` and a placeholder of the right order, not a calibration):

    PS      = ps_w                                   + ps_byte_j  * bytes moved through the HP port
    PL_INT  = pl_static_w + pl_clock_w * busy        + mac_j * MACs + pl_byte_j * bytes moved
    DDR     = ddr_idle_w                             + ddr_byte_j * bytes moved

where ``busy`` is 1 while a kernel runs and 0 otherwise.  Each kernel run (reported by a device
through ``record_run`` with its counters) becomes an *activity*: an interval of
``CYCLES_BUSY / clock_hz`` seconds on the monotonic clock, starting when the run was started (or
when the same kernel's previous activity ends: emulated runs finish faster than the modelled
hardware would), over which its dynamic energy is spread evenly.  Rail power is therefore
piecewise constant and the exact energy of any window is known (``energy_j``).

Sensor (INA226-like, the ZCU102/ZCU104 parts): a reading is the average of the true power over
the last *completed* averaging window of ``2 * conversion_s * averages`` seconds (shunt and bus
conversions of 1.1 ms, 16 averages: 35.2 ms), quantised to the power LSB ``25 * current_lsb_a``.
Reading faster than the window only repeats a value, and the reported power lags the truth by
one window: both are what the recorder's uncertainty model expects from a real INA226.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from e2train.power.base import PowerReading, PowerSource, Quantity, RailInfo

RAILS = ("PS", "PL_INT", "DDR")
INA226_CONVERSION_S = 1.1e-3
INA226_AVERAGES = 16
INA226_POWER_LSB_PER_CURRENT_LSB = 25.0  # datasheet: Power_LSB = 25 x Current_LSB


@dataclass(frozen=True)
class RailModel:
    """Coefficients of the rail model (W and J); see the module docstring for the formulas."""

    ps_w: float = 1.30  # two Cortex-A9 cores running Linux and the driver
    ps_byte_j: float = 20e-12  # PS interconnect / HP port per byte
    pl_static_w: float = 0.12  # Zynq-7020 PL static power at room temperature
    pl_clock_w: float = 0.06  # clock tree, control and buffers of a running kernel
    mac_j: float = 5e-12  # one 8 x 16-bit MAC in a DSP48 with its routing
    pl_byte_j: float = 5e-12  # AXI datapath in the PL per byte
    ddr_idle_w: float = 0.40  # DDR3 background and refresh
    ddr_byte_j: float = 250e-12  # DRAM access per byte (1.3-2.6 nJ per 64 bits, Horowitz)

    def baseline_w(self) -> np.ndarray:
        return np.array([self.ps_w, self.pl_static_w, self.ddr_idle_w])

    def run_energy_j(self, busy_s: float, macs: int, bytes_read: int, bytes_written: int) -> np.ndarray:
        """Dynamic energy per rail (PS, PL_INT, DDR) of one run, above the baseline."""
        moved = float(bytes_read + bytes_written)
        return np.array(
            [
                self.ps_byte_j * moved,
                self.pl_clock_w * busy_s + self.mac_j * float(macs) + self.pl_byte_j * moved,
                self.ddr_byte_j * moved,
            ]
        )


@dataclass(frozen=True)
class Activity:
    """One kernel run placed on the monotonic clock: dynamic power per rail over [start, end)."""

    start_s: float
    end_s: float
    power_w: tuple[float, float, float]  # (PS, PL_INT, DDR) above the baseline
    kernel: str = ""

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def energy_j(self) -> np.ndarray:
        return np.asarray(self.power_w) * self.duration_s


class SimulatedRails(PowerSource):
    """PS / PL_INT / DDR rails driven by kernel activity; a ``PowerSource`` for the recorder.

    Thread-safe: a device records runs from the training thread while the recorder reads from its
    own thread (never a forked process: the runs are recorded in this one).
    """

    state_in_process = True

    kind = "simulated-rails"
    simulated = True

    def __init__(
        self,
        model: RailModel | None = None,
        *,
        clock_hz: float = 100e6,
        conversion_s: float = INA226_CONVERSION_S,
        averages: int = INA226_AVERAGES,
        current_lsb_a: float = 1e-4,
        clock: Callable[[], float] = time.monotonic,
        name: str = "simulated-rails",
    ) -> None:
        if clock_hz <= 0 or conversion_s <= 0 or averages < 1 or current_lsb_a < 0:
            raise ValueError("clock_hz, conversion_s, averages must be positive and current_lsb_a >= 0")
        self.model = model or RailModel()
        self.clock_hz = clock_hz
        self.window_s = 2.0 * conversion_s * averages  # shunt + bus conversion, averaged
        self.lsb_w = INA226_POWER_LSB_PER_CURRENT_LSB * current_lsb_a
        note = "SIMULATED from kernel activity counters (INA226-like averaging and LSB)"
        rails = tuple(RailInfo(r, Quantity.POWER, self.lsb_w, self.window_s, note=note) for r in RAILS)
        super().__init__(name, rails)
        self.clock = clock
        self.t0 = clock()
        self._baseline = self.model.baseline_w()
        self._starts: list[float] = []
        self._acts: list[Activity] = []
        self._max_duration = 0.0
        self._busy_until: dict[str, float] = {}
        self._lock = threading.Lock()

    # activity ---------------------------------------------------------------------------------
    def add_activity(
        self,
        start_s: float,
        duration_s: float,
        energy_j: tuple[float, float, float] | np.ndarray,
        kernel: str = "",
    ) -> Activity:
        """Place known dynamic energy (PS, PL_INT, DDR) evenly over ``[start_s, start_s + duration_s)``."""
        if duration_s <= 0:
            raise ValueError(f"an activity needs a positive duration, got {duration_s}")
        power = tuple(float(e) / duration_s for e in np.asarray(energy_j, dtype=float))
        act = Activity(start_s, start_s + duration_s, power, kernel)  # type: ignore[arg-type]
        with self._lock:
            i = bisect.bisect_right(self._starts, start_s)
            self._starts.insert(i, start_s)
            self._acts.insert(i, act)
            self._max_duration = max(self._max_duration, duration_s)
        return act

    def record_run(
        self,
        kernel: str,
        cycles_busy: int,
        macs: int,
        bytes_read: int,
        bytes_written: int,
        start_s: float | None = None,
    ) -> Activity:
        """A device reports one kernel run; it is queued behind the same kernel's previous run."""
        now = self.clock() if start_s is None else start_s
        busy_s = max(int(cycles_busy), 1) / self.clock_hz
        with self._lock:
            begin = max(now, self._busy_until.get(kernel, -math.inf))
            self._busy_until[kernel] = begin + busy_s
        energy = self.model.run_energy_j(busy_s, macs, bytes_read, bytes_written)
        return self.add_activity(begin, busy_s, energy, kernel)

    @property
    def activities(self) -> tuple[Activity, ...]:
        with self._lock:
            return tuple(self._acts)

    # the true signal --------------------------------------------------------------------------
    def _overlapping(self, a: float, b: float) -> list[Activity]:
        lo = bisect.bisect_right(self._starts, a - self._max_duration)
        hi = bisect.bisect_left(self._starts, b)
        return [act for act in self._acts[lo:hi] if act.end_s > a]

    def true_power_w(self, t_s: float) -> np.ndarray:
        """Exact rail power (PS, PL_INT, DDR) at monotonic time ``t_s``."""
        with self._lock:
            power = self._baseline.copy()
            for act in self._overlapping(t_s, t_s + 1e-15):
                if act.start_s <= t_s < act.end_s:
                    power += np.asarray(act.power_w)
        return power

    def energy_j(self, t_a: float, t_b: float) -> np.ndarray:
        """Exact energy per rail over ``[t_a, t_b]`` (the integral of ``true_power_w``)."""
        if t_b < t_a:
            raise ValueError(f"window ends before it starts: [{t_a}, {t_b}]")
        with self._lock:
            energy = self._baseline * (t_b - t_a)
            for act in self._overlapping(t_a, t_b):
                overlap = min(act.end_s, t_b) - max(act.start_s, t_a)
                if overlap > 0:
                    energy = energy + np.asarray(act.power_w) * overlap
        return energy

    # the sensor -------------------------------------------------------------------------------
    def sensor_power_w(self, t_s: float) -> np.ndarray:
        """What an INA226 reports at ``t_s``: the last completed window's average, quantised."""
        k = math.floor((t_s - self.t0) / self.window_s)
        end = self.t0 + k * self.window_s
        average = self.energy_j(end - self.window_s, end) / self.window_s
        if self.lsb_w > 0:
            average = np.round(average / self.lsb_w) * self.lsb_w
        return average

    def _read_values(self) -> tuple[float, ...]:
        return tuple(float(v) for v in self.sensor_power_w(self.clock()))

    def read(self) -> PowerReading:
        """Stamp the reading with the instant the sensor model was evaluated at (no read latency)."""
        t = self.clock()
        return PowerReading(t_s=t, values=tuple(float(v) for v in self.sensor_power_w(t)))
