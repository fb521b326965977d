"""Run a sweep's trials as Ray tasks and keep their states in the sweep folder.

Local by default: ``ray.init()`` starts a private Ray instance sized to this machine, so a sweep needs no
set-up; ``address`` joins an existing cluster (``ray start --head`` on one node, ``ray start --address``
on the others, or Ray on Slurm), unchanged otherwise.  Each trial is one task with ``cpus_per_trial``
CPUs (its torch threads) and ``gpus_per_trial`` GPUs, so Ray runs as many at once as the cluster holds.

What survives what: a finished trial's folder is never touched again; a worker killed mid-trial is
retried by Ray (``max_retries``) and the retry resumes from the trial's last checkpoint; an unexpected
exception is retried the same way, an error another attempt cannot fix is recorded at once; Ctrl-C
asks running trials to checkpoint and stop, records them as interrupted, and a rerun continues them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2train.errors import E2TrainError
from e2train.run_dir import RunDir
from e2train.sweep.folder import (
    FAILED,
    FINISHED,
    INTERRUPTED,
    PENDING,
    RUNNING,
    SKIPPED,
    SPEC_FILE,
    STATES_FILE,
    read_states,
    write_json,
)
from e2train.sweep.spec import SweepSpec, Trial, spec_from_dict
from e2train.sweep.trial import run_trial

log = logging.getLogger(__name__)

CANCEL_GRACE_S = 120.0  # how long Ctrl-C waits for running trials to checkpoint


class SweepError(E2TrainError):
    """A sweep that cannot start or continue as asked."""


@dataclass(frozen=True)
class SweepProgress:
    total: int
    states: dict[str, str]  # trial -> state

    def count(self, state: str) -> int:
        return sum(1 for s in self.states.values() if s == state)


def prepare_folder(spec: SweepSpec, out: Path) -> None:
    """Create the sweep folder, or check that an existing one was made by the same spec."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / SPEC_FILE
    if path.exists():
        try:
            # through the spec type: keys added to specs since the folder was made take their defaults
            earlier = spec_from_dict(json.loads(path.read_text(encoding="utf-8")), str(path)).to_dict()
        except json.JSONDecodeError as err:
            raise SweepError(f"{path} is corrupt ({err}); delete it only if {out} holds no other sweep") from err
        if earlier != spec.to_dict():
            raise SweepError(f"{out} holds a different sweep (see {path}); choose another --out, or rerun with "
                             "the same spec to continue it")
        return
    write_json(path, spec.to_dict())


def _init_ray(address: str | None, num_cpus: int | None):
    try:
        import ray
    except ImportError as err:
        raise SweepError("sweeps run on Ray: pip install 'e2train[sweep]' (or pip install ray)") from err
    if ray.is_initialized():  # a caller's own Ray session (tests, notebooks) is used as it is
        return ray, False
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            # "local": a private instance even when another Ray runs on this machine (a user's own
            # cluster, or a stale /tmp/ray/ray_current_cluster), which ray.init() would otherwise join
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as err:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise SweepError(f"cannot start or join {where}: {err}") from err
    return ray, True


def run_sweep(spec: SweepSpec, out: Path, *, address: str | None = None, cpus_per_trial: int = 1,
              gpus_per_trial: float = 0.0, num_cpus: int | None = None,
              on_change: Callable[[SweepProgress], None] | None = None) -> dict[str, dict[str, Any]]:
    """Run every trial not finished yet; returns the status record of every trial."""
    if cpus_per_trial < 1 or gpus_per_trial < 0:
        raise SweepError("--cpus-per-trial must be >= 1 and --gpus-per-trial >= 0")
    trials = spec.validate().trials()
    out = Path(out)
    prepare_folder(spec, out)
    states = read_states(out)
    todo = submission_order([t for t in trials if not RunDir(out / t.name).finished], spec.seeds)
    for t in trials:
        if t not in todo:  # finished in an earlier sitting (its record may predate this states file)
            states[t.name] = {**states.get(t.name, {}), "trial": t.name, "status": FINISHED, "error": None}
    live = {t.name: PENDING if t in todo else SKIPPED for t in trials}
    notify = on_change or (lambda progress: None)

    def changed() -> None:
        write_json(out / STATES_FILE, states)
        notify(SweepProgress(len(trials), dict(live)))

    changed()
    if not todo:
        return states
    ray, owns_ray = _init_ray(address, num_cpus)
    try:
        task = ray.remote(run_trial).options(num_cpus=cpus_per_trial, num_gpus=gpus_per_trial,
                                             max_retries=spec.retries, retry_exceptions=True,
                                             name="e2train-trial")
        refs = {task.remote(t.name, t.overrides, str(out.resolve()), cpus_per_trial): t for t in todo}
        for t in todo:
            live[t.name] = RUNNING  # submitted: Ray starts it as soon as resources allow
        changed()
        with _terminate_as_interrupt():
            _collect(ray, refs, states, live, changed)
    finally:
        if owns_ray:
            ray.shutdown()
    return states


def submission_order(trials: list[Trial], seeds: list[int]) -> list[Trial]:
    """Seed-major, the spec's order within a seed: Ray starts tasks roughly as submitted, so a sweep cut
    short (a long one runs across sittings) has every configuration at its first seeds, not some
    configurations at every seed and others at none."""
    return sorted(trials, key=lambda t: seeds.index(t.params["seed"]))


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM (a batch scheduler, ``kill``) stops a sweep the way Ctrl-C does: running trials checkpoint and
    the rerun continues them.  A sweep started in the background of a shell (``... &``) ignores SIGINT, so
    there SIGTERM is the only clean way to stop it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _collect(ray, refs: dict, states: dict, live: dict, changed: Callable[[], None]) -> None:
    pending = list(refs)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=1.0)
            for ref in done:
                _record(ray, ref, refs[ref], states, live)
            if done:
                changed()
    except KeyboardInterrupt:
        log.warning("stopping: running trials checkpoint and stop; rerun the sweep to continue them")
        for ref in pending:
            ray.cancel(ref)  # a KeyboardInterrupt in the task: the trainer checkpoints and returns
        deadline = time.monotonic() + CANCEL_GRACE_S
        while pending and time.monotonic() < deadline:
            done, pending = ray.wait(pending, num_returns=len(pending), timeout=1.0)
            for ref in done:
                _record(ray, ref, refs[ref], states, live)
        for ref in pending:
            trial = refs[ref]
            states[trial.name] = {"trial": trial.name, "status": INTERRUPTED, "error": None}
            live[trial.name] = INTERRUPTED
        changed()
        raise


def _record(ray, ref, trial: Trial, states: dict, live: dict) -> None:
    try:
        record = ray.get(ref)
    except Exception as err:  # noqa: BLE001 - a task that failed after its retries, or was cancelled
        cancelled = type(err).__name__ == "TaskCancelledError"
        record = {"trial": trial.name, "status": INTERRUPTED if cancelled else FAILED,
                  "error": None if cancelled else _last_line(err)}
    states[trial.name] = record
    live[trial.name] = record["status"]


def _last_line(err: BaseException) -> str:
    """The exception a task raised, without Ray's wrapping traceback."""
    cause = getattr(err, "cause", None) or err
    text = f"{type(cause).__name__}: {cause}"
    with contextlib.suppress(IndexError):
        text = [line for line in text.strip().splitlines() if line.strip()][-1]
    return text
