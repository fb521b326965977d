"""Kernel drivers, written once against the device interface (``e2train.device``).

The same ``GemmDriver`` / ``PsgDriver`` code runs a kernel on a PYNQ board, in the RTL simulator
and on the in-process emulation; their results equal ``e2train.kernels.reference`` bit for bit
(tests/device).  What a driver does, per call:

1. checks the operands against the reference's contract (shape, dtype, mode, tau: the same
   ``reference`` checks), so a bad call fails in Python with the reference's message, before the
   device is touched;
2. plans tiles so that every kernel run fits the device's limits (``MAX_DIM``, ``MAX_P``) and
   its memory budget;
3. per tile: copies operands into pooled device buffers (grow-only: allocated once, reused
   while they are big enough; device memory is contiguous and scarce on a board), ``flush``es
   them, writes the argument registers *by name*, ``start``s, ``wait``s with a timeout, checks
   STATUS, ``invalidate``s and copies the outputs out, and reads the counters;
4. recombines tiles exactly and sums the counters (``CALLS`` says how many runs it took).

Exactness of tiling:

- gemm over M and N: output tiles are independent, nothing to recombine.
- gemm over K (only when K > MAX_DIM): the kernel saturates each run's result to int32, and a
  saturated partial sum cannot be undone.  The driver therefore picks a K chunk for which no
  partial can saturate, ``chunk <= INT32_MAX // (max|A| * max|B|)`` from the actual operands
  (worst case 511 for int8 x int16, any chunk up to MAX_DIM for 8-bit operands), adds the int32
  partials in int64, and saturates once at the end, counting overflows as the kernel would.
- psg_wgrad over N and K: every output entry depends on one G row and one X row over the whole
  of P, so N/K tiles are exact.  P is *not* tiled: an entry's sign decision (``|16 Pr| >= tau``,
  then the sign of the full sum) needs the complete sums, which the kernel does not return.
  A P above the kernel's limit is refused with an explanation.

Overflow (gemm saturation) is defined behaviour, counted in ``GemmResult.overflows``; the driver
additionally warns (``KernelOverflowWarning``), stays silent, or raises, as ``on_overflow`` says.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from e2train.device.base import Buffer, Device, DeviceError, KernelLimits
from e2train.errors import E2TrainError
from e2train.kernels import regmap
from e2train.kernels.reference import (
    GEMM_MODES,
    INT32_MAX,
    INT32_MIN,
    GemmResult,
    KernelArgumentError,
    PsgResult,
    tau_register,
    validate_gemm_operands,
    validate_psg_operands,
)

log = logging.getLogger(__name__)

OVERFLOW_POLICIES = ("warn", "count", "raise")
POOL_GRANULE = 4096  # bytes; buffers grow in pages (PYNQ allocates whole pages anyway)
_SUMMED = tuple(name for name in regmap.COUNTER_NAMES if name != "STATUS")  # STATUS is or-ed


class KernelOverflowWarning(UserWarning):
    """A gemm result saturated to int32 (defined behaviour, but usually a sign of a bad scale)."""


class KernelOverflowError(E2TrainError, ArithmeticError):
    """A gemm result saturated and the driver was told ``on_overflow="raise"``."""


class KernelStatusError(KernelArgumentError):
    """The kernel refused a run (STATUS error bits); names the bits."""


decode_status = regmap.decode_status  # kept under its old name here


# ---------------------------------------------------------------------------------------------
# Buffer pool
# ---------------------------------------------------------------------------------------------


class BufferPool:
    """Device buffers by role ("A", "B", ...), grow-only, reused across calls.

    ``view(role, shape, dtype)`` returns the first bytes of the role's buffer as an array of that
    shape; views of PYNQ buffers (and of the emulation's) keep the right ``device_address``.  A
    role's buffer is replaced only when a call needs more than it holds (then by at least 1.5x
    the old size, so a slowly growing workload does not reallocate every call).
    """

    def __init__(self, device: Device) -> None:
        self.device = device
        self._buffers: dict[str, Buffer] = {}
        self.allocations = 0

    def capacity(self, role: str) -> int:
        buf = self._buffers.get(role)
        return 0 if buf is None else int(buf.nbytes)

    def view(self, role: str, shape: tuple[int, ...], dtype: Any) -> Any:
        dt = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        buf = self._buffers.get(role)
        if buf is None or buf.nbytes < nbytes:
            grow = 0 if buf is None else int(buf.nbytes * 1.5)
            size = -(-max(nbytes, grow, 1) // POOL_GRANULE) * POOL_GRANULE
            if buf is not None:
                self._free(buf)
            buf = self._buffers[role] = self.device.allocate((size,), np.uint8)
            self.allocations += 1
            log.debug("pool %s: %d bytes at %#x", role, size, buf.device_address)
        view = buf[:nbytes].view(dt).reshape(shape)  # type: ignore[index]
        return view

    @staticmethod
    def _free(buf: Buffer) -> None:
        free = getattr(buf, "freebuffer", None) or getattr(buf, "close", None)
        if free is not None:
            free()

    def release(self) -> None:
        """Return every buffer to the device."""
        for buf in self._buffers.values():
            self._free(buf)
        self._buffers.clear()


# ---------------------------------------------------------------------------------------------
# Shared driver machinery
# ---------------------------------------------------------------------------------------------


def _tiles(total: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, size):
        yield start, min(total, start + size)


def _refuse_empty(**operands: np.ndarray) -> None:
    for name, array in operands.items():
        if 0 in array.shape:
            raise KernelArgumentError(
                f"{name} has a zero dimension {array.shape}; the kernels refuse empty operands"
            )


def _shrink_to_budget(sizes: list[int], nbytes: Any, budget: int | None, floors: list[int]) -> list[int]:
    """Halve the largest shrinkable tile size until ``nbytes(*sizes) <= budget``."""
    if budget is None:
        return sizes
    sizes = list(sizes)
    while nbytes(*sizes) > budget:
        candidates = [i for i in range(len(sizes)) if sizes[i] > floors[i]]
        if not candidates:
            raise DeviceError(
                f"one minimal tile needs {nbytes(*sizes)} bytes, more than the device's budget of {budget}: "
                "give the device more memory"
            )
        i = max(candidates, key=lambda j: sizes[j])
        sizes[i] = max(floors[i], sizes[i] // 2)
    return sizes


class _Driver:
    kernel_name = ""

    def __init__(
        self,
        device: Device,
        *,
        timeout_s: float | None = None,
        limits: KernelLimits | None = None,
        memory_budget_bytes: int | None = None,
    ) -> None:
        self.device = device
        self.kernel = device.kernel(self.kernel_name)
        self.limits = limits or device.limits(self.kernel_name)
        self.timeout_s = timeout_s
        self.memory_budget_bytes = memory_budget_bytes or device.memory_budget_bytes
        self.pool = BufferPool(device)
        self.calls = 0

    def close(self) -> None:
        self.pool.release()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _launch(self, args: dict[str, int], macs: int) -> dict[str, int]:
        """Program, start, wait, read counters, check STATUS."""
        self.kernel.write_many(args)
        self.kernel.start()
        if self.timeout_s is not None:  # the caller's limit, in wall-clock seconds
            self.kernel.wait(self.timeout_s)
        else:  # the device's own: simulated cycles in a simulator, seconds on a board
            self.kernel.wait(self.device.timeout_for(macs), budget_cycles=self.device.cycle_budget(macs))
        counters = self.kernel.counters()
        self.calls += 1
        errors = decode_status(counters.get("STATUS", 0))
        if errors:
            shown = ", ".join(f"{k}={v:#x}" if k.endswith("ADDR") else f"{k}={v}" for k, v in args.items())
            raise KernelStatusError(
                f"{self.kernel_name} on {self.device.name} refused the run: STATUS={counters['STATUS']:#x} "
                + "; ".join(errors)
                + f" ({shown}). The driver checks arguments first, so this means the device's limits "
                "or buffer alignment differ from what the driver assumed"
            )
        return counters

    def _launch_on_buffers(
        self,
        inputs: dict[str, np.ndarray],
        outputs: dict[str, tuple[tuple[int, ...], type]],
        scalars: dict[str, int],
        macs: int,
    ) -> tuple[dict[str, np.ndarray], dict[str, int]]:
        """One run on pool buffers named after the kernel's address registers (X -> X_ADDR): copy
        and flush the inputs, launch, invalidate the outputs and copy them out."""
        in_bufs = {name: self.pool.view(name, array.shape, array.dtype) for name, array in inputs.items()}
        out_bufs = {name: self.pool.view(name, shape, dtype) for name, (shape, dtype) in outputs.items()}
        for name, array in inputs.items():
            np.copyto(in_bufs[name], array)
            in_bufs[name].flush()
        addresses = {f"{name}_ADDR": buf.device_address for name, buf in {**in_bufs, **out_bufs}.items()}
        counters = self._launch({**addresses, **scalars}, macs)
        results = {}
        for name, buf in out_bufs.items():
            buf.invalidate()
            results[name] = np.array(buf, copy=True)
        return results, counters

    @staticmethod
    def _sum_counters(total: dict[str, int], counters: dict[str, int]) -> None:
        for key, value in counters.items():
            if key == "STATUS":
                total[key] = total.get(key, 0) | value
            elif key in _SUMMED:
                total[key] = total.get(key, 0) + value
        total["CALLS"] = total.get("CALLS", 0) + 1


# ---------------------------------------------------------------------------------------------
# gemm
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GemmPlan:
    """How one gemm call is split into kernel runs."""

    tile_m: int
    tile_n: int
    tile_k: int
    runs: int


class GemmDriver(_Driver):
    """C = A x B on a device's ``gemm`` kernel; same contract as ``reference.gemm``, any size."""

    kernel_name = "gemm"

    def __init__(self, device: Device, *, on_overflow: str = "warn", **kwargs: Any) -> None:
        if on_overflow not in OVERFLOW_POLICIES:
            raise ValueError(f"on_overflow={on_overflow!r}; allowed: {', '.join(OVERFLOW_POLICIES)}")
        super().__init__(device, **kwargs)
        self.on_overflow = on_overflow

    def plan(self, a: np.ndarray, b: np.ndarray, mode: str) -> GemmPlan:
        m, k = a.shape
        n = b.shape[1]
        limit = self.limits.max_dim
        tile_k = min(k, limit)
        if k > limit:
            bound = int(np.abs(a.astype(np.int64)).max(initial=0)) * int(
                np.abs(b.astype(np.int64)).max(initial=0)
            )
            tile_k = min(limit, int(INT32_MAX) // max(bound, 1))
        b_size = np.dtype(GEMM_MODES[mode][1]).itemsize
        floor_k = 1 if k > limit else tile_k  # K is split only when it must be

        def nbytes(tm: int, tn: int, tk: int) -> int:
            return tm * tk + tk * tn * b_size + tm * tn * 4

        tm, tn, tk = _shrink_to_budget(
            [min(m, limit), min(n, limit), tile_k], nbytes, self.memory_budget_bytes, [1, 1, floor_k]
        )
        runs = -(-m // tm) * -(-n // tn) * -(-k // tk)
        return GemmPlan(tm, tn, tk, runs)

    def run(self, a: np.ndarray, b: np.ndarray, mode: str = "i8i8") -> GemmResult:
        validate_gemm_operands(a, b, mode)  # no size limits: the driver tiles
        _refuse_empty(A=a, B=b)
        m, k = a.shape
        n = b.shape[1]
        plan = self.plan(a, b, mode)
        counters: dict[str, int] = {}
        c = np.empty((m, n), dtype=np.int32)
        overflows = 0
        for m0, m1 in _tiles(m, plan.tile_m):
            for n0, n1 in _tiles(n, plan.tile_n):
                if plan.tile_k >= k:
                    c[m0:m1, n0:n1], cnt = self._run_tile(a[m0:m1], b[:, n0:n1], mode)
                    self._sum_counters(counters, cnt)
                    overflows += self._overflows(cnt, c[m0:m1, n0:n1])
                    continue
                acc = np.zeros((m1 - m0, n1 - n0), dtype=np.int64)
                for k0, k1 in _tiles(k, plan.tile_k):
                    part, cnt = self._run_tile(a[m0:m1, k0:k1], b[k0:k1, n0:n1], mode)
                    self._sum_counters(counters, cnt)
                    if cnt.get("OVERFLOWS", 0):
                        raise DeviceError(
                            f"gemm K chunk of {plan.tile_k} saturated although the operand bound says it "
                            "cannot: device and driver disagree on the kernel's arithmetic"
                        )
                    acc += part
                tile_ovf = int(((acc < INT32_MIN) | (acc > INT32_MAX)).sum())
                overflows += tile_ovf
                c[m0:m1, n0:n1] = np.clip(acc, INT32_MIN, INT32_MAX)
        if plan.runs > 1:
            # the overflow count and bit of the *whole* product, as one run would report them
            counters["OVERFLOWS"] = overflows
            status = counters.get("STATUS", 0) & ~regmap.STATUS_OVERFLOW
            counters["STATUS"] = status | (regmap.STATUS_OVERFLOW if overflows else 0)
        self._report_overflow(overflows, m, n)
        return GemmResult(c, overflows, m * n * k, counters)

    def _run_tile(self, a: np.ndarray, b: np.ndarray, mode: str) -> tuple[np.ndarray, dict[str, int]]:
        m, k = a.shape
        n = b.shape[1]
        out, counters = self._launch_on_buffers(
            {"A": a, "B": b},
            {"C": ((m, n), np.int32)},
            {"M": m, "N": n, "K": k, "MODE": regmap.GEMM_MODE_CODES[mode]},
            m * n * k,
        )
        return out["C"], counters

    @staticmethod
    def _overflows(counters: dict[str, int], c: np.ndarray) -> int:
        if "OVERFLOWS" in counters:
            return counters["OVERFLOWS"]
        # A device without the counter: entries at the int32 limits (an upper bound: an exact
        # result may equal a limit).
        return int(((c == INT32_MIN) | (c == INT32_MAX)).sum())

    def _report_overflow(self, overflows: int, m: int, n: int) -> None:
        report_overflow(overflows, m * n, self.on_overflow)


def report_overflow(overflows: int, outputs: int, policy: str = "warn") -> None:
    """Act on saturated gemm outputs as ``policy`` says: "warn", "count" (silent) or "raise"."""
    if not overflows or policy == "count":
        return
    message = f"gemm: {overflows} of {outputs} outputs saturated to int32"
    if policy == "raise":
        raise KernelOverflowError(message)
    warnings.warn(message, KernelOverflowWarning, stacklevel=4)


# ---------------------------------------------------------------------------------------------
# psg_wgrad
# ---------------------------------------------------------------------------------------------


class PsgDriver(_Driver):
    """Predictive sign weight gradient on a device's ``psg_wgrad`` kernel; contract of
    ``reference.psg_wgrad``, any N and K (tiled), P up to the kernel's limit."""

    kernel_name = "psg_wgrad"

    def plan(self, n: int, k: int, p: int) -> tuple[int, int]:
        limit = self.limits.max_dim

        def nbytes(tn: int, tk: int) -> int:
            return tk * p + tn * p * 2 + 2 * tn * tk

        tn, tk = _shrink_to_budget([min(n, limit), min(k, limit)], nbytes, self.memory_budget_bytes, [1, 1])
        return tn, tk

    def run(self, x: np.ndarray, g: np.ndarray, tau: int, x_signed: bool) -> PsgResult:
        validate_psg_operands(x, g, x_signed)
        _refuse_empty(X=x, G=g)
        tau_i = tau_register(tau)
        n, p = g.shape
        k = x.shape[0]
        if p > self.limits.max_p:
            raise KernelArgumentError(
                f"P={p} is above the kernel's limit {self.limits.max_p}; psg_wgrad is not tiled over P because "
                "each sign decision needs the whole sum over P: split the batch before calling"
            )
        tn, tk = self.plan(n, k, p)
        signs = np.empty((n, k), dtype=np.int8)
        mask = np.empty((n, k), dtype=np.uint8)
        counters: dict[str, int] = {}
        recomputed = 0
        mode = regmap.PSG_MODE_CODES["signed" if x_signed else "unsigned"]
        for n0, n1 in _tiles(n, tn):
            for k0, k1 in _tiles(k, tk):
                s_tile, m_tile, cnt = self._run_tile(x[k0:k1], g[n0:n1], tau_i, mode)
                signs[n0:n1, k0:k1] = s_tile
                mask[n0:n1, k0:k1] = m_tile
                self._sum_counters(counters, cnt)
                recomputed += cnt["RECOMPUTED"] if "RECOMPUTED" in cnt else int(m_tile.sum())
        return PsgResult(signs, mask, recomputed, n * k * p, recomputed * p, counters)

    def _run_tile(
        self, x: np.ndarray, g: np.ndarray, tau: int, mode: int
    ) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
        k, p = x.shape
        n = g.shape[0]
        out, counters = self._launch_on_buffers(
            {"X": x, "G": g},  # G is int16 (validated by run)
            {"S": ((n, k), np.int8), "MASK": ((n, k), np.uint8)},
            {"N": n, "K": k, "P": p, "TAU": tau, "MODE": mode},
            2 * n * k * p,
        )
        return out["S"], out["MASK"], counters
