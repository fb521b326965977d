"""Kernels through the drivers on a device chosen by name: "emulate", "pynq" or "rtl".

Why a backend on top of the drivers: the rest of the project calls kernels through the backend
API (``gemm(a, b, mode)``, ``psg_wgrad(x, g, tau, x_signed)``, the reference's signatures).  This
module puts the one driver implementation behind that API, so that training, tests and benchmarks
can switch between the emulation, a board and the RTL simulator with a name.

Selecting the device: ``open_backend("pynq", board="pynq-z2")`` opens one by name (options go to
the device); ``DeviceBackend(device)`` wraps any ``Device`` object, such as the simulation's device
that ``run_in_simulator`` hands to its job.  Nothing is held in module state: the caller owns the
backend and closes it.

Results equal the reference's bit for bit and carry the device's counters (plus ``CALLS``, the
number of kernel runs a tiled call took).  Operands above the kernel's limits are tiled (see
``e2train.drivers``), so this backend accepts gemm sizes the reference refuses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from e2train.device import Device, open_device
from e2train.drivers import GemmDriver, PsgDriver
from e2train.kernels.reference import GemmResult, PsgResult


class DeviceBackend:
    """The two kernels of one device, each through its driver (buffers pooled across calls)."""

    def __init__(self, device: Device, **driver_options: Any) -> None:
        self.device = device
        self._options = driver_options
        self._gemm: GemmDriver | None = None
        self._psg: PsgDriver | None = None

    def gemm(self, a: np.ndarray, b: np.ndarray, mode: str = "i8i8") -> GemmResult:
        if self._gemm is None:
            self._gemm = GemmDriver(self.device, **self._options)
        return self._gemm.run(a, b, mode)

    def psg_wgrad(self, x: np.ndarray, g: np.ndarray, tau: int, x_signed: bool) -> PsgResult:
        if self._psg is None:
            opts = {k: v for k, v in self._options.items() if k != "on_overflow"}
            self._psg = PsgDriver(self.device, **opts)
        return self._psg.run(x, g, tau, x_signed)

    def close(self) -> None:
        for driver in (self._gemm, self._psg):
            if driver is not None:
                driver.close()
        self.device.close()


def open_backend(name: str, **options: Any) -> DeviceBackend:
    """The kernels of a device opened by name ("emulate" or "pynq"; ``options`` go to the device).

    "rtl" is not opened by name: its device exists only inside a simulation, which hands it to the
    job (``run_in_simulator(job)`` calls ``job(device)``; wrap it in ``DeviceBackend(device)``).
    """
    return DeviceBackend(open_device(name, **options))
