"""cocotb job runner behind ``e2train.backends.rtl``: runs kernel invocations from a job directory.

The directory (``$E2_RTL_JOB``) holds ``job.json`` ({"kernel", "mem_size", "jobs": [...]}; a job may
set "stall", the fraction of cycles each AXI channel of the RAM model stalls) and the
operands as ``.npy`` files; each job is run in order on the same simulated kernel (one simulator
start for a batch), and its outputs are written back as ``.npy`` plus the hardware counters in
``results.json``.  Keeping the exchange on disk keeps the simulator a separate process: the host
program never imports cocotb and a crashed simulation cannot take it down.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
import numpy as np
from e2tb import KernelTB, pause_pattern, run_gemm, run_psg


@cocotb.test()
async def run_jobs(dut) -> None:
    """Execute every job of the directory named by $E2_RTL_JOB."""
    job_dir = Path(os.environ["E2_RTL_JOB"])
    spec = json.loads((job_dir / "job.json").read_text())
    tb = KernelTB(dut, spec["kernel"], mem_size=int(spec["mem_size"]))
    await tb.reset()
    results = []
    for index, job in enumerate(spec["jobs"]):
        # optional memory model: each AXI channel of the RAM stalls a random `stall` fraction of cycles
        stall = float(job.get("stall", 0.0))
        tb.set_memory_stalls(
            (lambda ch, s=stall, i=index: pause_pattern(1000 * i + ch, s)) if stall else None
        )
        if spec["kernel"] == "gemm":
            a = np.load(job_dir / f"{index}_a.npy")
            b = np.load(job_dir / f"{index}_b.npy")
            run = await run_gemm(tb, a, b, job["mode"], timeout=job.get("timeout"))
        else:
            x = np.load(job_dir / f"{index}_x.npy")
            g = np.load(job_dir / f"{index}_g.npy")
            run = await run_psg(tb, x, g, int(job["tau"]), bool(job["x_signed"]), timeout=job.get("timeout"))
        for name, array in run.outputs.items():
            np.save(job_dir / f"{index}_out_{name}.npy", array)
        results.append(run.counters)
    (job_dir / "results.json").write_text(json.dumps(results))
