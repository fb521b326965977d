"""Run driver-level Python code against the Verilog RTL: ``run_in_simulator(job)``.

Why a whole job and not one call at a time: starting a simulator costs about a second, an AXI
register access about 85 us.  So the caller hands over a picklable callable ``job(device)``
(a driver run, a few training steps, a benchmark); it runs once inside the simulator, in a cocotb
``bridge`` thread, with a ``CocotbDevice`` whose register accesses are cocotb ``resume`` calls
(see ``cocotb_device``).  Its return value (or exception) comes back pickled.

The simulated design is a generated top level, ``e2_device_top``, that instantiates each
requested kernel of ``fpga/rtl`` (``e2_gemm``, ``e2_psg_wgrad``) with its ports renamed per
kernel (``s_axi_gemm_*``, ``m_axi_gemm_*``, ``irq_gemm``; ``..._psg_...``) and one clock and reset,
so that one simulation serves the forward gemm and the psg weight gradient of a training step.
The wrapper is generated from the kernels' own port lists, so it follows the RTL as it changes.
Both kernels' ``AxiRam`` models share one memory, as both masters share DDR on the board.

Builds are cached by simulator, kernels, parameters and source contents (under
``$E2TRAIN_RTL_CACHE`` or ``fpga/sim_build``, the RTL benches' cache).
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2train.device.base import DeviceError, KernelLimits
from e2train.kernels.spec import KERNEL_NAMES, KERNELS
from e2train.kernels.toolchain import SIM_TIMEOUT_S, harness

log = logging.getLogger(__name__)

TOP = "e2_device_top"
ENTRY_MODULE = "e2train.device.cocotb_entry"
JOB_ENV = "E2TRAIN_DEVICE_JOB"
CLOCK_NS = 10


class SimulationError(DeviceError):
    """The simulator could not run the job (missing tool, build failure, crash)."""


class SimulatorMissing(SimulationError):
    """The requested simulator or cocotb is not installed; the message names the install command."""


class RtlMissing(SimulationError):
    """The RTL sources of a kernel are not where ``fpga/`` should be."""


@dataclass
class JobSpec:
    """Everything the simulator side needs; pickled into the job file."""

    job: Callable[..., Any]
    kernels: tuple[str, ...]
    memory_bytes: int = 64 << 20
    limits: dict[str, KernelLimits] = field(default_factory=dict)
    sim: str = "icarus"
    result_path: str = ""
    memory_stall: float = 0.0  # fraction of cycles each AXI channel of the memory stalls (memory_stalls)


# ---------------------------------------------------------------------------------------------
# The colleague-owned RTL and its helpers (fpga/tb/e2sim.py)
# ---------------------------------------------------------------------------------------------


def _e2sim() -> Any:
    """fpga/tb/e2sim.py: the RTL's source list, simulator discovery and runs, shared with the RTL benches."""
    try:
        return harness()
    except FileNotFoundError as err:
        raise RtlMissing(str(err)) from None


def missing_reason(sim: str, kernels: tuple[str, ...] = ("gemm",)) -> str | None:
    """None when ``sim`` can simulate ``kernels`` here, else why not (and what to install)."""
    try:
        e2sim = _e2sim()
    except RtlMissing as err:
        return str(err)
    reason = e2sim.missing_reason(sim)
    if reason:
        return reason
    for kernel in kernels:
        if kernel not in KERNELS:
            return f"unknown kernel {kernel!r}; allowed: {', '.join(KERNELS)}"
        missing = [str(p) for p in e2sim.sources(kernel) if not p.is_file()]
        if missing:
            return f"RTL of {kernel} is missing ({', '.join(missing)})"
    return None


# ---------------------------------------------------------------------------------------------
# The generated top level
# ---------------------------------------------------------------------------------------------

_PORT = re.compile(r"^\s*(input|output)\s+(?:wire|reg)?\s*(\[[^\]]+\])?\s*(\w+)\s*,?\s*(?://.*)?$")
_INCLUDE = re.compile(r'^\s*`include\s+"([^"]+)"', re.MULTILINE)
_PARAM = re.compile(r"^\s*parameter\s+(?:\[[^\]]+\]\s*)?(\w+)\s*=\s*([^,]+?)\s*,?\s*(?://.*)?$")


@dataclass(frozen=True)
class Port:
    direction: str
    width: str  # e.g. "[AW-1:0]" or ""
    name: str


def declared_ports(text: str) -> list[Port]:
    """The ports an ANSI-style port list declares, one per line (as the kernels and their shared port
    header write them)."""
    return [Port(m.group(1), m.group(2) or "", m.group(3)) for line in text.splitlines() if (m := _PORT.match(line))]


