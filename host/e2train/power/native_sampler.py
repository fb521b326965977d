"""The sampler's schedule as a C loop (``native_sampler.c``) for sources that are plain files.

Why: at 1 kHz, Python's share of each sample (the interpreter waking, the loop, the reads, the ring
write) costs about as much again as the timer wake-up itself; the C loop leaves the wake-up and one
``pread`` per attribute.  It runs in the forked sampler process (``sampler.SamplerProcess``), writes the
same rows into the same shared ring, and follows the same schedule as ``sampler.run_schedule``.

A source offers it through ``native_files()``: the open file descriptors of its rails, in order, and for
each rail whether it is two files multiplied (current x voltage).  The library is built on first use with
the C compiler (``$CC``, default ``cc``) into the cache of ``e2train.native``; without a compiler the
sampler stays in Python and says so once in the log.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

from e2train import native

SOURCE = Path(__file__).with_name("native_sampler.c")
VERSION = 1  # must equal E2T_SAMPLER_VERSION in native_sampler.c
CFLAGS = ("-std=c11", "-O2", "-shared", "-fPIC", "-Wall")


def library_path() -> Path:
    """Build (unless cached) the sampler library; raises ``native.NativeBuildError`` without a compiler."""
    compiler = native.find_compiler("CC", "cc", "gcc", "the 1 kHz power sampler compiles its loop with it")
    return native.build_shared_library("sampler", "e2train_sampler", "the power sampler's loop", [SOURCE], [],
                                       CFLAGS, compiler)


def load(path: Path) -> ctypes.CDLL:
    """The library at ``path`` with its function types declared; checks the C side's version."""
    lib = ctypes.CDLL(str(path))
    lib.e2t_sampler_version.restype = ctypes.c_int
    if lib.e2t_sampler_version() != VERSION:
        raise native.NativeBuildError(f"{path}: sampler version {lib.e2t_sampler_version()} != {VERSION}: "
                                      "native_sampler.c and native_sampler.py are out of step")
    i32p, i64p = ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_longlong)
    lib.e2t_sample_loop.restype = ctypes.c_int
    lib.e2t_sample_loop.argtypes = [i32p, i32p, ctypes.c_int, ctypes.c_double, ctypes.c_double,
                                    ctypes.POINTER(ctypes.c_double), ctypes.c_longlong, ctypes.c_int, i64p,
                                    ctypes.POINTER(ctypes.c_byte), i64p, i64p, ctypes.c_int, i32p]
    return lib
