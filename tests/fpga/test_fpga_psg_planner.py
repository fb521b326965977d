"""cocotb bench of psg_wgrad's recompute planner (fpga/rtl/e2_psg_planner.v) on its own.

Random unconfident sets (and the edge cases: all, one row, one column, one diagonal) against a
numpy model of the planning rule, and its properties: a step never takes an entry twice or an entry
that is not pending, its rows all differ (each reads its own G bank), and repeating it empties any
S x S set in at most S steps.
"""

from __future__ import annotations

from pathlib import Path

import e2sim
import numpy as np
import pytest

_HINT = "pip install cocotb==2.1.0 cocotbext-axi==0.1.28"
cocotb = pytest.importorskip("cocotb", reason=f"cocotb is not installed: {_HINT}")
from cocotb.triggers import Timer  # noqa: E402

S = 8


def plan(pending: np.ndarray) -> dict[int, int]:
    """The rule: every entry of the lowest nonempty diagonal, then the lowest unused row per column."""
    diagonals = [d for d in range(S) if any(pending[(j + d) % S, j] for j in range(S))]
    step: dict[int, int] = {}
    if diagonals:
        d = diagonals[0]
        step = {j: (j + d) % S for j in range(S) if pending[(j + d) % S, j]}
    used = set(step.values())
    for j in range(S):
        if j not in step:
            free = [r for r in range(S) if pending[r, j] and r not in used]
            if free:
                step[j] = free[0]
                used.add(free[0])
    return step


def _masks(rng: np.random.Generator) -> list[np.ndarray]:
    fixed = [np.zeros((S, S), bool), np.ones((S, S), bool), np.eye(S, dtype=bool),
             np.roll(np.eye(S, dtype=bool), 3, axis=0)]
    fixed[0][0, :] = True  # one row: only one column per step can take it
    one_col = np.zeros((S, S), bool)
    one_col[:, 5] = True
    return fixed + [one_col] + [rng.random((S, S)) < rng.uniform(0.05, 0.95) for _ in range(150)]


@cocotb.test()
async def planner_follows_the_rule_and_empties_any_set_in_s_steps(dut) -> None:
    rng = np.random.default_rng(11)
    for mask in _masks(rng):
        pending, steps = mask.copy(), 0
        while pending.any():
            bits = sum(1 << (r * S + j) for r in range(S) for j in range(S) if pending[r, j])
            dut.avail.value = bits
            await Timer(1, unit="ns")
            on, rows, taken = int(dut.on.value), int(dut.rows.value), int(dut.taken.value)
            step = {j: (rows >> (3 * j)) & 7 for j in range(S) if on >> j & 1}
            assert step == plan(pending), (mask.astype(int), step)
            assert len(set(step.values())) == len(step)  # one G bank per row
            covered = np.zeros((S, S), bool)
            for j, r in step.items():
                covered[r, j] = True
            assert taken == sum(1 << (r * S + j) for j, r in step.items())
            assert not (covered & ~pending).any() and covered.any()
            pending &= ~covered
            steps += 1
        assert steps <= S


@pytest.mark.parametrize("sim", [pytest.param("icarus"),
                                 pytest.param("verilator", marks=pytest.mark.verilator)])
def test_psg_planner(sim: str, require_sim) -> None:
    require_sim(sim)
    e2sim.run(sim, "e2_psg_planner", "test_fpga_psg_planner", params={"S": S, "SW": 3},
              python_paths=(Path(__file__).parent,))
