"""The trainer's conv arithmetic on an accelerator: ``ConvKernels`` through the kernel drivers.

``DeviceKernels`` implements the seam of ``e2train.nn.qconv`` (``forward``, ``input_grad``,
``wgrad_psg``) with the two kernels of a ``Device`` (the emulation, a PYNQ board or the RTL in a
simulator), through the same ``GemmDriver`` / ``PsgDriver`` code for all three:

- forward: im2col of the activation codes, then gemm ``i8u8`` (post-ReLU inputs) or ``i8i8``
  (the signed stem input), ``e2train.kernels.driver_conv.conv2d_forward_codes``;
- input gradient: gemm ``i8i16`` of the transposed weight codes (Cin*kh*kw x Cout) and the 16-bit
  error codes (Cout x B*Ho*Wo); the host then folds the columns back into the input's shape
  (col2im: adds at most kh*kw int32 partial sums per element, exactly, in float64).  Every MAC runs
  on the device.  This needs the hardware's 16-bit error codes: ``input_grad="int16"``;
- weight gradient: ``psg_wgrad`` with the integer threshold ``tau`` on ``|16 Pr|``
  (``e2train.techniques.psg.integer_threshold``).  Only ``psg_threshold_mode="abs"`` is accepted:
  a relative threshold is ``threshold * max |16 Pr|`` over the whole layer, which is known only
  after every prediction, whereas the kernel decides each entry as its prediction completes and
  returns no predictions.  (An exact alternative, a first device pass that computes ``Pr`` with a
  gemm of the msb4 codes, doubles the prediction work and changes the energy being measured; it is
  not implemented.)  ``TrainConfig.validate`` refuses the combination with a ``ConfigError``.

Exactness: the results are the same integers as ``TorchKernels``' and are returned in the same
float dtype (float32 where the software path's partial-sum bound is below 2**24, else float64, the
same bound computed the same way), so training through a device is bit-identical to training in
software (tests/device/test_device_training.py).  A gemm that saturates raises
``KernelOverflowError`` rather than silently returning a different number.

Where the device is used: by default on every call.  The trainer attaches kernels with
``enabled=False`` and switches them on only between ``begin_iteration`` and ``end_iteration``,
i.e. for its training steps; the shape-tracing pass and the test-set evaluation run on the
software kernels (same integers, by the contract above), so that a simulated run spends its
simulator time on training and the per-iteration counters describe training only.

Counters: every driver call adds the device's counters (busy cycles, memory-stall cycles, MACs,
bytes, recomputed entries, kernel runs) and its wall time to the current iteration's record;
``finish`` writes them per iteration to ``device_counters.csv`` and returns the run's totals for
``summary.json`` (``device``: backend, simulator, cycles, wall time, cycles per second).

Power: for "emulate" and "rtl" the trainer records the device's simulated rails
(``e2train.power.simulated_rails``: watts from the kernels' activity counters, read without the
sensor's LSB, see ``use_fine_sensor``) as the run's power source, so the trace's measured columns
are filled and ``summary.json`` says ``measured_simulated: true``.  Those joules are a model of the
counters, not a measurement.

Backends by name (``TrainConfig.backend``): "emulate" (in-process, counters from the documented
cycle model), "pynq" (a board), "rtl" (the Verilog RTL: the whole training run happens inside one
simulation, ``train_in_simulator``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from e2train import intmath, quant
from e2train.config import BACKENDS
from e2train.device.base import Device, DeviceError
from e2train.drivers import GemmDriver, PsgDriver
from e2train.kernels.driver_conv import as_codes, conv2d_forward_codes, conv2d_wgrad_psg
from e2train.kernels.spec import KERNELS
from e2train.nn.qconv import TORCH_KERNELS, QConv2d
from e2train.power.simulated_rails import SimulatedRails
from e2train.run_dir import COUNTERS_FILE
from e2train.techniques.psg import PsgConfig, PsgDecision, integer_threshold

if TYPE_CHECKING:
    from e2train.config import TrainConfig
    from e2train.power.base import PowerSource

log = logging.getLogger(__name__)

DEVICE_BACKENDS = tuple(b for b in BACKENDS if b != "torch")  # training backends with an accelerator
COUNTER_SOURCES = {
    "emulate": "cycle model of the emulated device (estimates, see e2train.energy.cycle_model)",
    "rtl": "the RTL's own counters, in simulation",
    "pynq": "the kernels' hardware counters on the board",
}
# device counter -> column of the per-iteration record
_COLUMNS = {
    "CALLS": "runs",
    "CYCLES_BUSY": "cycles",
    "CYCLES_MEM_STALL": "mem_stall_cycles",
    "MACS": "macs",
    "BYTES_READ": "bytes_read",
    "BYTES_WRITTEN": "bytes_written",
    "RECOMPUTED": "recomputed",
}


def _empty_tally() -> dict[str, float]:
    tally: dict[str, float] = {"kernel_calls": 0, **dict.fromkeys(_COLUMNS.values(), 0)}
    tally.update({f"{spec.short}_{what}": 0 for spec in KERNELS.values() for what in ("calls", "cycles")})
    tally["kernel_wall_s"] = 0.0
    return tally


def _add(total: dict[str, float], part: dict[str, float]) -> None:
    for key, value in part.items():
        total[key] += value


# ---------------------------------------------------------------------------------------------
# ConvKernels on a device
# ---------------------------------------------------------------------------------------------


class DeviceKernels:
    """``ConvKernels`` through ``GemmDriver`` / ``PsgDriver`` on ``device``; see the module docstring.

    ``backend`` and ``sim`` only label the summary (default: the device's kind).  With
    ``enabled=False`` calls run on the software kernels until ``begin_iteration``.
    """

    def __init__(self, device: Device, *, backend: str | None = None, sim: str | None = None,
                 enabled: bool = True, timeout_s: float | None = None) -> None:
        self.device = device
        self.backend = backend or device.kind
        self.sim = sim
        self.enabled = enabled
        self._timeout_s = timeout_s
        self._gemm: GemmDriver | None = None
        self._psg: PsgDriver | None = None
        self._pending = _empty_tally()  # since the last begin/end
        self._outside = _empty_tally()  # device work outside training iterations (none by default)
        self._iteration: int | None = None
        self.records: list[dict[str, float]] = []

    # drivers ----------------------------------------------------------------------------------
    def _gemm_driver(self) -> GemmDriver:
        if self._gemm is None:
            # a saturated gemm would silently differ from the exact software path: refuse it
            self._gemm = GemmDriver(self.device, on_overflow="raise", timeout_s=self._timeout_s)
        return self._gemm

    def _psg_driver(self) -> PsgDriver:
        if self._psg is None:
            self._psg = PsgDriver(self.device, timeout_s=self._timeout_s)
        return self._psg

    def _timed(self, kernel: str, call: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        result = call()
        wall = time.perf_counter() - t0
        counters = result.counters
        tally = self._pending
        tally["kernel_calls"] += 1
        for name, column in _COLUMNS.items():
            tally[column] += int(counters.get(name, 0))
        short = KERNELS[kernel].short
        tally[f"{short}_calls"] += 1
        tally[f"{short}_cycles"] += int(counters.get("CYCLES_BUSY", 0))
        tally["kernel_wall_s"] += wall
        return result

    # ConvKernels ------------------------------------------------------------------------------
    def forward(self, x_codes: torch.Tensor, w_codes: torch.Tensor, stride: int, padding: int,
                x_signed: bool) -> torch.Tensor:
        if not self.enabled or x_codes.shape[0] == 0:
            return TORCH_KERNELS.forward(x_codes, w_codes, stride, padding, x_signed)
        res = self._timed("gemm", lambda: conv2d_forward_codes(
            x_codes, w_codes, stride, padding, x_signed, gemm=self._gemm_driver().run))
        return torch.from_numpy(res.y).to(device=x_codes.device, dtype=intmath.conv2d_dtype(x_codes, w_codes))

    def input_grad(self, g_codes: torch.Tensor, w_codes: torch.Tensor, input_shape: torch.Size, stride: int,
                   padding: int) -> torch.Tensor:
        if not self.enabled or g_codes.shape[0] == 0:
            return TORCH_KERNELS.input_grad(g_codes, w_codes, input_shape, stride, padding)
        cout, cin, kh, kw = w_codes.shape
        b, _, ho, wo = g_codes.shape
        w = as_codes(w_codes, np.int8, "w").reshape(cout, cin * kh * kw)
        g = as_codes(g_codes, np.int16, "g")
        g_rows = np.ascontiguousarray(g.transpose(1, 0, 2, 3)).reshape(cout, b * ho * wo)  # (Cout, P)
        res = self._timed("gemm", lambda: self._gemm_driver().run(np.ascontiguousarray(w.T), g_rows, "i8i16"))
        # res.c: (Cin*kh*kw, B*Ho*Wo), rows (c, i, j) and columns (b, ho, wo): F.fold's layout after a permute
        cols = torch.from_numpy(res.c).to(torch.float64).view(cin * kh * kw, b, ho * wo).permute(1, 0, 2)
        grad = F.fold(cols, tuple(input_shape[2:]), (kh, kw), padding=padding, stride=stride)  # exact: < 2**53
        return grad.to(device=g_codes.device, dtype=intmath.input_grad_dtype(grad))

    def wgrad_psg(self, x_codes: torch.Tensor, x_signed: bool, x_scale: torch.Tensor, grad_out: torch.Tensor,
                  weight_shape: torch.Size, stride: int, padding: int,
                  cfg: PsgConfig) -> tuple[torch.Tensor, PsgDecision, int]:
        if not self.enabled or x_codes.shape[0] == 0:
            return TORCH_KERNELS.wgrad_psg(x_codes, x_signed, x_scale, grad_out, weight_shape, stride, padding, cfg)
        if cfg.mode != "abs":
            raise ValueError(
                f"psg threshold mode {cfg.mode!r} on a device: the psg_wgrad kernel compares each prediction "
                "with a fixed integer tau, and a relative threshold needs max |g_pred| over the whole layer "
                "first; use psg_threshold_mode='abs'"
            )
        g = quant.quantize_gradient(grad_out)
        unit = float(x_scale) * float(g.scale)  # as psg_conv_weight_grad: one step of 16 * Pr
        tau = integer_threshold(cfg, torch.empty(0), unit)  # "abs" does not look at the predictions
        res = self._timed("psg_wgrad", lambda: conv2d_wgrad_psg(
            x_codes, g.codes, tuple(weight_shape[2:]), stride, padding, tau, x_signed, psg=self._psg_driver().run))
        n = weight_shape[0]
        signs = torch.from_numpy(res.signs.astype(np.int64)).reshape(n, -1)
        recompute = torch.from_numpy(res.recompute_mask.astype(bool)).reshape(n, -1)
        reduction = grad_out.shape[0] * grad_out.shape[2] * grad_out.shape[3]
        out = signs.to(device=grad_out.device, dtype=grad_out.dtype).view(weight_shape)
        return out, PsgDecision(signs, recompute, tau), reduction

    # per-iteration accounting -----------------------------------------------------------------
    def begin_iteration(self, iteration: int) -> None:
        """Calls from here to ``end_iteration`` run on the device and count toward ``iteration``."""
        _add(self._outside, self._pending)
        self._pending = _empty_tally()
        self._iteration = iteration
        self.enabled = True

    def end_iteration(self) -> dict[str, float]:
        """Close the current iteration's record (and return it); later calls run in software again."""
        record = {"iteration": self._iteration if self._iteration is not None else len(self.records),
                  **self._pending}
        self.records.append(record)
        self._pending = _empty_tally()
        self._iteration = None
        self.enabled = False
        return record

    def totals(self) -> dict[str, float]:
        total = _empty_tally()
        for record in self.records:
            _add(total, {k: v for k, v in record.items() if k != "iteration"})
        return total

    @property
    def clock_hz(self) -> float | None:
        clock = getattr(self.device, "clock_hz", None) or getattr(getattr(self.device, "cycle_model", None),
                                                                  "clock_hz", None)
        return float(clock) if clock else None

    @property
    def power_source(self) -> PowerSource | None:
        """The device's rails (simulated for "emulate" and "rtl"), or None."""
        try:
            return self.device.power_source
        except Exception as err:  # a board whose rails cannot be opened must not stop the training
            log.warning("no power source from %s: %s", self.device.name, err)
            return None

    def finish(self, run_dir: Path, wall_time_s: float) -> dict[str, Any]:
        """Write ``device_counters.csv`` (earlier iterations of a resumed run are kept) and return
        the summary's ``device`` entry: totals over this session's training iterations."""
        _add(self._outside, self._pending)
        self._pending = _empty_tally()
        path = Path(run_dir) / COUNTERS_FILE
        frame = pd.DataFrame(self.records, columns=["iteration", *_empty_tally()])
        if path.exists() and self.records:
            old = pd.read_csv(path)
            frame = pd.concat([old[old["iteration"] < self.records[0]["iteration"]], frame], ignore_index=True)
        frame.to_csv(path, index=False)
        total = self.totals()
        cycles = int(total["cycles"])
        clock = self.clock_hz
        return {
            "backend": self.backend,
            "sim": self.sim,
            "device": self.device.name,
            "counters_source": COUNTER_SOURCES.get(self.backend, self.backend),
            "iterations": len(self.records),
            **{k: (float(v) if k == "kernel_wall_s" else int(v)) for k, v in total.items()},
            "clock_hz": clock,
            "device_time_s": cycles / clock if clock else None,  # busy time at the kernel clock
            "wall_time_s": wall_time_s,
            "cycles_per_s": cycles / wall_time_s if wall_time_s > 0 else None,
            "kernel_cycles_per_s": cycles / total["kernel_wall_s"] if total["kernel_wall_s"] > 0 else None,
            "cycles_outside_iterations": int(self._outside["cycles"]),
            "rails_dynamic_energy_j": self.rails_dynamic_energy_j(),
            "counters_file": COUNTERS_FILE,
        }

    def rails_dynamic_energy_j(self) -> float | None:
        """Exact energy above idle of every kernel run on the device's simulated rails (None: no such rails).

        What a perfect sensor would measure: a check on the recorder's (sensor-modelled) joules.
        """
        rails = self.power_source
        if not isinstance(rails, SimulatedRails):
            return None
        return float(sum(act.energy_j.sum() for act in rails.activities))

    def close(self) -> None:
        for driver in (self._gemm, self._psg):
            if driver is not None:
                driver.close()
        self._gemm = self._psg = None


# ---------------------------------------------------------------------------------------------
# wiring for the trainer
# ---------------------------------------------------------------------------------------------


def open_backend_device(backend: str) -> Device:
    """The device a training backend runs on, opened by name ("rtl" is never opened: a simulation passes it)."""
    if backend not in DEVICE_BACKENDS:
        raise ValueError(f"unknown device backend {backend!r}; allowed: {', '.join(DEVICE_BACKENDS)}")
    if backend == "rtl":
        raise DeviceError(
            "backend 'rtl' trains inside a simulation of the RTL, on the device the simulation passes: "
            "use e2train.train.in_simulator.train_in_simulator(cfg, run_dir) "
            "(or `e2train train --backend rtl --sim icarus|verilator`)"
        )
    from e2train.device import open_device

    return open_device(backend)


def use_fine_sensor(device: Device) -> None:
    """Read a simulated device's rails without the INA226's power LSB (2.5 mW), keeping its averaging.

    A simulation runs the kernels 10**2 (emulation) to 10**5 (RTL) times slower than the hardware, so
    a run's few microjoules land alone in a 35 ms sensor window as well under one LSB of extra power
    and would be rounded away: an artefact of the simulation's speed, not of the board (where the
    runs of an iteration follow each other within milliseconds).  Done before any run is recorded.
    """
    rails = getattr(device, "rails", None)
    if isinstance(rails, SimulatedRails) and rails.lsb_w > 0 and not rails.activities:
        device.rails = SimulatedRails(rails.model, clock_hz=rails.clock_hz, clock=rails.clock,  # type: ignore[attr-defined]
                                      current_lsb_a=0.0, name=rails.name)


def attach_kernels(model: nn.Module, cfg: TrainConfig, device: Device | None = None) -> DeviceKernels | None:
    """Point every ``QConv2d`` of ``model`` at one ``DeviceKernels`` for ``cfg.backend`` (None: "torch").

    ``device``: the device to run on (the simulation's, for "rtl"); opened by name when not given.
    The kernels start disabled: the trainer enables them for its training steps
    (``begin_iteration`` / ``end_iteration``).
    """
    if cfg.backend == "torch":
        return None
    device = device if device is not None else open_backend_device(cfg.backend)
    if cfg.backend in ("emulate", "rtl"):
        use_fine_sensor(device)
    kernels = DeviceKernels(device, backend=cfg.backend, sim=cfg.sim if cfg.backend == "rtl" else None,
                            enabled=False)
    convs = [m for m in model.modules() if isinstance(m, QConv2d)]
    for conv in convs:
        conv.kernels = kernels
    log.info("%d convs on %s (%s)", len(convs), device.name, cfg.backend)
    return kernels
