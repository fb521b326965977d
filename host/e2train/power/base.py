"""The one interface every power source implements, and the small types it returns.

Why an ABC: the recorder, the CLI and the trainer must not care whether watts come from PYNQ's
libsensors, a hwmon sysfs file, a RAPL counter, NVML or a synthetic signal. What they do care about
is (a) whether a rail is instantaneous power or a cumulative energy counter (integrated differently),
(b) the sensor's resolution and refresh period (both enter the uncertainty of a window's energy).
Those are therefore part of the rail description, not an afterthought.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

import numpy as np

from e2train.errors import E2TrainError

if TYPE_CHECKING:  # typing.Self is 3.11+; the package supports 3.10
    from typing import Self


class Quantity(str, Enum):
    """What a rail's value means; decides how a window's energy is computed from samples."""

    POWER = "power"  # instantaneous power in W: integrate (trapezoid)
    ENERGY = "energy"  # cumulative energy counter in J: difference at the window boundaries


UNITS = {Quantity.POWER: "W", Quantity.ENERGY: "J"}


@dataclass(frozen=True)
class RailInfo:
    """One measured rail of a source.

    ``resolution`` is the value's quantum (LSB) in the rail's unit (W for power, J for energy);
    ``refresh_s`` is how often the sensor produces a fresh value: reading faster only repeats it, and a
    window shorter than this cannot be measured on its own.
    """

    name: str
    quantity: Quantity
    resolution: float
    refresh_s: float
    note: str = ""

    @property
    def unit(self) -> str:
        return UNITS[self.quantity]

    @property
    def column(self) -> str:
        """Column name in saved recordings: the rail name with its unit, e.g. ``INT_w`` or ``core_j``."""
        return f"{self.name}_{self.unit.lower()}"


@dataclass(frozen=True)
class PowerReading:
    """One sample of every rail of a source.

    ``t_s`` is ``time.monotonic()`` at the middle of the read: slow sensors (PMBus reads take 12-100 ms)
    would otherwise bias every window by half the read time. ``values`` follow the source's ``rails``
    order, in W or J per rail.
    """

    t_s: float
    values: tuple[float, ...]
    read_s: float = 0.0

    def as_dict(self, rails: tuple[RailInfo, ...]) -> dict[str, float]:
        return {r.name: v for r, v in zip(rails, self.values, strict=True)}


@dataclass(frozen=True)
class SourceInfo:
    """What ``list_power_sources`` says about one source: never just absent, always with a reason."""

    kind: str
    spec: str
    available: bool
    reason: str
    rails: tuple[RailInfo, ...] = ()


class PowerSourceError(E2TrainError, RuntimeError):
    """Base class of the power package's errors."""


class PowerSourceUnavailable(PowerSourceError):
    """The source cannot be used on this machine; the message says why and what to do."""


class PowerSpecError(PowerSourceError, ValueError):
    """A source spec (``SOURCE[:RAIL,...]``) names an unknown source or rail."""


class PowerSource(ABC):
    """A set of rails read together.

    Subclasses implement ``_read_values`` (one value per rail, in the rail's unit); the base class
    timestamps the read with ``time.monotonic`` so every source shares the trainer's clock.
    """

    kind: str = "abstract"
    # False where readings depend on state this process keeps changing (simulated rails fed by a
    # device model): a forked sampler would read a frozen copy, so the recorder samples in a thread
    state_in_process: bool = False

    def __init__(self, name: str, rails: tuple[RailInfo, ...]) -> None:
        if not rails:
            raise PowerSourceUnavailable(f"{name}: no rails selected")
        self.name = name
        self.rails = rails
        self.clock = time.monotonic

    @property
    def rail_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.rails)

    @property
    def resolution(self) -> np.ndarray:
        """Per-rail LSB in W or J (the uncertainty model's quantisation term)."""
        return np.array([r.resolution for r in self.rails], dtype=float)

    @property
    def refresh_period_s(self) -> float:
        """The slowest rail's refresh period: below it, windows are flagged ``short_window``."""
        return max(r.refresh_s for r in self.rails)

    @property
    def has_energy_counters(self) -> bool:
        return any(r.quantity is Quantity.ENERGY for r in self.rails)

    @abstractmethod
    def _read_values(self) -> tuple[float, ...]:
        """Read every rail once, in rail order (W or J)."""

    def read(self) -> PowerReading:
        t0 = self.clock()
        values = self._read_values()
        t1 = self.clock()
        return PowerReading(t_s=0.5 * (t0 + t1), values=values, read_s=t1 - t0)

    def close(self) -> None:
        """Release resources (NVML handles, files); safe to call twice."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        rails = ", ".join(f"{r.name}[{r.unit}]" for r in self.rails)
        return f"{type(self).__name__}({self.name!r}, rails=({rails}))"


def select_rails(
    available: dict[str, RailInfo], wanted: tuple[str, ...], source: str
) -> tuple[RailInfo, ...]:
    """Pick rails by name in the order asked, or all of them when none are asked.

    Raises ``PowerSpecError`` naming the available rails, so a typo in a spec is a one-line fix.
    """
    if not wanted:
        return tuple(available.values())
    missing = [w for w in wanted if w not in available]
    if missing:
        raise PowerSpecError(
            f"{source}: no rail {', '.join(map(repr, missing))}; available: {', '.join(available) or 'none'}"
        )
    return tuple(available[w] for w in wanted)
