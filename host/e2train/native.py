"""Small C/C++ shared libraries built on first use with the machine's compiler, cached by content.

Why: two hot loops are native code that ships as source, so that it runs on any machine with a compiler
(a PYNQ board has one): the HLS kernels' C simulation (``backends.csim``) and the power sampler's loop
(``power.native_sampler``).  A library lands in ``$E2TRAIN_CACHE/<kind>/<key>/`` (default
``~/.cache/e2train``); the key covers the sources, the flags and the compiler's version banner, so an
edited source is rebuilt and an unchanged one is not.  Concurrent builds are safe: each compiles into a
temporary file and renames it into place.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from e2train.errors import E2TrainError

log = logging.getLogger(__name__)


class NativeBuildError(E2TrainError):
    """No compiler, or the compiler refused the sources; the message says which and how to fix it."""


def cache_root(kind: str) -> Path:
    """``$E2TRAIN_CACHE/<kind>`` or ``~/.cache/e2train/<kind>``."""
    env = os.environ.get("E2TRAIN_CACHE")
    return (Path(env) if env else Path.home() / ".cache" / "e2train") / kind


def find_compiler(env_var: str, default: str, package: str, purpose: str) -> tuple[str, str]:
    """Path and version banner of the compiler named by ``$env_var`` (else ``default``); the error names
    the Debian ``package`` that provides it."""
    name = os.environ.get(env_var, default)
    path = shutil.which(name)
    if path is None:
        raise NativeBuildError(f"compiler {name!r} not found: {purpose}; install it with 'apt-get install "
                               f"{package}' (or set {env_var} to another compiler)")
    version = subprocess.run([path, "--version"], capture_output=True, text=True, check=False).stdout
    return path, version.splitlines()[0] if version else ""


def build_shared_library(kind: str, name: str, what: str, sources: Sequence[Path], headers: Sequence[Path],
                         flags: Sequence[str], compiler: tuple[str, str], cache: Path | None = None) -> Path:
    """Compile ``sources`` (``what``, for messages) into ``lib<name>.so`` unless an identical build is
    cached; return its path."""
    digest = hashlib.sha256()
    for path in [*sources, *headers]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update("\0".join(flags).encode() + b"\0" + "\0".join(compiler).encode())
    out_dir = (cache or cache_root(kind)) / digest.hexdigest()[:16]
    lib = out_dir / f"lib{name}.so"
    if lib.is_file():
        return lib
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=out_dir)
    os.close(fd)
    cmd = [compiler[0], *flags, *(str(s) for s in sources), "-o", tmp_name]
    log.info("building %s: %s", what, " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        Path(tmp_name).unlink(missing_ok=True)
        raise NativeBuildError(f"compiling {what} failed (exit {proc.returncode}):\n{' '.join(cmd)}\n"
                               f"{proc.stderr[-4000:]}")
    os.replace(tmp_name, lib)
    return lib
