"""What Ray costs a sweep: the same trials run one after another in this process, through Ray one at a
time, and through Ray on every core, in one run.

    python -m e2train.bench.sweep_overhead --trials 8 --iters 60

Ray's overhead per trial is (Ray one at a time - plain loop) / trials: worker start-up, task scheduling,
results through the object store.  The parallel row shows what that buys on this machine.  Results go to
``measurements/sweep_overhead.{json,md}``.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import tempfile
import time
from pathlib import Path

import click

from e2train.energy.profile import REPO_ROOT
from e2train.sweep.runner import run_sweep
from e2train.sweep.spec import SweepSpec
from e2train.sweep.trial import run_trial


def _spec(trials: int, iters: int) -> SweepSpec:
    base = {"preset": "quickstart", "model": "resnet8", "iters": iters, "batch_size": 32}
    return SweepSpec(base=base, seeds=list(range(trials))).validate()


def _plain_loop(spec: SweepSpec, out: Path) -> float:
    t0 = time.perf_counter()
    for trial in spec.trials():
        run_trial(trial.name, trial.overrides, str(out), threads=1)
    return time.perf_counter() - t0


def _through_ray(spec: SweepSpec, out: Path, cpus: int) -> float:
    import ray

    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)  # started outside the timing
    try:
        t0 = time.perf_counter()
        run_sweep(spec, out)
        return time.perf_counter() - t0
    finally:
        ray.shutdown()


@click.command()
@click.option("--trials", default=8, show_default=True, help="Trials (seeds of one small digits run).")
@click.option("--iters", default=60, show_default=True, help="Iterations per trial.")
@click.option("--results", default=str(REPO_ROOT / "measurements"), show_default=True)
def main(trials: int, iters: int, results: str) -> None:
    """Time the same trials in a plain loop, through Ray one at a time, and through Ray on every core."""
    spec = _spec(trials, iters)
    cores = os.cpu_count() or 1
    load_before = os.getloadavg()[0]  # other work on the machine slows the parallel row first
    with tempfile.TemporaryDirectory(prefix="e2train-sweep-overhead-") as tmp:
        plain = _plain_loop(spec, Path(tmp) / "plain")
        serial = _through_ray(spec, Path(tmp) / "ray1", 1)
        parallel = _through_ray(spec, Path(tmp) / "rayN", cores)
    res = {"command": "python -m e2train.bench.sweep_overhead " + shlex.join(["--trials", str(trials), "--iters",
                                                                              str(iters)]),
           "machine": {"platform": platform.platform(), "cpu_count": cores, "loadavg_1min_before": load_before},
           "trials": trials, "iters": iters,
           "plain_loop_s": plain, "ray_one_at_a_time_s": serial, "ray_all_cores_s": parallel,
           "ray_overhead_per_trial_s": (serial - plain) / trials, "speedup_all_cores": plain / parallel}
    out = Path(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep_overhead.json").write_text(json.dumps(res, indent=2) + "\n")
    text = (f"# Ray overhead of a sweep\n\n`{res['command']}` on {res['machine']['platform']}, {cores} CPUs "
            f"(torch: one thread per trial; 1-min load average {load_before:.2f} before). "
            f"Each trial: ResNet-8 on digits, {iters} iterations of batch 32.\n\n"
            f"| how the {trials} trials ran | wall time (s) | per trial (s) |\n|---|---|---|\n"
            f"| plain loop in one process | {plain:.1f} | {plain / trials:.2f} |\n"
            f"| Ray, one at a time (1 CPU) | {serial:.1f} | {serial / trials:.2f} |\n"
            f"| Ray, {cores} at a time | {parallel:.1f} | {parallel / trials:.2f} |\n\n"
            f"Ray's overhead per trial: {res['ray_overhead_per_trial_s']:.2f} s (one at a time minus the plain "
            f"loop, the local Ray start excluded); on every core the sweep ran {res['speedup_all_cores']:.2f}x "
            "as fast as the plain loop.\n")
    (out / "sweep_overhead.md").write_text(text)
    click.echo(text)


if __name__ == "__main__":
    main()
