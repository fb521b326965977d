"""The drivers on the Verilog RTL: ``run_in_simulator`` runs driver-level jobs inside cocotb
(Icarus by default; Verilator variants are opt-in with ``-m verilator``)."""

from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np
import pytest

from e2train.device import DeviceTimeout, KernelLimits
from e2train.device.rtl_sim import RtlMissing, SimulationError, missing_reason, parse_module, run_in_simulator
from e2train.drivers import GemmDriver, PsgDriver
from e2train.kernels import reference
from e2train.kernels.driver_conv import conv2d_forward_codes
from e2train.kernels.reference import KernelArgumentError

SIMS = [
    pytest.param("icarus", id="icarus"),
    pytest.param("verilator", id="verilator", marks=pytest.mark.verilator),
]
TILED = {"gemm": KernelLimits(max_dim=6), "psg_wgrad": KernelLimits(max_dim=6)}


def _require(sim: str, kernels: tuple[str, ...]) -> None:
    reason = missing_reason(sim, kernels)
    if reason:
        pytest.skip(reason)


def _cases(seed: int) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    gemms = []
    for (m, k, n), mode in [((5, 7, 3), "i8i8"), ((9, 13, 8), "i8u8"), ((4, 20, 6), "i8i16")]:
        a = rng.integers(-128, 128, (m, k)).astype(np.int8)
        info = np.iinfo(reference.GEMM_MODES[mode][1])  # type: ignore[type-var]
        b = rng.integers(info.min, info.max, (k, n), endpoint=True).astype(reference.GEMM_MODES[mode][1])
        gemms.append((a, b, mode))
    big = 700  # saturates in i8i16
    gemms.append((np.full((2, big), 127, np.int8), np.full((big, 2), 32767, np.int16), "i8i16"))
    psgs = []
    for n, k, p, signed in [(5, 7, 16, False), (9, 8, 33, True)]:
        x = rng.integers(-128 if signed else 0, 128 if signed else 256, (k, p)).astype(
            np.int8 if signed else np.uint8
        )
        g = rng.integers(-3000, 3000, (n, p)).astype(np.int16)
        pred = np.abs(16 * (g.astype(np.int64) @ reference.msb4(x, signed).T.astype(np.int64)))
        psgs.append((x, g, int(np.median(pred)), signed))
    return gemms, psgs


def drivers_job(device, seed: int) -> tuple[list, list, int]:  # type: ignore[no-untyped-def]
    """Runs in the simulator: every case through the drivers (tiled by the device's limits)."""
    gemms, psgs = _cases(seed)
    gd = GemmDriver(device, on_overflow="count")
    pd = PsgDriver(device)
    g_out = [gd.run(a, b, mode) for a, b, mode in gemms]
    p_out = [pd.run(*case) for case in psgs] if "psg_wgrad" in device.kernel_names else []
    return g_out, p_out, gd.pool.allocations


def conv_job(device, x: np.ndarray, w: np.ndarray):  # type: ignore[no-untyped-def]
    return conv2d_forward_codes(x, w, stride=1, padding=1, gemm=GemmDriver(device).run)


def timeout_job(device):  # type: ignore[no-untyped-def]
    a = np.ones((64, 1024), np.int8)
    return GemmDriver(device, timeout_s=0.01).run(a, a.T.copy())


def cycle_budget_job(device):  # type: ignore[no-untyped-def]
    """The device's own limit: a budget of simulated cycles, whatever the wall clock says."""
    a = np.ones((64, 1024), np.int8)
    budget = device.cycle_budget(a.size * 64)
    assert budget > 8 * (a.size * 64) // 64  # generous for a real run
    device.cycle_budget = lambda macs: 500  # far below the ~8,700 cycles this gemm needs
    return GemmDriver(device).run(a, a.T.copy())


def bad_args_job(device):  # type: ignore[no-untyped-def]
    return GemmDriver(device).run(np.zeros((2, 3), np.int8), np.zeros((4, 2), np.int8))


