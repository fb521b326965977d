"""Where kernels run, behind one PYNQ-shaped interface (see ``base``).

``open_device(name)`` picks an implementation by name:

- ``"emulate"``: ``EmulatedDevice``, in-process, executes the Python reference (fast; for tests
  and for training without hardware);
- ``"pynq"``: ``PynqDevice``, a board through pynq and an overlay from ``bitstreams/``;
- ``"rtl"``: never opened by name: the ``CocotbDevice`` exists only inside a simulation, and
  ``run_in_simulator(job)`` hands it to ``job(device)``.
"""

from __future__ import annotations

from typing import Any

from e2train.device.base import (
    Buffer,
    Device,
    DeviceBusy,
    DeviceError,
    DeviceMemoryError,
    DeviceTimeout,
    KernelHandle,
    KernelLimits,
    NoBoardError,
    UnknownKernelError,
)
from e2train.device.emulated import EmulatedDevice

DEVICE_NAMES = ("emulate", "pynq", "rtl")


def open_device(name: str, **options: Any) -> Device:
    """Open a device by name; ``options`` go to its constructor."""
    if name == "emulate":
        return EmulatedDevice(**options)
    if name == "pynq":
        from e2train.device.pynq_device import PynqDevice

        return PynqDevice(**options)
    if name == "rtl":
        raise DeviceError(
            "the RTL device exists only inside a simulation: run the code through "
            "e2train.device.rtl_sim.run_in_simulator(job), which calls job(device) with it, or use the "
            "'rtl' kernel backend, which starts a simulation per call"
        )
    raise ValueError(f"unknown device {name!r}; allowed: {', '.join(DEVICE_NAMES)}")


__all__ = [
    "DEVICE_NAMES",
    "Buffer",
    "Device",
    "DeviceBusy",
    "DeviceError",
    "DeviceMemoryError",
    "DeviceTimeout",
    "EmulatedDevice",
    "KernelHandle",
    "KernelLimits",
    "NoBoardError",
    "UnknownKernelError",
    "open_device",
]
