"""Facts of the kernels' RTL toolchain, stated once for the simulators' harness (``fpga/tb/e2sim.py``),
synthesis, the RTL backend, the trainer's config and the CLI."""

from __future__ import annotations

SIMULATORS = ("icarus", "verilator")  # the simulators the RTL is verified on, the default first

# Wall-clock limit of one simulator process unless its caller sets one (a long training in the simulator,
# say): generous for every bench here, finite so that a hung design fails instead of hanging its caller.
SIM_TIMEOUT_S = 3600.0
