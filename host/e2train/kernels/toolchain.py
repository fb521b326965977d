"""Facts of the kernels' RTL toolchain, stated once for the simulators' harness (``fpga/tb/e2sim.py``),
synthesis, the RTL backend, the trainer's config and the CLI."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

SIMULATORS = ("icarus", "verilator")  # the simulators the RTL is verified on, the default first

# Wall-clock limit of one simulator process unless its caller sets one (a long training in the simulator,
# say): generous for every bench here, finite so that a hung design fails instead of hanging its caller.
SIM_TIMEOUT_S = 3600.0


def fpga_dir() -> Path:
    """The repository's ``fpga/`` (RTL sources, the simulators' harness): ``$E2TRAIN_FPGA_DIR`` where the
    package does not sit in a checkout, else the checkout's own.  Read at each call, never cached."""
    env = os.environ.get("E2TRAIN_FPGA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "fpga"


def harness() -> ModuleType:
    """``fpga/tb/e2sim.py``, the simulators' harness; it travels with the RTL, not with the package.

    Raises FileNotFoundError naming what is missing and how to point at it; each caller turns that
    into its own layer's error."""
    fpga = fpga_dir()
    tb_dir = fpga / "tb"
    if not (fpga / "rtl").is_dir() or not (tb_dir / "e2sim.py").is_file():
        raise FileNotFoundError(f"RTL sources and their harness not found under {fpga} (need rtl/ and "
                                "tb/e2sim.py): run from a checkout, or set E2TRAIN_FPGA_DIR to its fpga/ directory")
    if str(tb_dir) not in sys.path:
        sys.path.insert(0, str(tb_dir))
    return importlib.import_module("e2sim")
