"""The HLS C++ kernels compiled with g++ as a shared library: C simulation behind the reference API.

Why this backend exists: the C++ in ``hls/`` is what Vitis HLS turns into the FPGA IP; running the
very same source on the CPU checks it bit for bit against ``e2train.kernels.reference`` (and lets
training runs use it) without any Xilinx tool.

How it works: on first use the sources are compiled into
``$E2TRAIN_CACHE/csim/<hash>/`` (default ``~/.cache/e2train/csim/<hash>/``); the hash covers the
sources, the flags and the compiler version, so an edited kernel is rebuilt and an unchanged one is
not.  Each call lays the operands out in one host buffer (the "arena"), as a driver lays them out in
device memory, passes byte offsets as the address registers, and reads results and counter registers
back.  The kernels validate their arguments themselves (STATUS bits); a refused call raises
``KernelArgumentError`` naming the bits.

Where the sources are (``hls_dir``): ``$E2TRAIN_HLS_DIR`` if set; else ``hls/`` of the repository
around this file (a checkout, or an editable install); else ``e2train/_hls/``, the copy of the
sources that a regular (non-editable) install ships as package data.

Environment: ``E2TRAIN_CACHE`` (cache root), ``E2TRAIN_HLS_DIR`` (an ``hls/`` directory to use
instead of the above), ``CXX`` (compiler, default ``g++``).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from e2train import native
from e2train.backends import BackendUnavailable
from e2train.kernels import regmap
from e2train.kernels.reference import TAU_MAX as TAU_MAX  # re-exported: the largest threshold
from e2train.kernels.reference import (
    GemmResult,
    KernelArgumentError,
    PsgResult,
    tau_register,
    validate_gemm_operands,
    validate_psg_operands,
)

log = logging.getLogger(__name__)

CAPI_VERSION = 2  # must equal E2T_CAPI_VERSION in hls/csim/capi.cpp
ARENA_ALIGN = 64  # bytes between operands in the arena (>= regmap.ADDRESS_ALIGN)
SOURCES = ("src/gemm.cpp", "src/psg_wgrad.cpp", "csim/capi.cpp")
HEADERS = ("include/e2train_kernels.h", "src/axi_words.h")
CXXFLAGS = (
    "-std=c++14",
    "-O2",
    "-fPIC",
    "-shared",
    "-fvisibility=hidden",
    # Both AXI masters of a kernel view the one arena through different pointer types.
    "-fno-strict-aliasing",
    "-Wall",
    "-Wno-unknown-pragmas",
    "-Wno-unused-label",
)


class _Counters(ctypes.Structure):
    """Mirror of ``struct e2t_counters`` in hls/csim/capi.cpp (same field order)."""

    _fields_ = [
        ("status", ctypes.c_uint32),
        ("overflows", ctypes.c_uint32),
        ("recomputed", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("macs", ctypes.c_uint64),
        ("bytes_read", ctypes.c_uint64),
        ("bytes_written", ctypes.c_uint64),
    ]

    def as_dict(self) -> dict[str, int]:
        return {
            "MACS": int(self.macs),
            "BYTES_READ": int(self.bytes_read),
            "BYTES_WRITTEN": int(self.bytes_written),
            "OVERFLOWS": int(self.overflows),
            "RECOMPUTED": int(self.recomputed),
            "STATUS": int(self.status),
        }


@dataclass(frozen=True)
class TileSizes:
    """Compile-time tile sizes of a library build (``None`` fields keep the header's defaults)."""

    gemm_tm: int | None = None
    gemm_tn: int | None = None
    gemm_tk: int | None = None
    psg_tn: int | None = None
    psg_tk: int | None = None
    psg_tp: int | None = None

    def defines(self) -> list[str]:
        """``-D`` flags for the fields that are set, after checking they are usable sizes."""
        flags = []
        for name, value in self.__dict__.items():
            if value is None:
                continue
            # The C++ keeps its tile buffers on the stack: 256 keeps them to a few MB.
            if not isinstance(value, int) or not 1 <= value <= 256:
                raise ValueError(f"tile size {name} must be an int in 1..256, got {value!r}")
            flags.append(f"-DE2T_{name.upper()}={value}")
        return flags


# ---------------------------------------------------------------------------------------------
# Building and loading the library
# ---------------------------------------------------------------------------------------------


def _missing_sources(path: Path) -> list[str]:
    return [p for p in SOURCES + HEADERS if not (path / p).is_file()]


def hls_candidates() -> list[Path]:
    """Where ``hls_dir`` looks, in order (see the module docstring)."""
    env = os.environ.get("E2TRAIN_HLS_DIR")
    if env:
        return [Path(env)]  # an explicit choice: no silent fallback to another copy
    package = Path(__file__).resolve().parents[1]  # .../e2train
    candidates = []
    if package.parent.name == "host":  # the repository layout: <repo>/host/e2train
        candidates.append(package.parents[1] / "hls")
    candidates.append(package / "_hls")  # package data of a regular install
    return candidates


def hls_dir() -> Path:
    """The HLS C++ source tree the library is built from: the first candidate that has every file."""
    candidates = hls_candidates()
    for path in candidates:
        if not _missing_sources(path):
            return path
    tried = "; ".join(f"{p} (missing {', '.join(_missing_sources(p))})" for p in candidates)
    raise BackendUnavailable(
        f"the HLS C++ sources were not found: {tried}. The csim backend builds them on first use: "
        "install e2train from a checkout (pip install -e .) or from a wheel that includes e2train/_hls, "
        "or set E2TRAIN_HLS_DIR to the repository's hls/ directory"
    )


def cache_root() -> Path:
    """Where built libraries are kept: ``$E2TRAIN_CACHE/csim`` or ``~/.cache/e2train/csim``."""
    return native.cache_root("csim")


def build_library(tiles: TileSizes | None = None, cache: Path | None = None) -> Path:
    """Compile the kernels into a shared library unless an identical build is cached; return its path."""
    src = hls_dir()
    flags = [*CXXFLAGS, *(tiles.defines() if tiles else []), f"-I{src / 'include'}", f"-I{src / 'src'}"]
    try:
        compiler = native.find_compiler("CXX", "g++", "g++", "the csim backend compiles the HLS kernels with it")
        return native.build_shared_library("csim", "e2train_csim", "the HLS kernels", [src / s for s in SOURCES],
                                           [src / h for h in HEADERS], flags, compiler, cache or cache_root())
    except native.NativeBuildError as err:
        raise BackendUnavailable(str(err)) from None


@functools.cache
def load_library(tiles: TileSizes | None = None) -> ctypes.CDLL:
    """Build (if needed) and load the library once per process and tile configuration."""
    lib = ctypes.CDLL(str(build_library(tiles)))
    lib.e2t_capi_version.restype = ctypes.c_int
    lib.e2t_capi_version.argtypes = []
    if lib.e2t_capi_version() != CAPI_VERSION:
        raise BackendUnavailable(
            f"csim library C API version {lib.e2t_capi_version()} != {CAPI_VERSION}: "
            "hls/csim/capi.cpp and e2train/backends/csim.py are out of step"
        )
    u32, u64, ptr = ctypes.c_uint32, ctypes.c_uint64, ctypes.c_void_p
    lib.e2t_tile_sizes.restype = None
    lib.e2t_tile_sizes.argtypes = [ctypes.POINTER(u32)]
    lib.e2t_gemm.restype = None
    lib.e2t_gemm.argtypes = [ptr, u64, u64, u64, u32, u32, u32, u32, ctypes.POINTER(_Counters)]
    lib.e2t_psg_wgrad.restype = None
    lib.e2t_psg_wgrad.argtypes = [ptr, u64, u64, u64, u64, u32, u32, u32, u64, u32, ctypes.POINTER(_Counters)]
    return lib


def tile_sizes(tiles: TileSizes | None = None) -> TileSizes:
    """The tile sizes a loaded library was actually compiled with (defaults resolved)."""
    out = (ctypes.c_uint32 * 6)()
    load_library(tiles).e2t_tile_sizes(out)
    return TileSizes(*(int(v) for v in out))


# ---------------------------------------------------------------------------------------------
# Device-memory emulation and register-level calls
# ---------------------------------------------------------------------------------------------


class Arena:
    """One host buffer standing in for device memory: operands at aligned byte offsets.

    The buffer starts on an ARENA_ALIGN boundary of host memory, so an offset that is a multiple of
    ADDRESS_ALIGN is as aligned for the C++ as a device address is for the AXI master.
    """

    def __init__(self, sizes: list[int]) -> None:
        self.offsets = []
        top = 0
        for size in sizes:
            self.offsets.append(top)
            top += -(-max(size, 1) // ARENA_ALIGN) * ARENA_ALIGN
        raw = np.empty(top + ARENA_ALIGN, dtype=np.uint8)
        start = (-raw.ctypes.data) % ARENA_ALIGN
        self.mem = raw[start : start + top]
        # A sentinel, so that an entry the kernel never writes cannot pass for a result.
        self.mem.fill(0xA5)

    def put(self, index: int, array: np.ndarray) -> None:
        data = np.ascontiguousarray(array).view(np.uint8).reshape(-1)
        self.mem[self.offsets[index] : self.offsets[index] + data.size] = data

    def get(self, index: int, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
        count = int(np.prod(shape))
        nbytes = count * np.dtype(dtype).itemsize
        start = self.offsets[index]
        return self.mem[start : start + nbytes].view(dtype).reshape(shape).copy()


def _region_fits(mem: np.ndarray, addr: int, nbytes: int) -> bool:
    # Reads fetch whole 64-bit words, so a region's last word must lie inside the buffer too.
    end = -(-(addr + nbytes) // 8) * 8
    return addr >= 0 and end <= mem.size


def _check_registers(mem: np.ndarray, values: dict[str, int], widths: dict[str, int]) -> None:
    if mem.dtype != np.uint8 or mem.ndim != 1 or not mem.flags.c_contiguous:
        raise KernelArgumentError("device memory must be a contiguous 1-D uint8 array")
    if mem.ctypes.data % regmap.ADDRESS_ALIGN:
        raise KernelArgumentError(f"device memory must start on a {regmap.ADDRESS_ALIGN}-byte boundary")
    for name, value in values.items():
        if not 0 <= value < 2 ** widths[name]:
            raise KernelArgumentError(f"{name}={value} does not fit its {widths[name]}-bit register")


def gemm_registers(
    mem: np.ndarray,
    a_addr: int,
    b_addr: int,
    c_addr: int,
    m: int,
    n: int,
    k: int,
    mode: int,
    *,
    tiles: TileSizes | None = None,
) -> dict[str, int]:
    """Run gemm as a driver would: raw register values, ``mem`` as device memory; return counters.

    Unlike ``gemm`` this does not raise on a STATUS error: it returns the STATUS the kernel set,
    which is what a test of the kernel's own argument checks needs.  It does refuse, before the
    C++ runs, a call whose regions would fall outside ``mem`` (on a board that would read or
    write someone else's memory; here it would crash the process).
    """
    values = {"A_ADDR": a_addr, "B_ADDR": b_addr, "C_ADDR": c_addr, "M": m, "N": n, "K": k, "MODE": mode}
    widths = {name: regmap.GEMM[name].width_bits for name in values}
    _check_registers(mem, values, widths)
    dims_ok = all(1 <= d <= regmap.MAX_DIM for d in (m, n, k))
    aligned = all(a % regmap.ADDRESS_ALIGN == 0 for a in (a_addr, b_addr, c_addr))
    if dims_ok and aligned and mode in regmap.GEMM_MODE_CODES.values():
        b_size = 2 if mode == regmap.GEMM_MODE_CODES["i8i16"] else 1
        for name, addr, nbytes in (
            ("A", a_addr, m * k),
            ("B", b_addr, k * n * b_size),
            ("C", c_addr, m * n * 4),
        ):
            if not _region_fits(mem, addr, nbytes):
                raise KernelArgumentError(f"{name} ({nbytes} bytes at {addr:#x}) lies outside device memory")
    counters = _Counters()
    load_library(tiles).e2t_gemm(
        mem.ctypes.data, a_addr, b_addr, c_addr, m, n, k, mode, ctypes.byref(counters)
    )
    return counters.as_dict()


def psg_wgrad_registers(
    mem: np.ndarray,
    x_addr: int,
    g_addr: int,
    s_addr: int,
    mask_addr: int,
    n: int,
    k: int,
    p: int,
    tau: int,
    mode: int,
    *,
    tiles: TileSizes | None = None,
) -> dict[str, int]:
    """Run psg_wgrad from raw register values (see ``gemm_registers``); return the counters."""
    values = {
        "X_ADDR": x_addr, "G_ADDR": g_addr, "S_ADDR": s_addr, "MASK_ADDR": mask_addr,
        "N": n, "K": k, "P": p, "TAU": tau, "MODE": mode,
    }  # fmt: skip
    widths = {name: regmap.PSG_WGRAD[name].width_bits for name in values}
    _check_registers(mem, values, widths)
    dims_ok = all(1 <= d <= regmap.MAX_DIM for d in (n, k)) and 1 <= p <= regmap.MAX_P
    aligned = all(a % regmap.ADDRESS_ALIGN == 0 for a in (x_addr, g_addr, s_addr, mask_addr))
    if dims_ok and aligned and mode in regmap.PSG_MODE_CODES.values():
        regions = (
            ("X", x_addr, k * p),
            ("G", g_addr, n * p * 2),
            ("S", s_addr, n * k),
            ("MASK", mask_addr, n * k),
        )
        for name, addr, nbytes in regions:
            if not _region_fits(mem, addr, nbytes):
                raise KernelArgumentError(f"{name} ({nbytes} bytes at {addr:#x}) lies outside device memory")
    counters = _Counters()
    load_library(tiles).e2t_psg_wgrad(
        mem.ctypes.data, x_addr, g_addr, s_addr, mask_addr, n, k, p, tau, mode, ctypes.byref(counters)
    )
    return counters.as_dict()


def _raise_on_status(kernel: str, counters: dict[str, int], detail: str) -> None:
    errors = regmap.decode_status(counters["STATUS"])
    if errors:
        raise KernelArgumentError(
            f"{kernel} refused the call ({detail}): STATUS={counters['STATUS']:#x} " + "; ".join(errors)
        )


# ---------------------------------------------------------------------------------------------
# The reference API
# ---------------------------------------------------------------------------------------------


class CsimKernels:
    """The two kernels of one library build; ``tiles`` picks the compile-time tile sizes.

    The module-level ``gemm`` and ``psg_wgrad`` are the methods of a default-tile instance, so the
    backend exposes exactly the reference's signatures; tests build other tile sizes through this
    class to push every shape onto partial-tile edges.
    """

    def __init__(self, tiles: TileSizes | None = None) -> None:
        self.tiles = tiles

    def gemm(self, a: np.ndarray, b: np.ndarray, mode: str = "i8i8") -> GemmResult:
        """C = A x B on the HLS kernel in C simulation; same contract as ``reference.gemm``.

        Shapes the kernel refuses (a zero or a dimension above MAX_DIM) raise
        ``KernelArgumentError`` from the kernel's STATUS (BAD_DIMS); the reference refuses the
        same shapes with the same exception.
        """
        validate_gemm_operands(a, b, mode)  # the size limits are the kernel's (STATUS BAD_DIMS)
        (m, k), n = a.shape, b.shape[1]
        if max(m, n, k) >= 2**32:
            raise KernelArgumentError(f"dimensions {m}, {n}, {k} do not fit 32-bit registers")
        arena = Arena([a.nbytes, b.nbytes, m * n * 4])
        arena.put(0, a)
        arena.put(1, b)
        a_addr, b_addr, c_addr = arena.offsets
        mode_code = regmap.GEMM_MODE_CODES[mode]
        counters = gemm_registers(arena.mem, a_addr, b_addr, c_addr, m, n, k, mode_code, tiles=self.tiles)
        _raise_on_status("gemm", counters, f"M={m}, N={n}, K={k}, mode={mode}")
        c = arena.get(2, np.int32, (m, n))
        return GemmResult(c, counters["OVERFLOWS"], counters["MACS"], counters)

    def psg_wgrad(self, x: np.ndarray, g: np.ndarray, tau: int, x_signed: bool) -> PsgResult:
        """Predictive sign weight gradient on the HLS kernel in C simulation (reference contract).

        ``macs_full`` is the kernel's MACS counter minus the N*K*P predictor MACs, so it shows what
        the hardware issued rather than what the reference expects.  ``tau`` is any integer in
        0..2**64-1, the range of the 64-bit TAU register (see ``reference.tau_register``).  Shapes the
        kernel refuses (BAD_DIMS) raise ``KernelArgumentError``, as the reference does.
        """
        validate_psg_operands(x, g, x_signed)
        tau_reg = tau_register(tau)
        (n, p), k = g.shape, x.shape[0]
        if max(n, k, p) >= 2**32:
            raise KernelArgumentError(f"dimensions {n}, {k}, {p} do not fit 32-bit registers")
        arena = Arena([x.nbytes, g.nbytes, n * k, n * k])
        arena.put(0, x)
        arena.put(1, g)
        mode = regmap.PSG_MODE_CODES["signed" if x_signed else "unsigned"]
        x_addr, g_addr, s_addr, mask_addr = arena.offsets
        counters = psg_wgrad_registers(
            arena.mem, x_addr, g_addr, s_addr, mask_addr, n, k, p, tau_reg, mode, tiles=self.tiles
        )
        _raise_on_status("psg_wgrad", counters, f"N={n}, K={k}, P={p}, x_signed={x_signed}")
        signs = arena.get(2, np.int8, (n, k))
        mask = arena.get(3, np.uint8, (n, k))
        macs_predict = n * k * p
        return PsgResult(
            signs, mask, counters["RECOMPUTED"], macs_predict, counters["MACS"] - macs_predict, counters
        )


_DEFAULT = CsimKernels()


def gemm(a: np.ndarray, b: np.ndarray, mode: str = "i8i8") -> GemmResult:
    """C = A x B with exact accumulation, saturated to int32: the HLS C++ kernel run on the CPU."""
    return _DEFAULT.gemm(a, b, mode)


def psg_wgrad(x: np.ndarray, g: np.ndarray, tau: int, x_signed: bool) -> PsgResult:
    """Predictive sign weight gradient: the HLS C++ kernel run on the CPU."""
    return _DEFAULT.psg_wgrad(x, g, tau, x_signed)
