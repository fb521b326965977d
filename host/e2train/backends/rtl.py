"""The Verilog RTL kernels simulated with cocotb (Icarus Verilog or Verilator) behind the reference API.

Why this backend exists: ``fpga/rtl`` is the hand-written hardware of both kernels; running real
workloads through it checks it bit for bit against ``e2train.kernels.reference`` and reads the
hardware performance counters (cycles, memory stalls, MACs, bytes moved) that the efficiency bench
and the energy model use.

How it works: there is one way into the RTL, the board's.  A call (or a batch, ``gemm_batch`` /
``psg_batch``, which shares one simulator start) becomes a job for ``rtl_sim.run_in_simulator``:
inside the simulation the same ``GemmDriver`` / ``PsgDriver`` that drive a PYNQ board program the
kernel's registers, move the operands through device buffers, wait for ap_done and read the counters.
The results come back pickled, and each result's ``counters`` are the driver's (the kernel's
registers, summed where a call took several runs, plus ``CALLS``).

Builds are cached per simulator and parameter set (``$E2TRAIN_RTL_CACHE``, default ``fpga/sim_build``;
``fpga/tb/e2sim.py`` decides when to rebuild); ``E2TRAIN_FPGA_DIR`` names the ``fpga/`` directory when
the package does not sit in the repository.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np

from e2train.backends import BackendUnavailable
from e2train.device import rtl_sim
from e2train.drivers import GemmDriver, PsgDriver
from e2train.kernels.reference import (
    GemmResult,
    PsgResult,
    check_dims,
    tau_register,
    validate_gemm,
    validate_psg_operands,
)
from e2train.kernels.toolchain import SIMULATORS


def check_simulator(sim: str, kernels: tuple[str, ...] = ("gemm",)) -> None:
    """Raise BackendUnavailable, naming the install command (or where ``fpga/`` was looked for), when
    `sim` cannot simulate `kernels` here."""
    if sim not in SIMULATORS:
        raise ValueError(f"unknown simulator {sim!r}; allowed: {', '.join(SIMULATORS)}")
    reason = rtl_sim.missing_reason(sim, kernels)
    if reason:
        raise BackendUnavailable(reason)


def pick_simulator(sim: str = "auto") -> str:
    """``auto``: Verilator when it can run here (about 5x faster), else Icarus; checked either way."""
    if sim == "auto":
        try:
            check_simulator("verilator")
            return "verilator"
        except BackendUnavailable:
            sim = "icarus"
    check_simulator(sim)
    return sim


# ---------------------------------------------------------------------------------------------
# jobs: run inside the simulator, through the drivers (module level, so that they pickle)
# ---------------------------------------------------------------------------------------------
def _gemm_job(pairs: Sequence[tuple[np.ndarray, np.ndarray]], mode: str, device: Any) -> list[GemmResult]:
    with GemmDriver(device, on_overflow="count") as driver:  # saturation is counted, as the reference does
        return [driver.run(a, b, mode) for a, b in pairs]


def _psg_job(calls: Sequence[tuple[np.ndarray, np.ndarray, int]], x_signed: bool, device: Any) -> list[PsgResult]:
    with PsgDriver(device) as driver:
        return [driver.run(x, g, tau, x_signed) for x, g, tau in calls]


def _simulate(kernel: str, job: Callable[[Any], Any], sim: str, params: Mapping[str, int] | None,
              stall: float) -> Any:
    check_simulator(sim, (kernel,))
    try:
        return rtl_sim.run_in_simulator(job, sim, kernels=(kernel,), params={kernel: dict(params)} if params else None,
                                        memory_stall=stall)
    except rtl_sim.SimulatorMissing as exc:
        raise BackendUnavailable(str(exc)) from None


def gemm_batch(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    mode: str = "i8i8",
    sim: str = "icarus",
    *,
    params: Mapping[str, int] | None = None,
    stall: float = 0.0,
) -> list[GemmResult]:
    """Several gemm calls on one simulator start (benchmarks); each as ``gemm``.

    `stall` (0..1) makes every AXI channel of the simulated memory stall that fraction of cycles
    at random (``run_in_simulator``'s ``memory_stall``).
    """
    for a, b in pairs:  # the reference's contract, refused here before a simulator starts
        validate_gemm(a, b, mode)
    return _simulate("gemm", partial(_gemm_job, list(pairs), mode), sim, params, stall)  # type: ignore[no-any-return]


def psg_batch(
    calls: Sequence[tuple[np.ndarray, np.ndarray, int]],
    x_signed: bool,
    sim: str = "icarus",
    *,
    params: Mapping[str, int] | None = None,
    stall: float = 0.0,
) -> list[PsgResult]:
    """Several psg_wgrad calls (x, g, tau) on one simulator start; each as ``psg_wgrad``
    (`stall` as in ``gemm_batch``)."""
    for x, g, tau in calls:  # the reference's contract, refused here before a simulator starts
        validate_psg_operands(x, g, x_signed)
        tau_register(tau)
        check_dims(N=g.shape[0], K=x.shape[0], P=g.shape[1])
    return _simulate("psg_wgrad", partial(_psg_job, list(calls), x_signed), sim, params, stall)  # type: ignore[no-any-return]


def gemm(
    a: np.ndarray,
    b: np.ndarray,
    mode: str = "i8i8",
    sim: str = "icarus",
    *,
    params: Mapping[str, int] | None = None,
) -> GemmResult:
    """C = A x B on the gemm RTL; same contract as ``reference.gemm``, plus hardware counters.

    `sim` is "icarus" (default) or "verilator"; `params` overrides RTL parameters (ROWS, COLS,
    KC, TMAX).  Raises BackendUnavailable (with the install command) when the simulator is missing.
    """
    return gemm_batch([(a, b)], mode, sim, params=params)[0]


def psg_wgrad(
    x: np.ndarray,
    g: np.ndarray,
    tau: int,
    x_signed: bool,
    sim: str = "icarus",
    *,
    params: Mapping[str, int] | None = None,
) -> PsgResult:
    """Predictive sign weight gradient on the psg_wgrad RTL; same contract as the reference.

    `params` overrides RTL parameters (S, U, TB, PC).  ``counters["RECOMPUTED"]`` is the hardware's count
    of entries computed at full precision; ``counters["MACS"]`` is macs_predict + macs_full.
    """
    return psg_batch([(x, g, tau)], x_signed, sim, params=params)[0]
