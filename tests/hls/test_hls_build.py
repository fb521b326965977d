"""Building the HLS sources: the g++ test benches, the csim library cache, and the Vitis HLS flow.

Why: the Vitis flow cannot run on the development machines, so its wrapper and Tcl scripts are
driven here with a stub `vitis_hls` (tclsh with the HLS commands replaced by loggers); a broken
script or a missing-tool message that does not say what to install would otherwise only show on a
machine with the tools.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from e2train.backends import BackendUnavailable, csim

HLS_DIR = Path(__file__).resolve().parents[2] / "hls"
NOT_FOUND = "vitis_hls not found: install Vitis HLS 2023.x and source settings64.sh"

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not found (apt-get install g++)")
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make not found (apt-get install make)")
needs_tclsh = pytest.mark.skipif(
    shutil.which("tclsh") is None, reason="tclsh not found (apt-get install tcl)"
)

# Stand-ins for the Vitis HLS Tcl commands: each logs its arguments; csynth_design leaves the
# solution's syn/ directory behind as the real tool does.
STUBS_TCL = """
set ::log [open $::env(E2T_FAKE_LOG) a]
set ::solution ""
foreach cmd {open_project set_top add_files set_part create_clock csim_design cosim_design export_design} {
    proc $cmd {args} "puts \\$::log \\"$cmd \\$args\\"; flush \\$::log"
}
proc open_solution {args} {
    set ::solution [lindex $args end]
    puts $::log "open_solution $args"; flush $::log
}
proc csynth_design {args} {
    file mkdir proj/$::solution/syn
    puts $::log "csynth_design $args"; flush $::log
}
source [lindex $argv 0]
"""


# ---------------------------------------------------------------------------------------------
# g++ test benches
# ---------------------------------------------------------------------------------------------


@needs_gxx
@needs_make
def test_make_csim_passes() -> None:
    """`make -C hls csim`: both test benches at default and tiny tiles, against the C++ reference.

    The binaries go to the e2train cache rather than a fresh directory, so make rebuilds them only
    when a source changed and a repeated test run costs well under a second.
    """
    build = csim.cache_root().parent / "hls-make-csim"
    proc = subprocess.run(
        ["make", "-C", str(HLS_DIR), "-j2", "csim", f"BUILD={build}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count(": PASS (0 failed checks)") == 4, proc.stdout
    assert "csim: all test benches passed" in proc.stdout


# ---------------------------------------------------------------------------------------------
# The shared library behind the csim backend
# ---------------------------------------------------------------------------------------------


@needs_gxx
def test_library_is_built_once_per_source_and_tile_set(tmp_path: Path) -> None:
    first = csim.build_library(cache=tmp_path)
    mtime = first.stat().st_mtime_ns
    assert csim.build_library(cache=tmp_path) == first and first.stat().st_mtime_ns == mtime
    other = csim.build_library(csim.TileSizes(gemm_tn=4), cache=tmp_path)
    assert other != first and other.is_file()
    assert not list(tmp_path.rglob(".build-*")), "no temporary files left behind"


def test_cache_root_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("E2TRAIN_CACHE", str(tmp_path))
    assert csim.cache_root() == tmp_path / "csim"
    monkeypatch.delenv("E2TRAIN_CACHE")
    assert csim.cache_root() == Path.home() / ".cache" / "e2train" / "csim"


def test_missing_compiler_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CXX", "e2train-no-such-compiler")
    with pytest.raises(BackendUnavailable, match="apt-get install g\\+\\+"):
        csim.build_library(cache=tmp_path)


def test_missing_sources_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("E2TRAIN_HLS_DIR", str(tmp_path))
    with pytest.raises(BackendUnavailable, match="E2TRAIN_HLS_DIR"):
        csim.build_library(cache=tmp_path)


@needs_gxx
def test_compile_error_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    broken = tmp_path / "hls"
    shutil.copytree(HLS_DIR, broken, ignore=shutil.ignore_patterns("build"))
    (broken / "src" / "gemm.cpp").write_text("this is not C++\n")
    monkeypatch.setenv("E2TRAIN_HLS_DIR", str(broken))
    with pytest.raises(BackendUnavailable, match="compiling the HLS kernels failed"):
        csim.build_library(cache=tmp_path / "cache")


def test_tile_sizes_are_validated() -> None:
    with pytest.raises(ValueError, match="gemm_tm"):
        csim.TileSizes(gemm_tm=0).defines()
    assert csim.TileSizes(psg_tp=9).defines() == ["-DE2T_PSG_TP=9"]


# ---------------------------------------------------------------------------------------------
# Vitis HLS wrapper and Tcl scripts
# ---------------------------------------------------------------------------------------------


def _path_without_vitis() -> str:
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    return os.pathsep.join(d for d in dirs if not (Path(d) / "vitis_hls").exists())


@needs_make
def test_vitis_targets_fail_clearly_without_the_tool(tmp_path: Path) -> None:
    env = os.environ | {"PATH": _path_without_vitis(), "E2T_BUILD_DIR": str(tmp_path)}
    for target in ("csynth", "cosim", "export", "vitis-csim"):
        proc = subprocess.run(
            ["make", "-C", str(HLS_DIR), target], capture_output=True, text=True, env=env, check=False
        )
        assert proc.returncode != 0, target
        assert NOT_FOUND in proc.stderr, target
    direct = subprocess.run(
        [str(HLS_DIR / "scripts" / "run_vitis.sh"), "csynth", "gemm"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert direct.returncode == 127 and NOT_FOUND in direct.stderr


def test_vitis_wrapper_rejects_unknown_step_and_kernel() -> None:
    script = str(HLS_DIR / "scripts" / "run_vitis.sh")
    bad_step = subprocess.run([script, "place", "gemm"], capture_output=True, text=True, check=False)
    bad_kernel = subprocess.run([script, "csynth", "conv"], capture_output=True, text=True, check=False)
    assert bad_step.returncode == 2 and "allowed: vitis-csim, csynth, cosim, export" in bad_step.stderr
    assert bad_kernel.returncode == 2 and "allowed: gemm, psg_wgrad, all" in bad_kernel.stderr


@pytest.fixture
def fake_vitis(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose `vitis_hls` runs the Tcl scripts in tclsh against STUBS_TCL."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "stubs.tcl").write_text(STUBS_TCL)
    fake = bin_dir / "vitis_hls"
    # Called as: vitis_hls -f SCRIPT -l LOG
    fake.write_text(f'#!/bin/sh\nexec tclsh "{tmp_path / "stubs.tcl"}" "$2"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "vitis.log"
    env = os.environ | {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "E2T_BUILD_DIR": str(tmp_path / "build"),
        "E2T_FAKE_LOG": str(log),
    }
    return env, log


def _run_step(env: dict[str, str], step: str, kernel: str) -> subprocess.CompletedProcess[str]:
    script = str(HLS_DIR / "scripts" / "run_vitis.sh")
    return subprocess.run(
        [script, step, kernel], capture_output=True, text=True, env=env, timeout=60, check=False
    )


@needs_tclsh
def test_vitis_flow_runs_the_expected_commands(fake_vitis: tuple[dict[str, str], Path]) -> None:
    env, log = fake_vitis
    early = _run_step(env, "cosim", "gemm")
    assert early.returncode != 0 and "run 'make -C hls csynth KERNEL=gemm' first" in early.stderr

    for step in ("csynth", "cosim", "export"):
        proc = _run_step(env, step, "gemm")
        assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = log.read_text().splitlines()
    assert "set_top gemm" in lines
    assert "set_part xc7z020clg400-1" in lines
    assert "create_clock -period 10 -name default" in lines
    assert any(
        line.startswith("add_files") and line.split()[1].endswith("hls/src/gemm.cpp") for line in lines
    )
    tb = [line for line in lines if line.startswith("add_files -tb")]
    assert tb and tb[0].split()[2].endswith("hls/tb/tb_gemm.cpp") and "-DE2T_TB_QUICK" in tb[0]
    assert any(line.startswith("open_solution -reset -flow_target vivado") for line in lines)
    assert "csynth_design " in lines
    assert "cosim_design -rtl verilog -trace_level none" in lines
    exports = [line for line in lines if line.startswith("export_design")]
    assert exports and "-format ip_catalog" in exports[0] and exports[0].endswith("e2train_gemm.zip")


@needs_tclsh
def test_vitis_wrapper_runs_both_kernels(fake_vitis: tuple[dict[str, str], Path]) -> None:
    env, log = fake_vitis
    proc = _run_step(env, "csynth", "all")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tops = [line for line in log.read_text().splitlines() if line.startswith("set_top")]
    assert tops == ["set_top gemm", "set_top psg_wgrad"]
