"""Power sources (PYNQ rails, hwmon sysfs, RAPL, NVML, simulated) and the recorder that turns their
samples into joules per iteration window, with uncertainty. See ``integrate`` for the formulas."""

from e2train.power.base import (
    PowerReading,
    PowerSource,
    PowerSourceError,
    PowerSourceUnavailable,
    PowerSpecError,
    Quantity,
    RailInfo,
    SourceInfo,
)
from e2train.power.datarecorder import DataRecorderFormatError, DataRecorderImport, read_datarecorder
from e2train.power.factory import SOURCE_KINDS, list_power_sources, open_power_source, parse_spec
from e2train.power.integrate import Baseline, RailBaseline, RailEnergy, WindowEnergy
from e2train.power.recorder import PowerRecorder, RecorderError, RecorderStats, Recording
from e2train.power.simulated import SimulatedSource

__all__ = [
    "SOURCE_KINDS",
    "Baseline",
    "DataRecorderFormatError",
    "DataRecorderImport",
    "PowerReading",
    "PowerRecorder",
    "PowerSource",
    "PowerSourceError",
    "PowerSourceUnavailable",
    "PowerSpecError",
    "Quantity",
    "RailBaseline",
    "RailEnergy",
    "RailInfo",
    "RecorderError",
    "RecorderStats",
    "Recording",
    "SimulatedSource",
    "SourceInfo",
    "WindowEnergy",
    "list_power_sources",
    "open_power_source",
    "parse_spec",
    "read_datarecorder",
]
