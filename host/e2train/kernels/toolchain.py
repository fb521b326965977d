"""Facts of the kernels' RTL toolchain, stated once for the simulators' harness (``fpga/tb/e2sim.py``),
synthesis, the RTL backend, the trainer's config and the CLI."""

from __future__ import annotations

SIMULATORS = ("icarus", "verilator")  # the simulators the RTL is verified on, the default first