def _included(path: Path, name: str) -> str:
    """The text of a header `path` includes (looked up beside it, as the RTL's include path is)."""
    header = path.parent / name
    if not header.is_file():
        raise RtlMissing(f"{path} includes {name!r}, which is not in {path.parent}: the RTL checkout is incomplete")
    return header.read_text()


def parse_module(path: Path, module: str) -> tuple[list[tuple[str, str]], list[Port]]:
    """Parameters (name, default) and ports of an ANSI-style module header (with its includes)."""
    text = _INCLUDE.sub(lambda m: _included(path, m.group(1)), path.read_text())
    start = re.search(rf"\bmodule\s+{module}\b", text)
    if start is None:
        raise RtlMissing(f"module {module} not found in {path}")
    header = text[start.end() : text.index(");", start.end())]
    params = [(m.group(1), m.group(2)) for line in header.splitlines() if (m := _PARAM.match(line))]
    ports = declared_ports(header)
    if not ports:
        raise RtlMissing(f"no ports parsed from module {module} in {path}")
    return params, ports


def _renamed(port: str, prefix: str) -> str | None:
    """Top-level name of a kernel port; None for the shared clock and reset."""
    if port in ("ap_clk", "ap_rst_n"):
        return None
    for old, new in (("s_axi_control_", f"s_axi_{prefix}_"), ("m_axi_gmem_", f"m_axi_{prefix}_")):
        if port.startswith(old):
            return new + port[len(old) :]
    if port == "irq":
        return f"irq_{prefix}"
    raise RtlMissing(f"unexpected port {port!r}: the generated top knows s_axi_control_*, m_axi_gmem_*, irq")


