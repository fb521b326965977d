"""The torch device a run computes on, checked against this machine before anything is loaded."""

from __future__ import annotations

import ctypes
import ctypes.util

import torch

from e2train.config import ConfigError

SUPPORTED_TYPES = ("cpu", "cuda")


def torch_device(name: str) -> torch.device:
    """``--device`` as a ``torch.device``; a device this machine lacks is a ConfigError naming the fix,
    not a CUDA traceback from the first tensor moved there."""
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as err:
        raise ConfigError(f"device={name!r} is not a torch device ({err}); use cpu, cuda or cuda:N") from err
    if device.type not in SUPPORTED_TYPES:
        raise ConfigError(f"device={name!r}: runs compute on {' or '.join(SUPPORTED_TYPES)}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device={name!r}: this torch ({torch.__version__}) sees no CUDA GPU; "
                              "use --device cpu, or install a CUDA build of torch on a machine with a GPU")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device={name!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                              f"numbered from 0")
    return device


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def reuse_freed_memory() -> bool:
    """Let glibc keep freed memory for the next allocation instead of returning it to the system.

    A CPU training step allocates and frees tens of large temporaries (activations, codes, patch
    buffers of several MiB).  By default glibc serves such sizes with mmap and returns the heap's top
    to the system, so every step faults fresh, zeroed pages in again; in a profile of the PSG step
    that made every elementwise kernel 2-4x slower at times.  Up to 32 MiB (glibc's ceiling for this
    threshold) now come from the heap, and up to 1 GiB of freed heap stays mapped.  A process-wide
    setting of the C allocator, made by the trainer for CPU runs; elsewhere (no glibc) it does nothing
    and returns False.
    """
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(param, value) == 1 for param, value in (
        (_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 1 << 30), (_M_TOP_PAD, 64 << 20)))