@pytest.mark.parametrize("sim", SIMS)
def test_drivers_on_rtl_match_reference(sim: str) -> None:
    _require(sim, ("gemm", "psg_wgrad"))
    g_out, p_out, allocations = run_in_simulator(functools.partial(drivers_job, seed=3), sim, limits=TILED)
    gemms, psgs = _cases(3)
    for got, (a, b, mode) in zip(g_out, gemms, strict=True):
        want = reference.gemm(a, b, mode)
        np.testing.assert_array_equal(got.c, want.c)
        assert got.overflows == want.overflows
        assert got.counters["MACS"] == want.macs  # the RTL's own counter, summed over tiles
        assert got.counters["CYCLES_BUSY"] > 0 and got.counters["CALLS"] > 1
    assert g_out[-1].overflows == 4
    for got_p, (x, g, tau, signed) in zip(p_out, psgs, strict=True):
        want_p = reference.psg_wgrad(x, g, tau, signed)
        np.testing.assert_array_equal(got_p.signs, want_p.signs)
        np.testing.assert_array_equal(got_p.recompute_mask, want_p.recompute_mask)
        assert got_p.counters["RECOMPUTED"] == want_p.recomputed
    assert allocations == 3  # A, B, C grew only when needed


def test_conv_forward_on_rtl() -> None:
    _require("icarus", ("gemm",))
    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, (2, 3, 5, 5)).astype(np.uint8)
    w = rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)
    got = run_in_simulator(functools.partial(conv_job, x=x, w=w), "icarus", kernels=("gemm",))
    np.testing.assert_array_equal(got.y, conv2d_forward_codes(x, w, stride=1, padding=1).y)


def test_exceptions_cross_the_simulator_boundary() -> None:
    _require("icarus", ("gemm",))
    with pytest.raises(DeviceTimeout, match="within 0.01 s"):
        run_in_simulator(timeout_job, "icarus", kernels=("gemm",))
    with pytest.raises(KernelArgumentError, match="inner dimensions"):
        run_in_simulator(bad_args_job, "icarus", kernels=("gemm",))


def test_a_simulated_kernel_is_hung_after_simulated_cycles_not_seconds() -> None:
    _require("icarus", ("gemm",))
    with pytest.raises(DeviceTimeout, match=r"did not finish within (5\d\d|6\d\d) simulated cycles"):
        run_in_simulator(cycle_budget_job, "icarus", kernels=("gemm",))


def hung_job(device) -> None:  # type: ignore[no-untyped-def]
    """Runs in the simulator and never returns: the simulator process itself must be stopped."""
    time.sleep(3600)


def test_a_simulation_that_never_ends_is_stopped_at_its_wall_clock_limit() -> None:
    _require("icarus", ("gemm",))
    start = time.monotonic()
    with pytest.raises(SimulationError, match="ran past its limit of 8 s.*the end of its log"):
        run_in_simulator(hung_job, "icarus", kernels=("gemm",), timeout_s=8)
    assert time.monotonic() - start < 120  # the build may be cached or not; the job alone would take an hour


def test_unpicklable_job_is_refused_before_simulating() -> None:
    _require("icarus", ("gemm",))
    with pytest.raises(ValueError, match="cannot be pickled"):
        run_in_simulator(lambda device: None, "icarus", kernels=("gemm",))


def backend_gemm_job(device, a: np.ndarray, b: np.ndarray):  # type: ignore[no-untyped-def]
    """The backend API on the simulation's device, which the job receives (nothing is looked up)."""
    from e2train.backends.device_backend import DeviceBackend

    return DeviceBackend(device).gemm(a, b, "i8u8")


def test_the_device_backend_runs_on_the_device_a_simulation_passes() -> None:
    _require("icarus", ("gemm",))
    rng = np.random.default_rng(8)
    a = rng.integers(-128, 128, (3, 5)).astype(np.int8)
    b = rng.integers(0, 256, (5, 4)).astype(np.uint8)
    got = run_in_simulator(functools.partial(backend_gemm_job, a=a, b=b), "icarus", kernels=("gemm",))
    np.testing.assert_array_equal(got.c, reference.gemm(a, b, "i8u8").c)
    assert got.counters["CYCLES_BUSY"] > 0


def test_kernel_ports_are_read_through_their_include() -> None:
    """The generated two-kernel top needs every kernel port, including those of e2_kernel_ports.vh."""
    rtl = Path(__file__).resolve().parents[2] / "fpga" / "rtl"
    for kernel in ("gemm", "psg_wgrad"):
        _, ports = parse_module(rtl / f"e2_{kernel}.v", f"e2_{kernel}")
        names = {port.name for port in ports}
        assert {"ap_clk", "ap_rst_n", "s_axi_control_awaddr", "m_axi_gmem_rready", "irq"} <= names


def test_missing_include_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "top.v").write_text('module top (\n    input wire clk,\n`include "gone.vh"\n);\nendmodule\n')
    with pytest.raises(RtlMissing, match="gone.vh"):
        parse_module(tmp_path / "top.v", "top")