def generate_top(kernels: tuple[str, ...]) -> str:
    """Verilog of ``e2_device_top`` around the requested kernels (see the module docstring)."""
    e2sim = _e2sim()
    decls: list[str] = []
    params: list[str] = []
    insts: list[str] = []
    for kernel in kernels:
        module = KERNELS[kernel].rtl_top
        prefix = KERNELS[kernel].short
        kparams, ports = parse_module(e2sim.RTL_DIR / f"{module}.v", module)
        rename = {name: f"{prefix.upper()}_{name}" for name, _ in kparams}

        def sub(width: str, rename: dict[str, str] = rename) -> str:
            return re.sub(r"\b(\w+)\b", lambda m: rename.get(m.group(1), m.group(1)), width)

        params += [f"    parameter {rename[name]} = {sub(default)}" for name, default in kparams]
        conns = []
        for port in ports:
            top_name = _renamed(port.name, prefix)
            if top_name is None:
                conns.append(f"        .{port.name}({port.name})")
                continue
            decls.append("    " + " ".join(filter(None, [port.direction, "wire", sub(port.width), top_name])))
            conns.append(f"        .{port.name}({top_name})")
        overrides = ", ".join(f".{name}({rename[name]})" for name, _ in kparams)
        insts.append(f"    {module} #({overrides}) u_{prefix} (\n" + ",\n".join(conns) + "\n    );")
    lines = [
        "// GENERATED by e2train.device.rtl_sim -- do not edit: the kernels of fpga/rtl side by side,",
        "// ports renamed per kernel, sharing one clock and reset (simulation only).",
        "`default_nettype none",
        f"module {TOP} #(",
        ",\n".join(params),
        ") (",
        ",\n".join(["    input wire ap_clk", "    input wire ap_rst_n", *decls]),
        ");",
        *insts,
        "endmodule",
        "`default_nettype wire",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Build and run
# ---------------------------------------------------------------------------------------------


def _top_parameters(
    kernels: tuple[str, ...], params: Mapping[str, Mapping[str, int]] | None
) -> dict[str, int]:
    out: dict[str, int] = {}
    for kernel, values in (params or {}).items():
        if kernel not in kernels:
            raise ValueError(f"parameters for {kernel!r}, which is not simulated ({', '.join(kernels)})")
        out.update({f"{KERNELS[kernel].short.upper()}_{k}": int(v) for k, v in values.items()})
    return out


def build(
    sim: str = "icarus",
    kernels: tuple[str, ...] = KERNEL_NAMES,
    params: Mapping[str, Mapping[str, int]] | None = None,
    build_root: Path | None = None,
) -> Path:
    """Build (or reuse) the simulation of ``e2_device_top``; returns its build directory."""
    reason = missing_reason(sim, kernels)
    if reason:
        raise SimulatorMissing(reason)
    e2sim = _e2sim()
    top_params = _top_parameters(kernels, params)
    top_text = generate_top(kernels)
    sources = sorted({p for k in kernels for p in e2sim.sources(k)})
    key = e2sim.fingerprint(sources, sim, kernels, sorted(top_params.items()), top_text)
    root = build_root or e2sim.default_build_root()
    build_dir = root / f"device-{sim}-{'-'.join(KERNELS[k].short for k in kernels)}-{key}"
    top_file = build_dir / f"{TOP}.v"
    try:
        build_dir.mkdir(parents=True, exist_ok=True)
        if not top_file.exists():  # its text is part of the key; written whole, as a parallel build may read it
            staged = build_dir / f".{TOP}.{os.getpid()}.v"
            staged.write_text(top_text)
            os.replace(staged, top_file)
        return e2sim.build_top(sim, TOP, [*sources, top_file], build_dir, top_params, key)  # type: ignore[no-any-return]
    except (SystemExit, subprocess.CalledProcessError, OSError, RuntimeError) as err:
        raise SimulationError(f"building {TOP} on {sim} failed ({err}); see {build_dir / 'build.log'}") from None


def run_in_simulator(
    job: Callable[[Any], Any],
    sim: str = "icarus",
    *,
    kernels: tuple[str, ...] = KERNEL_NAMES,
    params: Mapping[str, Mapping[str, int]] | None = None,
    limits: Mapping[str, KernelLimits] | None = None,
    memory_bytes: int = 64 << 20,
    memory_stall: float = 0.0,
    build_root: Path | None = None,
    timeout_s: float | None = SIM_TIMEOUT_S,
) -> Any:
    """Run ``job(device)`` inside the simulated RTL and return its result (or raise its exception).

    ``job`` must be picklable (a module-level function, or ``functools.partial`` of one) because the
    simulator is another process.  ``params`` sets RTL parameters per kernel
    (``{"gemm": {"KC": 64}}``); ``limits`` makes the device report smaller kernel limits so that
    drivers tile; ``memory_stall`` (0..1) makes every AXI channel of the simulated memory stall that
    fraction of cycles at random (``memory_stalls.pause_pattern``, seeded per channel), a crude stand-in
    for a shared DDR port (the default memory answers at once).  Every kernel wait inside has its own
    wall-clock timeout (``DeviceTimeout``), and the simulator process as a whole stops after
    ``timeout_s`` (``SimulationError``; ``None``: no limit, for a long training in the simulator).
    """
    if not 0.0 <= memory_stall < 1.0:
        raise ValueError(f"memory_stall must be in [0, 1), got {memory_stall}")
    build_dir = build(sim, kernels, params, build_root)
    with tempfile.TemporaryDirectory(prefix="e2train-sim-") as tmp:
        tmp_dir = Path(tmp)
        spec = JobSpec(
            job, tuple(kernels), memory_bytes, dict(limits or {}), sim, str(tmp_dir / "result.pkl"), memory_stall
        )
        job_file = tmp_dir / "job.pkl"
        try:
            job_file.write_bytes(pickle.dumps(spec))
        except (pickle.PicklingError, AttributeError, TypeError) as err:
            raise ValueError(
                f"the job {job!r} cannot be pickled ({err}): the simulator is another process; pass a "
                "module-level function or a functools.partial of one"
            ) from err
        env = {
            JOB_ENV: str(job_file),
            # cocotb 2 rewrites asserts in every imported module by default (slow with torch)
            "COCOTB_REWRITE_ASSERTION_FILES": "*cocotb_entry.py",
            "COCOTB_LOG_LEVEL": os.environ.get("COCOTB_LOG_LEVEL", "WARNING"),
        }
        e2sim = _e2sim()
        try:
            e2sim.run_top(sim, TOP, build_dir, ENTRY_MODULE, params=_top_parameters(kernels, params), extra_env=env,
                          test_dir=tmp_dir, log_file=tmp_dir / "sim.log", timeout_s=timeout_s)
        except AssertionError as exc:  # the job's own exception (if any) comes back through the result file
            log.debug("simulator exited with an error: %s", exc)
        except e2sim.SimulationTimeout as exc:  # the log goes with the temporary folder: keep its end
            raise SimulationError(f"{exc}; the end of its log:\n{_log_tail(tmp_dir)}") from None
        return _collect(tmp_dir, sim)


def _log_tail(tmp_dir: Path) -> str:
    sim_log = tmp_dir / "sim.log"
    return sim_log.read_text(errors="replace")[-3000:] if sim_log.is_file() else ""


def _collect(tmp_dir: Path, sim: str) -> Any:
    result_file = tmp_dir / "result.pkl"
    if not result_file.is_file():
        raise SimulationError(f"the {sim} simulation ended without a result (crash or timeout):\n{_log_tail(tmp_dir)}")
    outcome = pickle.loads(result_file.read_bytes())
    if outcome["ok"]:
        return outcome["value"]
    exc = outcome.get("exception")
    if isinstance(exc, BaseException):
        note = f"(raised inside the {sim} simulation)\n{outcome['traceback']}"
        if hasattr(exc, "add_note"):
            exc.add_note(note)
        raise exc
    raise SimulationError(f"the job failed inside the {sim} simulation:\n{outcome['traceback']}")
