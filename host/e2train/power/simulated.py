"""A synthetic or replayed power source: tests and demos need watts without a board.

Signals are functions of the time since the source was created (``t - source.t0``), so a test that
knows the function knows the exact energy of any window. Optional sensor realism: sample-and-hold at
``refresh_s`` (a sensor only updates that often), quantisation to ``resolution`` and seeded Gaussian
noise, which lets tests exercise the uncertainty model the way a real INA226 would.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

import numpy as np

from e2train.power.base import PowerReading, PowerSource, Quantity, RailInfo

Signal = Callable[[float], float]


def square_wave(
    low_w: float, high_w: float, period_s: float, duty: float = 0.5, phase_s: float = 0.0
) -> Signal:
    """Piecewise-constant power: ``high_w`` for ``duty`` of every period, like iterations and gaps."""

    def signal(t: float) -> float:
        return high_w if ((t + phase_s) % period_s) < duty * period_s else low_w

    return signal


def sine_wave(mean_w: float, amplitude_w: float, period_s: float) -> Signal:
    def signal(t: float) -> float:
        return mean_w + amplitude_w * math.sin(2.0 * math.pi * t / period_s)

    return signal


def default_signals(names: tuple[str, ...]) -> dict[str, Signal]:
    """Demo rails: a whole-board rail with training-like bursts and a smoother PL rail."""
    names = names or ("board", "pl")
    signals: dict[str, Signal] = {}
    for i, name in enumerate(names):
        if i % 2 == 0:
            signals[name] = square_wave(2.5 + 0.1 * i, 4.0 + 0.1 * i, period_s=0.5 + 0.1 * i, duty=0.6)
        else:
            signals[name] = sine_wave(0.6 + 0.05 * i, 0.3, period_s=2.0 + i)
    return signals


class SimulatedSource(PowerSource):
    """Rails whose values come from Python functions of time (power in W or cumulative energy in J)."""

    kind = "simulated"

    def __init__(
        self,
        signals: Mapping[str, Signal] | None = None,
        *,
        quantity: Quantity = Quantity.POWER,
        resolution: float = 0.0,
        refresh_s: float = 0.0,
        noise_w: float = 0.0,
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
        name: str | None = None,
    ) -> None:
        signals = dict(signals) if signals else default_signals(())
        rails = tuple(
            RailInfo(n, quantity, resolution, refresh_s, note="simulated" + (" (held)" if refresh_s else ""))
            for n in signals
        )
        super().__init__(name or f"simulated:{','.join(signals)}", rails)
        self.clock = clock
        self._signals = tuple(signals.values())
        self._quantity = quantity
        self._resolution = resolution
        self._refresh_s = refresh_s
        self._noise = noise_w
        self._rng = np.random.default_rng(seed)
        self.t0 = clock()

    def _value(self, signal: Signal, t: float) -> float:
        if self._refresh_s > 0.0:
            t = math.floor(t / self._refresh_s) * self._refresh_s  # sample-and-hold like a real sensor
        v = signal(t)
        if self._noise > 0.0:
            v += float(self._rng.normal(0.0, self._noise))
        if self._resolution > 0.0:
            v = round(v / self._resolution) * self._resolution
        return v

    def _read_values(self) -> tuple[float, ...]:
        t = self.clock() - self.t0
        return tuple(self._value(s, t) for s in self._signals)

    def read(self) -> PowerReading:
        """Stamp the reading with the very instant the signals were evaluated at, so that a test's exact
        integral of the signal and the recorder's timestamps agree to the last bit."""
        t = self.clock()
        return PowerReading(t_s=t, values=tuple(self._value(s, t - self.t0) for s in self._signals))

    @classmethod
    def replay(
        cls,
        t_s: np.ndarray,
        values: Mapping[str, np.ndarray],
        *,
        quantity: Quantity = Quantity.POWER,
        loop: bool = True,
        **kwargs: object,
    ) -> SimulatedSource:
        """Replay a recording (e.g. a saved Parquet file): values linearly interpolated, looping if asked.

        Energy counters never loop (a counter that jumps back would read as negative energy).
        """
        loop = loop and quantity is Quantity.POWER
        t = np.asarray(t_s, dtype=float) - float(t_s[0])
        span = float(t[-1]) if len(t) > 1 else 1.0

        def make(v: np.ndarray) -> Signal:
            arr = np.asarray(v, dtype=float)

            def signal(x: float) -> float:
                if loop and span > 0:
                    x = x % span
                return float(np.interp(x, t, arr))

            return signal

        return cls({k: make(v) for k, v in values.items()}, quantity=quantity, **kwargs)  # type: ignore[arg-type]
