"""The Verilog RTL kernels simulated with cocotb (Icarus Verilog or Verilator) behind the reference API.

Why this backend exists: ``fpga/rtl`` is the hand-written hardware of both kernels; running real
workloads through it checks it bit for bit against ``e2train.kernels.reference`` and reads the
hardware performance counters (cycles, memory stalls, MACs, bytes moved) that the efficiency bench
and the energy model use.

How it works: the RTL is built once per simulator and parameter set into a cache directory
(``$E2TRAIN_RTL_CACHE``, default ``fpga/sim_build``; ``fpga/tb/e2sim.py`` decides when to rebuild).
A call writes its operands as ``.npy`` files into a temporary job directory and runs the cocotb job
module ``fpga/tb/rtl_job.py`` in the simulator (a separate process, started through cocotb's Python
runner): it loads the operands into an AXI RAM model, programs the AXI-Lite registers, waits for
ap_done and writes the outputs and the counter registers back.  Batches (``gemm_batch`` /
``psg_batch``) share one simulator start.

Environment: ``E2TRAIN_FPGA_DIR`` (the ``fpga/`` directory when the package does not sit in the
repository), ``E2TRAIN_RTL_CACHE`` (build cache).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np

from e2train.backends import BackendUnavailable
from e2train.kernels import regmap
from e2train.kernels.reference import (
    GemmResult,
    PsgResult,
    check_dims,
    tau_register,
    validate_gemm,
    validate_psg_operands,
)
from e2train.kernels.toolchain import SIMULATORS, harness

COUNTER_KEYS = regmap.COUNTER_NAMES  # the counter registers the job reads back
_MEM_SLACK = 1 << 16  # guard bytes and alignment around the operands in the simulated RAM


def _e2sim() -> ModuleType:
    """The simulators' harness (``fpga/tb/e2sim.py``), or BackendUnavailable saying where it was looked for."""
    try:
        return harness()
    except FileNotFoundError as err:
        raise BackendUnavailable(str(err)) from None


def check_simulator(sim: str) -> None:
    """Raise BackendUnavailable, naming the install command, when `sim` cannot run here."""
    if sim not in SIMULATORS:
        raise ValueError(f"unknown simulator {sim!r}; allowed: {', '.join(SIMULATORS)}")
    reason = _e2sim().missing_reason(sim)
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
# argument checks (the same contract as the reference; refused before a simulator is started)
# ---------------------------------------------------------------------------------------------
def _check_psg(x: np.ndarray, g: np.ndarray, tau: int, x_signed: bool) -> int:
    """``validate_psg``, but tau as a hardware backend takes it (``tau_register``: no bools); returns it."""
    validate_psg_operands(x, g, x_signed)
    tau_reg = tau_register(tau)
    check_dims(N=g.shape[0], K=x.shape[0], P=g.shape[1])
    return tau_reg


# ---------------------------------------------------------------------------------------------
# simulation
# ---------------------------------------------------------------------------------------------
def _simulate(
    kernel: str,
    jobs: list[dict[str, object]],
    arrays: list[dict[str, np.ndarray]],
    sim: str,
    params: Mapping[str, int] | None,
) -> tuple[list[dict[str, np.ndarray]], list[dict[str, int]]]:
    """Run `jobs` on one simulator start; return each job's output arrays and counters."""
    check_simulator(sim)
    e2sim = _e2sim()
    with tempfile.TemporaryDirectory(prefix=f"e2train-rtl-{kernel}-") as tmp:
        job_dir = Path(tmp)
        largest = 0
        for index, named in enumerate(arrays):
            for name, array in named.items():
                np.save(job_dir / f"{index}_{name}.npy", np.ascontiguousarray(array))
            largest = max(largest, sum(a.nbytes for a in named.values()) + _outputs_bytes(kernel, named))
        mem_size = 1 << max(20, int(largest + _MEM_SLACK).bit_length())
        (job_dir / "job.json").write_text(json.dumps({"kernel": kernel, "mem_size": mem_size, "jobs": jobs}))
        log = job_dir / "sim.log"
        try:
            e2sim.run(
                sim,
                kernel,
                "rtl_job",
                params=dict(params or {}),
                test_dir=job_dir,
                extra_env={"E2_RTL_JOB": str(job_dir)},
                log_file=log,
            )
        except e2sim.SimulatorMissing as exc:
            raise BackendUnavailable(str(exc)) from None
        except (AssertionError, RuntimeError) as exc:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"RTL simulation of {kernel} on {sim} failed: {exc}\n{tail}") from None
        counters = json.loads((job_dir / "results.json").read_text())
        outputs = []
        for index in range(len(jobs)):
            names = ("c",) if kernel == "gemm" else ("signs", "mask")
            outputs.append({name: np.load(job_dir / f"{index}_out_{name}.npy") for name in names})
    return outputs, [{key: int(c[key]) for key in COUNTER_KEYS} for c in counters]


def _outputs_bytes(kernel: str, named: Mapping[str, np.ndarray]) -> int:
    if kernel == "gemm":
        return named["a"].shape[0] * named["b"].shape[1] * 4
    return 2 * named["g"].shape[0] * named["x"].shape[0]


def _gemm_result(
    a: np.ndarray, b: np.ndarray, out: dict[str, np.ndarray], counters: dict[str, int]
) -> GemmResult:
    return GemmResult(
        out["c"].astype(np.int32), counters["OVERFLOWS"], a.shape[0] * a.shape[1] * b.shape[1], counters
    )


def _psg_result(
    x: np.ndarray, g: np.ndarray, out: dict[str, np.ndarray], counters: dict[str, int]
) -> PsgResult:
    n, p = g.shape
    k = x.shape[0]
    recomputed = counters["RECOMPUTED"]
    return PsgResult(
        out["signs"].astype(np.int8),
        out["mask"].astype(np.uint8),
        recomputed,
        n * k * p,
        recomputed * p,
        counters,
    )


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
    at random: a crude stand-in for a shared DDR port (the default memory answers at once).
    """
    for a, b in pairs:
        validate_gemm(a, b, mode)
    if not 0.0 <= stall < 1.0:
        raise ValueError(f"stall must be in [0, 1), got {stall}")
    jobs: list[dict[str, object]] = [{"mode": mode, "stall": stall} for _ in pairs]
    outputs, counters = _simulate("gemm", jobs, [{"a": a, "b": b} for a, b in pairs], sim, params)
    return [_gemm_result(a, b, out, cnt) for (a, b), out, cnt in zip(pairs, outputs, counters, strict=True)]


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
    taus = [_check_psg(x, g, tau, x_signed) for x, g, tau in calls]
    if not 0.0 <= stall < 1.0:
        raise ValueError(f"stall must be in [0, 1), got {stall}")
    jobs: list[dict[str, object]] = [{"tau": tau, "x_signed": x_signed, "stall": stall} for tau in taus]
    outputs, counters = _simulate("psg_wgrad", jobs, [{"x": x, "g": g} for x, g, _ in calls], sim, params)
    return [_psg_result(x, g, out, cnt) for (x, g, _), out, cnt in zip(calls, outputs, counters, strict=True)]


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
