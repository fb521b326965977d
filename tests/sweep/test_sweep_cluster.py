"""Sweeps on a real two-node Ray cluster started on this machine, and a worker killed mid-trial.

Opt-in (``-m slow``): each test starts Ray processes and trains for tens of seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from e2train.energy.trace import read_trace
from e2train.run_dir import LOCK_FILE
from e2train.sweep.folder import FINISHED
from e2train.sweep.runner import run_sweep
from e2train.sweep.spec import SweepSpec

pytestmark = pytest.mark.slow
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop_processes_naming(marker: str) -> None:
    """Stop the Ray processes of one cluster: those whose command line names its temp dir (``ray stop``
    would stop every Ray on the machine, a user's running sweep included)."""
    import psutil

    ours = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(marker in arg for arg in proc.info["cmdline"] or ()):
            ours.append(proc)
    for proc in ours:
        proc.terminate()
    _, alive = psutil.wait_procs(ours, timeout=20)
    for proc in alive:
        proc.kill()


@pytest.fixture
def two_node_cluster(monkeypatch, tmp_path_factory):
    """`ray start --head` and a second `ray start --address` node, one CPU each, each with its own short
    temp dir; afterwards exactly their processes are stopped."""
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # both nodes and the driver on one machine, no token
    root = Path(tempfile.mkdtemp(prefix="e2t-ray-", dir="/tmp"))  # short: Ray's socket paths live under it
    port = _free_port()
    common = ["--num-cpus", "1", "--disable-usage-stats"]
    try:
        subprocess.run([RAY, "start", "--head", "--port", str(port), "--include-dashboard=false",
                        "--temp-dir", str(root / "h"), *common], check=True, capture_output=True, timeout=120)
        subprocess.run([RAY, "start", "--address", f"127.0.0.1:{port}", "--temp-dir", str(root / "n"), *common],
                       check=True, capture_output=True, timeout=120)
        yield f"127.0.0.1:{port}"
    finally:
        _stop_processes_naming(str(root))
        shutil.rmtree(root, ignore_errors=True)


def test_a_sweep_runs_through_address_on_a_two_node_cluster(tiny, two_node_cluster, tmp_path: Path) -> None:
    import ray

    spec = SweepSpec(base=tiny, grid={"smd": [0.0, 0.5]}, seeds=[0, 1])
    ray.init(address=two_node_cluster, log_to_driver=False)
    try:
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    finally:
        ray.shutdown()
    states = run_sweep(spec, tmp_path, address=two_node_cluster)
    assert {s["status"] for s in states.values()} == {FINISHED} and len(states) == 4
    assert len({s["pid"] for s in states.values()}) >= 2  # trials ran in more than one worker process


def _kill_the_trial_worker_after_its_first_checkpoint(run_dir: Path, killed: list[int]) -> None:
    deadline = time.monotonic() + 300
    while not (run_dir / "checkpoint.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    pid = json.loads((run_dir / LOCK_FILE).read_text())["pid"]  # the worker running this trial, no other
    os.kill(pid, signal.SIGKILL)
    killed.append(pid)


def test_a_worker_killed_mid_trial_is_retried_and_the_trial_resumes(tiny, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    spec = SweepSpec(base={**tiny, "iters": 120, "checkpoint_every_iters": 20}, seeds=[0], retries=2)
    (trial,) = spec.trials()
    killed: list[int] = []
    killer = threading.Thread(target=_kill_the_trial_worker_after_its_first_checkpoint,
                              args=(tmp_path / trial.name, killed))
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        killer.start()
        states = run_sweep(spec, tmp_path)
        killer.join()
    finally:
        ray.shutdown()
    assert killed, "no trial worker was found to kill"
    record = states[trial.name]
    assert record["status"] == FINISHED and record["pid"] not in killed  # finished by the retry
    summary = json.loads((tmp_path / trial.name / "summary.json").read_text())
    assert summary["iterations"] == 120
    assert read_trace(tmp_path / trial.name)["iteration"].tolist() == list(range(120))  # resumed, no gap, no repeat


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_checkpoints_the_running_trials_and_a_rerun_finishes_them(tmp_path: Path, stop) -> None:
    """Ctrl-C, or SIGTERM from a scheduler or `kill` (the only clean stop for a sweep in a shell's background,
    which ignores SIGINT)."""
    pytest.importorskip("ray")
    out = tmp_path / "sw"
    cmd = [sys.executable, "-m", "e2train.cli.main", "sweep", "--set", "model=resnet8", "--set", "iters=300",
           "--set", "batch_size=16", "--set", "checkpoint_every_iters=20", "--seeds", "0,1", "--out", str(out)]
    sweep = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while not list(out.glob("*/checkpoint.pt")) and time.monotonic() < deadline:
        time.sleep(0.2)
    sweep.send_signal(stop)
    output, _ = sweep.communicate(timeout=300)
    assert sweep.returncode == 2 and "rerun the same command to continue" in output, output
    states = json.loads((out / "trials.json").read_text())
    assert {s["status"] for s in states.values()} == {"interrupted"}
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    for name in ("seed=0", "seed=1"):
        assert read_trace(out / name)["iteration"].tolist() == list(range(300))
