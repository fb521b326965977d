"""Kernels through the drivers on a device chosen by name: "emulate", "pynq" or "rtl".

Why a backend on top of the drivers: the rest of the project calls kernels through the backend
API (``gemm(a, b, mode)``, ``psg_wgrad(x, g, tau, x_signed)``, the reference's signatures).  This
module puts the one driver implementation behind that API, so that training, tests and benchmarks
can switch between the emulation, a board and the RTL simulator with a name.

Selecting the device:

- ``use("pynq", board="pynq-z2")`` sets the module-level device (options go to the device);
- otherwise the first call opens ``$E2TRAIN_DEVICE`` (default "emulate");
- ``DeviceBackend(device)`` wraps any ``Device`` object explicitly.

"rtl": inside a simulation (code running through ``run_in_simulator``) calls go to that
simulation's device.  Outside one, each call starts its own simulation (about a second of
overhead per call): correct, but for a training run wrap the whole loop in ``run_in_simulator``.

Results equal the reference's bit for bit and carry the device's counters (plus ``CALLS``, the
number of kernel runs a tiled call took).  Operands above the kernel's limits are tiled (see
``e2train.drivers``), so this backend accepts gemm sizes the reference refuses.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from typing import Any

import numpy as np

from e2train.device import DEVICE_NAMES, Device, open_device
from e2train.drivers import GemmDriver, PsgDriver, report_overflow
from e2train.kernels.reference import GemmResult, PsgResult

log = logging.getLogger(__name__)

ENV_DEVICE = "E2TRAIN_DEVICE"
DEFAULT_DEVICE = "emulate"


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


# ---------------------------------------------------------------------------------------------
# one-shot simulation jobs ("rtl" outside a simulation)
# ---------------------------------------------------------------------------------------------


def gemm_job(device: Device, a: np.ndarray, b: np.ndarray, mode: str) -> GemmResult:
    """A picklable job for ``run_in_simulator``: one gemm through the driver."""
    with GemmDriver(device, on_overflow="count") as driver:
        return driver.run(a, b, mode)


def psg_job(device: Device, x: np.ndarray, g: np.ndarray, tau: int, x_signed: bool) -> PsgResult:
    """A picklable job for ``run_in_simulator``: one psg_wgrad through the driver."""
    with PsgDriver(device) as driver:
        return driver.run(x, g, tau, x_signed)


class _OneShotRtl:
    """The "rtl" device outside a simulation: each call is a simulation of its own."""

    def __init__(self, sim: str = "icarus", **sim_options: Any) -> None:
        self.sim = sim
        self.sim_options = sim_options

    def _run(self, job: Any, kernel: str) -> Any:
        from e2train.device.rtl_sim import run_in_simulator

        return run_in_simulator(job, self.sim, kernels=(kernel,), **self.sim_options)

    def gemm(self, a: np.ndarray, b: np.ndarray, mode: str = "i8i8") -> GemmResult:
        result = self._run(functools.partial(gemm_job, a=a, b=b, mode=mode), "gemm")
        report_overflow(result.overflows, result.c.size)
        return result  # type: ignore[no-any-return]

    def psg_wgrad(self, x: np.ndarray, g: np.ndarray, tau: int, x_signed: bool) -> PsgResult:
        return self._run(functools.partial(psg_job, x=x, g=g, tau=tau, x_signed=x_signed), "psg_wgrad")  # type: ignore[no-any-return]

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------------------------
# module-level selection and the backend API
# ---------------------------------------------------------------------------------------------

_lock = threading.Lock()
_current: DeviceBackend | _OneShotRtl | None = None
_current_name: str | None = None


def _open(name: str, **options: Any) -> DeviceBackend | _OneShotRtl:
    if name not in DEVICE_NAMES:
        raise ValueError(f"unknown device {name!r}; allowed: {', '.join(DEVICE_NAMES)}")
    if name == "rtl":
        from e2train.device.cocotb_device import active_device

        device = active_device()
        if device is None:
            return _OneShotRtl(**options)
        return DeviceBackend(device)
    return DeviceBackend(open_device(name, **options))


def use(name: str, **options: Any) -> DeviceBackend | _OneShotRtl:
    """Select (and open) the device the module-level ``gemm`` / ``psg_wgrad`` run on."""
    global _current, _current_name
    backend = _open(name, **options)
    with _lock:
        old, _current, _current_name = _current, backend, name
    if old is not None and old is not backend:
        old.close()
    log.info("device backend: %s", name)
    return backend


def current() -> DeviceBackend | _OneShotRtl:
    """The selected backend, opening ``$E2TRAIN_DEVICE`` (default "emulate") on first use."""
    global _current
    with _lock:
        if _current is not None:
            # inside a simulation, "rtl" must follow the simulation's device
            if _current_name == "rtl" and isinstance(_current, _OneShotRtl):
                from e2train.device.cocotb_device import active_device

                if active_device() is not None:
                    _current = DeviceBackend(active_device())  # type: ignore[arg-type]
            return _current
    return use(os.environ.get(ENV_DEVICE, DEFAULT_DEVICE))


def gemm(a: np.ndarray, b: np.ndarray, mode: str = "i8i8") -> GemmResult:
    """C = A x B through the gemm driver on the selected device (contract of ``reference.gemm``)."""
    return current().gemm(a, b, mode)


def psg_wgrad(x: np.ndarray, g: np.ndarray, tau: int, x_signed: bool) -> PsgResult:
    """Predictive sign weight gradient through the psg driver (contract of ``reference.psg_wgrad``)."""
    return current().psg_wgrad(x, g, tau, x_signed)
