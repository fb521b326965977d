"""Where kernel math runs.  Every backend exposes the same two functions as
``e2train.kernels.reference``::

    gemm(a, b, mode="i8i8") -> GemmResult
    psg_wgrad(x, g, tau, x_signed) -> PsgResult

and must agree with the reference bit for bit: a module for the stateless ones, a ``DeviceBackend``
(the drivers on a device the caller owns) for "emulate" and "pynq".  Backends are imported lazily so that a missing
optional tool (a compiler, a simulator, a board) only matters when that backend is asked for.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from e2train.errors import E2TrainError

BACKEND_MODULES = {
    "reference": "e2train.kernels.reference",  # numpy, the definition
    "torch": "e2train.backends.torch_backend",  # fast exact integer math for training
    "csim": "e2train.backends.csim",  # the HLS C++ compiled as a shared library
    "rtl": "e2train.backends.rtl",  # the Verilog RTL in cocotb (Icarus or Verilator), one run per call
    "emulate": "e2train.backends.device_backend",  # the drivers on the in-process emulated device
    "pynq": "e2train.backends.device_backend",  # the drivers on a PYNQ board
}
DRIVEN_BACKENDS = ("emulate", "pynq")  # kernel backends whose module runs the drivers on a device


class BackendUnavailable(E2TrainError, RuntimeError):
    """A backend was asked for whose tool is missing; the message says how to install it."""


def get_backend(name: str) -> ModuleType | Any:
    """A backend by name (a module, or for a device a new ``DeviceBackend``), with a clear error for
    unknown names."""
    if name not in BACKEND_MODULES:
        raise ValueError(f"unknown backend {name!r}; allowed: {', '.join(BACKEND_MODULES)}")
    module = importlib.import_module(BACKEND_MODULES[name])
    if name in DRIVEN_BACKENDS:
        return module.open_backend(name)
    return module
