"""The cocotb test that ``rtl_sim.run_in_simulator`` runs: set up bus models, run the job.

Imported by cocotb inside the simulator only.  It reads the pickled ``JobSpec`` named by
``$E2TRAIN_DEVICE_JOB``, starts the clock, attaches an ``AxiLiteMaster`` to each kernel's
``s_axi_<kernel>`` port and an ``AxiRam`` to each ``m_axi_<kernel>`` port (all RAMs over one
shared memory, stalling at random where the spec asks), resets, and runs ``job(device)`` in a
``bridge`` thread.  The outcome, value or exception, is pickled to ``spec.result_path``; the cocotb
test itself passes either way, so the caller sees the job's own exception rather than a generic
test failure.
"""

from __future__ import annotations

import logging
import os
import pickle
import traceback
from pathlib import Path
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.task import bridge
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam
from cocotbext.axi.sparse_memory import SparseMemory

from e2train.device.cocotb_device import CocotbDevice
from e2train.device.memory_stalls import pause_pattern, set_memory_stalls
from e2train.device.rtl_sim import CLOCK_NS, JOB_ENV, JobSpec
from e2train.kernels.spec import KERNELS

log = logging.getLogger(__name__)
ADDRESS_SPACE = 1 << 32  # a Zynq-7000's physical address space


def _save(path: str, outcome: dict[str, Any]) -> None:
    try:
        data = pickle.dumps(outcome)
    except (pickle.PicklingError, TypeError, AttributeError) as err:  # unpicklable: keep the text at least
        log.warning("the job's outcome cannot be pickled: %s", err)
        data = pickle.dumps(
            {
                "ok": False,
                "exception": None,
                "traceback": f"{outcome.get('traceback', '')}\n(result not picklable: {err})",
            }
        )
    Path(path).write_bytes(data)


@cocotb.test()
async def device_job(dut: Any) -> None:
    spec: JobSpec = pickle.loads(Path(os.environ[JOB_ENV]).read_bytes())
    Clock(dut.ap_clk, CLOCK_NS, unit="ns").start()  # cocotb 2: the clock runs its own task
    memory = SparseMemory(ADDRESS_SPACE)
    ports: dict[str, Any] = {}
    rams = []
    for kernel in spec.kernels:
        prefix = KERNELS[kernel].short
        ports[kernel] = AxiLiteMaster(
            AxiLiteBus.from_prefix(dut, f"s_axi_{prefix}"), dut.ap_clk, dut.ap_rst_n, reset_active_level=False
        )
        rams.append(
            AxiRam(
                AxiBus.from_prefix(dut, f"m_axi_{prefix}"),
                dut.ap_clk,
                dut.ap_rst_n,
                reset_active_level=False,
                mem=memory,
            )
        )
    if spec.memory_stall:
        for ram in rams:
            set_memory_stalls(ram, lambda channel: pause_pattern(channel, spec.memory_stall))
    dut.ap_rst_n.value = 0
    await ClockCycles(dut.ap_clk, 4)
    dut.ap_rst_n.value = 1
    await ClockCycles(dut.ap_clk, 2)

    device = CocotbDevice(
        ports,
        rams[0],
        dut.ap_clk,
        memory_bytes=spec.memory_bytes,
        limits=spec.limits,
        clock_hz=1e9 / CLOCK_NS,
        sim=spec.sim,
    )

    def call() -> dict[str, Any]:
        try:
            return {"ok": True, "value": spec.job(device)}
        except BaseException as exc:  # noqa: BLE001 - transported to the caller, who re-raises it
            return {"ok": False, "exception": exc, "traceback": traceback.format_exc()}

    outcome = await bridge(call)()
    _save(spec.result_path, outcome)
