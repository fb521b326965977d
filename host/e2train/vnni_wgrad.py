"""The PSG weight gradient's integer sums through AVX-512 VNNI (``vnni_wgrad.cpp``), where the CPU has it.

Why native code: on these shapes (reductions over 10**5 positions into a few thousand sums) ``torch._int_mm``
reached about 60 G int8 MAC/s per thread, a tenth of what ``vpdpbusd`` does here, and the patch and byte
buffers around it cost as much again.  The kernel packs the activations once for all kernel taps, quantizes
the gradient as it packs it, and keeps the products in registers; the sums are exact integers, the same as
``e2train.intmath`` computes (tests compare them bit for bit).

Used when the tensors are float32 on the CPU, the CPU reports ``avx512_vnni``, a C++ compiler exists
(``$CXX``, default ``g++``) and ``E2TRAIN_VNNI`` is not ``0``; otherwise the caller takes the torch path.  The
library is built on first use into the cache of ``e2train.native``.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import platform
from pathlib import Path

import torch

from e2train import native

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("vnni_wgrad.cpp")
VERSION = 1  # must equal kVersion in vnni_wgrad.cpp
CXXFLAGS = ("-std=c++17", "-O3", "-shared", "-fPIC", "-Wall", "-fopenmp", "-mavx512f", "-mavx512bw",
            "-mavx512vnni")
REQUIRED_CPU_FLAGS = ("avx512f", "avx512bw", "avx512_vnni")
DISABLE_ENV = "E2TRAIN_VNNI"  # "0": always the torch path (for A/B comparisons)


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux reports them (empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


@functools.cache
def _library() -> ctypes.CDLL | None:
    """Built and loaded once per process; None (said once in the log) where this machine cannot run it."""
    if platform.machine() not in ("x86_64", "AMD64") or not set(REQUIRED_CPU_FLAGS) <= cpu_flags():
        log.info("no AVX-512 VNNI on this CPU: the PSG weight gradient takes the torch path")
        return None
    try:
        compiler = native.find_compiler("CXX", "g++", "g++", "the PSG weight gradient's VNNI kernel is C++")
        path = native.build_shared_library("vnni", "e2train_vnni_wgrad", "the VNNI weight-gradient kernel",
                                           [SOURCE], [], CXXFLAGS, compiler)
    except native.NativeBuildError as err:
        log.warning("VNNI kernel unavailable, the PSG weight gradient takes the slower torch path: %s", err)
        return None
    lib = ctypes.CDLL(str(path))
    lib.e2t_vnni_wgrad_version.restype = ctypes.c_int
    if lib.e2t_vnni_wgrad_version() != VERSION:
        raise native.NativeBuildError(f"{path}: version {lib.e2t_vnni_wgrad_version()} != {VERSION}: "
                                      "vnni_wgrad.cpp and vnni_wgrad.py are out of step")
    c_int, ptr = ctypes.c_int, ctypes.c_void_p
    lib.e2t_psg_wgrad_sums.restype = c_int
    lib.e2t_psg_wgrad_sums.argtypes = [ptr, c_int, c_int, c_int, c_int, c_int, ptr, ctypes.c_float, c_int, c_int,
                                       c_int, c_int, c_int, c_int, c_int, c_int, ptr]
    return lib


def available(*tensors: torch.Tensor) -> bool:
    """Whether the kernel can take these tensors here (float32 on the CPU, a VNNI CPU, a compiler)."""
    if os.environ.get(DISABLE_ENV) == "0":
        return False
    if not all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors):
        return False
    return _library() is not None


def psg_wgrad_sums(x_codes: torch.Tensor, x_signed: bool, grad_out: torch.Tensor, g_scale: torch.Tensor,
                   kernel: tuple[int, int], stride: int, padding: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact ``(sum g * msb4(x), sum g * (x - 16 msb4(x)))`` per weight, each int64 (N, C, kh, kw).

    x_codes: (B, C, H, W) 8-bit activation codes in float32; grad_out: (B, N, Ho, Wo) float32, quantized
    to 16-bit codes with ``g_scale`` (``quant.gradient_scale``) inside the kernel, as ``quant.quantize_gradient``
    would.  Call only where ``available`` says so.
    """
    lib = _library()
    assert lib is not None, "psg_wgrad_sums called where available() is False"
    batch, cin, height, width = x_codes.shape
    _, cout, out_h, out_w = grad_out.shape
    kh, kw = kernel
    x_last = x_codes.permute(0, 2, 3, 1).contiguous()  # a view of a channels-last tensor: no copy
    g_last = grad_out.permute(0, 2, 3, 1).contiguous()
    sums = torch.empty(kh * kw, 2 * cout + 1, 2 * cin, dtype=torch.int64)
    status = lib.e2t_psg_wgrad_sums(x_last.data_ptr(), batch, height, width, cin, int(x_signed), g_last.data_ptr(),
                                    float(g_scale), out_h, out_w, cout, kh, kw, stride, padding,
                                    torch.get_num_threads(), sums.data_ptr())
    if status == -2:
        raise ValueError(f"VNNI weight gradient: activation codes outside [{-128 if x_signed else 0}, "
                         f"{127 if x_signed else 255}]: not {'signed' if x_signed else 'unsigned'} 8-bit codes")
    if status != 0:
        raise ValueError(f"VNNI weight gradient: unsupported conv {tuple(x_codes.shape)} -> {tuple(grad_out.shape)}, "
                         f"kernel {kernel}, stride {stride}, padding {padding}")
    # Row n: (high byte + 128) . window, row N + n: low byte . window, row 2N: the window sums (undo the +128)
    high = sums[:, :cout] - 128 * sums[:, 2 * cout:]
    products = (high << 8).add_(sums[:, cout:2 * cout])  # (taps, N, 2C): g . m in columns [0, C), g . r after
    per_weight = products.view(kh, kw, cout, 2, cin).permute(3, 2, 4, 0, 1)  # (2, N, C, kh, kw)
    return per_weight[0], per_weight[1]
