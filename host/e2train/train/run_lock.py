"""One run per run directory: an advisory lock held for the whole run, and no silent overwrite.

Two processes writing one run directory interleave their traces and checkpoints into a run that
never happened.  ``RunLock`` holds an exclusive ``flock`` on ``run.lock`` (released by the kernel
when the process dies, so a crash never leaves a stale lock) and records who holds it, for the
message the second process prints.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from e2train.config import ConfigError
from e2train.run_dir import LOCK_FILE


class RunInUseError(ConfigError):
    """Another process is running in this run directory."""


class RunLock:
    def __init__(self, run_dir: Path):
        self.path = run_dir / LOCK_FILE
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise ConfigError(f"cannot write the run directory {run_dir}: {err.strerror}") from err
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._holder()
            os.close(self._fd)
            self._fd = None
            raise RunInUseError(f"{run_dir} is in use by another e2train run ({holder}); wait for it to "
                                "finish or choose another --out") from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                       "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode())

    def _holder(self) -> str:
        try:
            info = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return "holder unknown"
        return f"pid {info.get('pid')} on {info.get('host')} since {info.get('since')}"

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
