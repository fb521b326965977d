"""The simulators' harness (``fpga/tb/e2sim.py``) without a simulator: its wall-clock limit stops
exactly the processes of one build, and a build's key follows every input that shapes it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import e2sim

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_the_limit_stops_the_processes_naming_the_build_and_no_other(tmp_path: Path) -> None:
    marker = str(tmp_path / "sim_build-x")
    bystander = subprocess.Popen([*SLEEPER, "bystander"])
    try:
        start = time.monotonic()
        with e2sim.wall_clock_limit(0.5, marker) as expired:
            done = subprocess.run([*SLEEPER, marker], check=False)
        assert expired()
        assert done.returncode != 0
        assert time.monotonic() - start < 30
        assert bystander.poll() is None  # another child of this process, not named by the marker
    finally:
        bystander.kill()
        bystander.wait()


def test_work_within_the_limit_is_left_alone(tmp_path: Path) -> None:
    with e2sim.wall_clock_limit(30, str(tmp_path)) as expired:
        done = subprocess.run([sys.executable, "-c", "print('ok')", str(tmp_path)], capture_output=True, check=True)
    assert not expired()
    assert done.stdout == b"ok\n"


def test_no_limit_means_none() -> None:
    with e2sim.wall_clock_limit(None, "anything") as expired:
        time.sleep(0.05)
    assert not expired()


def test_the_build_key_follows_parameters_and_generated_text() -> None:
    files = e2sim.sources("gemm")
    key = e2sim.fingerprint(files, "icarus", "gemm", [("KC", 16)])
    assert key == e2sim.fingerprint(files, "icarus", "gemm", [("KC", 16)])
    assert key != e2sim.fingerprint(files, "icarus", "gemm", [("KC", 32)])
    assert key != e2sim.fingerprint(files, "verilator", "gemm", [("KC", 16)])
    assert key != e2sim.fingerprint(files, "icarus", "gemm", [("KC", 16)], "module top; endmodule")
