"""The E2-Train training loop: SMD decides, the (gated, 8-bit) network runs, PSG signs the weight
gradients, and every iteration's operation counts become a trace row with modelled joules.

Phases of one iteration, in order:
1. SMD: a seeded coin flip per iteration; a dropped iteration loads, computes and updates nothing
   but still counts toward the schedule (epochs, lr milestones).
2. forward: 8-bit integer convs; SLU gates skip blocks per sample (gather/scatter).
3. loss: cross entropy + the SLU cost term toward the target computation fraction.
4. backward: input gradients; PSG sign weight gradients (recomputed fraction recorded per layer).
5. update: momentum SGD; sign gradients at lr * psg_lr_scale (1 by default, as the original).
6. accounting: op counts -> modelled energy; the two baselines' energy for the same iteration.
"""

from __future__ import annotations

import json
import logging
import math
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from e2train.backends.device_kernels import attach_kernels
from e2train.config import ConfigError, TrainConfig, with_current_names
from e2train.data import load_dataset
from e2train.data.batches import BatchSource
from e2train.device.base import Device
from e2train.energy.counts import (
    BASELINE8,
    BASELINE32,
    LayerActivity,
    Precision,
    count_ops,
    full_network_activities,
    trace_shapes,
)
from e2train.energy.model import layer_energy_j, model_energy
from e2train.energy.profile import COUNTED_KINDS, load_profile
from e2train.energy.trace import TraceWriter, measured_columns, read_trace
from e2train.models import build_model
from e2train.run_dir import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    COUNTERS_FILE,
    EVAL_FILE,
    JOURNAL_FILE,
    LAYER_FILE,
    LOCK_FILE,
    POWER_FILE,
    SUMMARY_FILE,
    TRACE_FILE,
    Summary,
)
from e2train.techniques.ortho import OrthoConfig, OrthoRegularizer
from e2train.techniques.psg import PsgConfig
from e2train.techniques.slu import computation_fraction, slu_cost_loss, slu_policy_loss
from e2train.train.checkpoint import load_checkpoint, save_checkpoint
from e2train.train.compute_device import reuse_freed_memory, torch_device
from e2train.train.evaluate import evaluate
from e2train.train.run_lock import RunLock

log = logging.getLogger(__name__)

ORTHO_LAYER = "ortho_penalty"  # the orthogonality penalty's row in layer_energy.csv
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # finish the iteration, checkpoint, stop
# Power samples per second by where the recorder samples: iterations of small models last 10-50 ms, so a
# separate sampler process reads at 1 kHz; a thread in this process (sources fed by this process, such as
# simulated rails) stays at 100 Hz, where it costs the trainer little GIL time.
POWER_RATE_HZ = {"process": 1000.0, "thread": 100.0}

# every file a run writes in its directory (--force replaces these and nothing else)
RUN_FILES = (CONFIG_FILE, SUMMARY_FILE, EVAL_FILE, LAYER_FILE, POWER_FILE, TRACE_FILE, JOURNAL_FILE, CHECKPOINT_FILE,
             COUNTERS_FILE)


@dataclass
class IterationReport:
    """What the CLI's progress display needs after each iteration."""

    iteration: int
    total: int
    epoch: int
    skipped: bool
    loss: float
    energy_j: float
    test_accuracy: float | None = None


@dataclass
class RunState:
    rows: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)
    layer_j: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))


class ActivityMonitor:
    """Counts samples through BatchNorm, linear and LSTM layers (convs count their own)."""

    def __init__(self, modules: list[nn.Module]):
        self.samples: dict[nn.Module, int] = dict.fromkeys(modules, 0)
        self._handles = [m.register_forward_pre_hook(self._hook) for m in modules]

    def _hook(self, module: nn.Module, inputs: tuple) -> None:
        self.samples[module] += inputs[0].shape[0]

    def reset(self) -> None:
        for m in self.samples:
            self.samples[m] = 0


ONECYCLE_WARMUP = 0.3  # fraction of the run spent rising to the peak lr
ONECYCLE_START = 0.1  # the first iteration's lr, as a fraction of the peak


def lr_factor(iteration: int, total: int, milestones: tuple[float, ...], schedule: str = "step") -> float:
    """The learning rate of ``iteration`` as a fraction of ``cfg.lr`` (``config.LR_SCHEDULES``).  A function
    of the iteration alone, so a resumed run continues on the same curve."""
    if schedule == "step":
        return 0.1 ** sum(iteration >= round(m * total) for m in milestones)
    t = iteration / total
    if t < ONECYCLE_WARMUP:
        return ONECYCLE_START + (1 - ONECYCLE_START) * t / ONECYCLE_WARMUP
    return (1 - t) / (1 - ONECYCLE_WARMUP)


class Trainer:
    def __init__(self, cfg: TrainConfig, run_dir: Path, resume: bool = False,
                 on_iteration: Callable[[IterationReport], None] | None = None,
                 power_spec: str | None = None, force: bool = False, power_options: dict[str, Any] | None = None,
                 device: Device | None = None):
        """``resume`` continues the run in ``run_dir`` from its checkpoint; otherwise ``run_dir`` must be
        empty, or ``force`` replaces the run files in it (other files are kept).  ``device``: the accelerator
        the convs run on for a device backend (the simulation's, for "rtl"); opened by name otherwise."""
        self.cfg = cfg
        self.run_dir = run_dir
        self.power_options = power_options or {}  # e.g. root= of a hwmon tree, for open_power_source
        self.lock = RunLock(run_dir)  # held until run() ends; refuses a second process in this folder
        try:
            self._set_up(resume, force, on_iteration, power_spec, device)
        except BaseException:
            self.lock.release()
            raise

    def _set_up(self, resume: bool, force: bool, on_iteration: Callable[[IterationReport], None] | None,
                power_spec: str | None, device: Device | None) -> None:
        cfg, run_dir = self.cfg, self.run_dir
        if not resume:
            self._claim_fresh_directory(force)
        self.on_iteration = on_iteration or (lambda report: None)
        self.power_spec = power_spec
        self.device = torch_device(cfg.torch_device)
        if self.device.type == "cpu":
            reuse_freed_memory()
        torch.manual_seed(cfg.seed)
        self.dataset = load_dataset(cfg.dataset, cfg.data_dir)
        if cfg.batch_size > len(self.dataset.train_y):
            # the baselines are priced at the nominal batch: a smaller real one would fake savings
            raise ConfigError(f"batch_size={cfg.batch_size} exceeds the {len(self.dataset.train_y)} training "
                              f"images of {cfg.dataset}; use at most that")
        self.source = BatchSource(self.dataset, cfg.batch_size, cfg.seed, self.device)
        self.total_iters = cfg.iters or max(1, round(cfg.epochs * self.source.iters_per_epoch))
        self.model = build_model(cfg.model, self.dataset.num_classes, self.dataset.input_shape[0],
                                 slu_target=cfg.slu_target).to(self.device)
        self.model.gate_rule = cfg.slu_eval_rule
        psg = PsgConfig(cfg.psg_threshold, cfg.psg_threshold_mode) if cfg.psg else None
        for conv in self.model.qconvs():
            conv.configure(cfg.precision, cfg.input_grad, psg)
        self.device_kernels = attach_kernels(self.model, cfg, device)  # None for backend "torch"
        self.power_source = None  # set by _start_power
        self.precision = Precision(cfg.precision, cfg.input_grad, cfg.psg)
        self.profile = load_profile(cfg.energy_profile)
        self.shapes = trace_shapes(self.model, self.dataset.input_shape)
        self.monitor = ActivityMonitor([m for m, s in self.shapes.items() if s.kind != "conv"])
        self.block_macs = [self.shapes[b.conv1].macs + self.shapes[b.conv2].macs for b in self.model.blocks[1:]]
        self.optimizer = self._build_optimizer()
        self.ortho = self._build_ortho()
        self.baseline8_j, self.baseline32_j = self._baseline_energies()
        self.start_iter = 0
        self._wall_before = 0.0  # wall time of the run's earlier sessions (resume)
        self._power_error: str | None = None  # why the power measurement stopped early, if it did
        self._wall_clock: Callable[[], float] = lambda: self._wall_before
        self.state = RunState()
        run_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self._resume()
        (run_dir / CONFIG_FILE).write_text(json.dumps(cfg.to_dict(), indent=2))
        self._stop_requested = False

    # --- setup -------------------------------------------------------------------------------

    def _claim_fresh_directory(self, force: bool) -> None:
        present = sorted(p.name for p in self.run_dir.iterdir() if p.name != LOCK_FILE)
        if not present:
            return
        if not force:
            listed = ", ".join(present[:4]) + (", ..." if len(present) > 4 else "")
            raise ConfigError(f"{self.run_dir} is not empty ({listed}); use --resume to continue the run in it, "
                              "--force to replace its run files, or another --out")
        for name in RUN_FILES:
            (self.run_dir / name).unlink(missing_ok=True)

    def _build_optimizer(self) -> torch.optim.SGD:
        """PSG conv weights step on signs; their group's lr is ``lr * psg_lr_scale`` (1: the original's)."""
        sign_params = [c.weight for c in self.model.qconvs()] if self.cfg.psg else []
        sign_ids = {id(p) for p in sign_params}
        rest = [p for p in self.model.parameters() if id(p) not in sign_ids]
        groups = [{"params": rest, "lr": self.cfg.lr, "base_lr": self.cfg.lr}]
        if sign_params:
            scaled = self.cfg.lr * self.cfg.psg_lr_scale
            groups.append({"params": sign_params, "lr": scaled, "base_lr": scaled})
        return torch.optim.SGD(groups, momentum=self.cfg.momentum, weight_decay=self.cfg.weight_decay)

    def _build_ortho(self) -> OrthoRegularizer | None:
        cfg = self.cfg
        if cfg.ortho == "none":
            return None
        config = OrthoConfig(cfg.ortho, cfg.ortho_coef, cfg.ortho_schedule, cfg.ortho_srip_iters, cfg.ortho_srip_form,
                             cfg.ortho_persistent)
        return OrthoRegularizer(self.model, config, seed=cfg.seed)

    def _baseline_energies(self) -> tuple[float, float]:
        """Per-iteration joules of the same network without SMD/SLU/PSG: 8-bit forward, and fp32."""
        activities = full_network_activities(self.shapes, self.cfg.batch_size, self.model.stem)
        params = sum(p.numel() for n, p in self.model.named_parameters() if not n.startswith("gates."))
        return tuple(model_energy(count_ops(activities, precision, params, self.profile.accelerator),
                                          self.profile).total_j
                     for precision in (BASELINE8, BASELINE32))  # type: ignore[return-value]

    def _resume(self) -> None:
        state = load_checkpoint(self.run_dir)
        saved = with_current_names(state["config"])
        for key in ("out",):
            saved.pop(key, None)
        current = {k: v for k, v in self.cfg.to_dict().items() if k != "out"}
        defaults = TrainConfig().to_dict()  # options added since the run was saved had their defaults
        changed = {k for k in current if json.dumps(current[k]) != json.dumps(saved.get(k, defaults.get(k)))}
        if changed:
            raise ConfigError(f"--resume with a different configuration ({', '.join(sorted(changed))}); "
                             "use the run's own config.json or a new --out")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.start_iter = int(state["iteration"])
        trace = read_trace(self.run_dir)
        self.state.rows = trace[trace["iteration"] < self.start_iter].to_dict("records")
        # the checkpoint was written after the evaluation at its own iteration: keep that one too
        self.state.evals = [e for e in state.get("evals", []) if e["iteration"] <= self.start_iter]
        self._wall_before = float(state.get("wall_time_s", 0.0))
        for layer, kinds in state.get("layer_j", {}).items():
            self.state.layer_j[layer].update(kinds)
        if self.ortho is not None:
            self.ortho.load_state_dict(state.get("ortho", {}))
        log.info("resuming %s at iteration %d of %d", self.run_dir, self.start_iter, self.total_iters)

    # --- one iteration ---------------------------------------------------------------------------

    def _smd_skips(self, iteration: int) -> bool:
        return self.cfg.smd > 0 and np.random.default_rng([self.cfg.seed, iteration, 1]).random() < self.cfg.smd

    def _activities(self) -> list[LayerActivity]:
        acts = []
        for module, shape in self.shapes.items():
            if shape.kind == "conv":
                st = module.stats
                acts.append(LayerActivity(shape, st.samples, st.samples, module is not self.model.stem,
                                          st.psg_entries, st.psg_recomputed, st.psg_reduction,
                                          [m.cpu().numpy() for m in st.psg_masks]))
            else:
                n = self.monitor.samples[module]
                acts.append(LayerActivity(shape, n, n))
        return acts

    def _train_step(self, iteration: int) -> dict[str, Any]:
        for conv in self.model.qconvs():
            conv.stats.reset()
        self.monitor.reset()
        if self.device_kernels is not None:
            self.device_kernels.begin_iteration(iteration)
        self.model.gate_generator = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + iteration)
        x, y = self.source.materialize(iteration)  # (B, C, H, W), (B,)
        logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        total_loss = loss
        slu_fraction = 1.0
        if self.model.gated:
            record = self.model.last_gates
            slu_fraction = computation_fraction(record, self.block_macs)
            total_loss = loss + slu_cost_loss(record, self.block_macs, self.cfg.slu_target, self.cfg.slu_beta)
            if self.cfg.slu_policy_coef:
                sample_losses = F.cross_entropy(logits.detach(), y, reduction="none")
                total_loss = total_loss + slu_policy_loss(record, sample_losses, self.cfg.slu_policy_coef)
        # fp32 on the master weights; with PSG its gradient adds to the conv weights' signs
        ortho_loss = self.ortho.loss(iteration / self.total_iters, iteration) if self.ortho is not None else None
        if ortho_loss is not None:
            total_loss = total_loss + ortho_loss
        self.optimizer.zero_grad(set_to_none=True)
        total_loss.backward()
        self.optimizer.step()
        if self.device_kernels is not None:
            self.device_kernels.end_iteration()
        updated = sum(p.numel() for p in self.model.parameters() if p.grad is not None)
        counts = count_ops(self._activities(), self.precision, updated, self.profile.accelerator)
        if ortho_loss is not None:
            counts.add(ORTHO_LAYER, "mac_ortho", self.ortho.macs())
        energy = model_energy(counts, self.profile)
        for layer, kinds in layer_energy_j(counts, self.profile).items():
            for kind, joules in kinds.items():
                self.state.layer_j[layer][kind] += joules
        entries = sum(c.stats.psg_entries for c in self.model.qconvs())
        recomputed = sum(c.stats.psg_recomputed for c in self.model.qconvs())
        computed_full = sum(c.stats.psg_computed_full for c in self.model.qconvs())
        return {
            "loss": float(loss.detach()), "slu_executed_fraction": slu_fraction,
            "ortho_loss": float(ortho_loss.detach()) if ortho_loss is not None else math.nan,
            "psg_recompute_fraction_hw": recomputed / entries if entries else math.nan,
            "psg_recompute_fraction_sw": computed_full / entries if entries else math.nan,
            "macs_forward": counts.macs_forward, "macs_backward_input": counts.macs_backward_input,
            "macs_wgrad_predict": counts.macs_wgrad_predict, "macs_wgrad_full": counts.macs_wgrad_full,
            "dram_bytes": counts.dram_bytes, **{f"count_{k}": v for k, v in counts.by_kind.items()},
            "model_time_s": energy.model_time_s, "energy_compute_model_j": energy.compute_j,
            "energy_dram_model_j": energy.dram_j, "energy_static_model_j": energy.static_j,
            "energy_model_j": energy.total_j,
        }

    def _skipped_row(self) -> dict[str, Any]:
        zero_counts = {f"count_{k}": 0.0 for k in COUNTED_KINDS}
        return {"loss": math.nan, "ortho_loss": math.nan, "slu_executed_fraction": math.nan,
                "psg_recompute_fraction_hw": math.nan, "psg_recompute_fraction_sw": math.nan,
                "macs_forward": 0, "macs_backward_input": 0, "macs_wgrad_predict": 0, "macs_wgrad_full": 0,
                "dram_bytes": 0, **zero_counts, "model_time_s": 0.0, "energy_compute_model_j": 0.0,
                "energy_dram_model_j": 0.0, "energy_static_model_j": 0.0, "energy_model_j": 0.0}

    # --- the run ---------------------------------------------------------------------------------

    def _request_stop(self, signum: int, frame: Any) -> None:
        """Ctrl-C or a scheduler's SIGTERM: finish the iteration, checkpoint, stop; a second one aborts."""
        log.warning("%s: finishing iteration, then checkpointing (again to abort)", signal.Signals(signum).name)
        self._stop_requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def _evaluate(self, iteration: int, epoch: int) -> dict:
        ev = evaluate(self.model, self.source, self.block_macs)
        rows = self.state.rows
        entry = {"iteration": iteration, "epoch": epoch, "test_accuracy": ev.accuracy,
                 "test_executed_fraction": ev.executed_fraction, "test_gate_p_std": ev.mean_gate_p_std,
                 "energy_model_j": sum(r["energy_model_j"] for r in rows),
                 "energy_baseline8_model_j": sum(r["energy_baseline8_model_j"] for r in rows),
                 "energy_baseline32_model_j": sum(r["energy_baseline32_model_j"] for r in rows)}
        self.state.evals.append(entry)
        pd.DataFrame(self.state.evals).to_csv(self.run_dir / EVAL_FILE, index=False)
        return entry

    def _evaluate_each_rule(self) -> dict[str, dict[str, float | None]]:
        """The finished model under the calibrated rule, the previous ``half`` rule, and ``random`` (the same
        computation as calibrated, chosen without looking at the input), for comparison in the summary."""
        results = {}
        for rule in ("calibrated", "half", "random"):
            ev = evaluate(self.model, self.source, self.block_macs, rule=rule)
            results[rule] = {"test_accuracy": ev.accuracy, "test_executed_fraction": ev.executed_fraction,
                             "test_gate_p_std": ev.mean_gate_p_std}
        return results

    def _after_iteration(self, iteration: int, epoch: int, trace: TraceWriter) -> float | None:
        """Evaluations and checkpoints due after ``iteration`` iterations; the test accuracy if evaluated."""
        accuracy = None
        last = iteration == self.total_iters
        if iteration % self.source.iters_per_epoch == 0 or last:
            done_epochs = math.ceil(iteration / self.source.iters_per_epoch)
            if done_epochs % self.cfg.eval_every == 0 or last:
                accuracy = self._evaluate(iteration, epoch)["test_accuracy"]
            if done_epochs % self.cfg.checkpoint_every == 0 or last:
                self._checkpoint(iteration, trace)
                return accuracy
        if self.cfg.checkpoint_every_iters and iteration % self.cfg.checkpoint_every_iters == 0:
            self._checkpoint(iteration, trace)
        return accuracy

    def _checkpoint(self, next_iteration: int, trace: TraceWriter) -> None:
        trace.write()
        save_checkpoint(self.run_dir, {"wall_time_s": self._wall_clock(),
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "iteration": next_iteration, "config": self.cfg.to_dict(), "evals": self.state.evals,
            "layer_j": {k: dict(v) for k, v in self.state.layer_j.items()},
            "ortho": self.ortho.state_dict() if self.ortho is not None else {},
        })

    def run(self) -> Summary:
        trace = TraceWriter(self.run_dir, self.state.rows)
        self.state.rows = trace.rows  # one list: evaluations and the summary see every row written
        ipe = self.source.iters_per_epoch
        # the RTL backend runs this loop in a simulator's worker thread, where signals cannot be handled
        in_main = threading.current_thread() is threading.main_thread()
        previous = {sig: signal.signal(sig, self._request_stop) for sig in STOP_SIGNALS} if in_main else {}
        recorder = None
        t_run = time.monotonic()
        self._wall_clock = lambda: self._wall_before + time.monotonic() - t_run
        iteration = self.start_iter
        try:
            recorder = self._start_power()
            while iteration < self.total_iters and not self._stop_requested:
                epoch = iteration // ipe
                factor = lr_factor(iteration, self.total_iters, self.cfg.lr_milestones, self.cfg.lr_schedule)
                for group in self.optimizer.param_groups:
                    group["lr"] = group["base_lr"] * factor
                t_start = time.monotonic()
                skipped = self._smd_skips(iteration)
                values = self._skipped_row() if skipped else self._train_step(iteration)
                t_end = time.monotonic()
                row = {"iteration": iteration, "epoch": epoch, "skipped": skipped, "t_start": t_start,
                       "t_end": t_end, "lr": self.cfg.lr * factor, **values,
                       "energy_baseline8_model_j": self.baseline8_j, "energy_baseline32_model_j": self.baseline32_j,
                       "energy_measured_j": math.nan, "energy_measured_err_j": math.nan,
                       "energy_measured_gross_j": math.nan, "measured_short_window": None}
                trace.append(row)
                iteration += 1
                accuracy = self._after_iteration(iteration, epoch, trace)
                self.on_iteration(IterationReport(iteration, self.total_iters, epoch, skipped,
                                                  values["loss"], values["energy_model_j"], accuracy))
            if self._stop_requested:
                self._checkpoint(iteration, trace)
        finally:
            try:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
                self._finish_power(recorder, trace)
                trace.close()
            finally:  # even when closing fails too (a full disk): the folder is free for --resume
                self.lock.release()
        summary = self._summary(self._wall_clock(), interrupted=self._stop_requested)
        if self.model.gated and not self._stop_requested:
            summary["test_by_rule"] = self._evaluate_each_rule()
        if self.device_kernels is not None:
            summary["device"] = self.device_kernels.finish(self.run_dir, summary["wall_time_s"])
        (self.run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
        pd.DataFrame([{"layer": layer, "kind": kind, "energy_j": j}
                      for layer, kinds in self.state.layer_j.items() for kind, j in kinds.items()]
                     ).to_csv(self.run_dir / LAYER_FILE, index=False)
        return summary

    # --- power measurement -------------------------------------------------------------------------

    def _start_power(self):
        from e2train.power.factory import open_power_source
        from e2train.power.recorder import PowerRecorder, process_capable

        if self.power_spec:
            self.power_source = open_power_source(self.power_spec, **self.power_options)
        elif self.device_kernels is not None:  # a device's own rails: simulated for "emulate" and "rtl"
            self.power_source = self.device_kernels.power_source
        if self.power_source is None:
            return None
        mode = "process" if process_capable(self.power_source) else "thread"
        recorder = PowerRecorder(self.power_source, rate_hz=POWER_RATE_HZ[mode], mode=mode)
        recorder.measure_baseline(2.0)
        return recorder

    def _finish_power(self, recorder, trace: TraceWriter) -> None:
        if recorder is None:
            return
        recorder.stop()
        if recorder.error is not None:
            self._power_error = f"{self.power_source.name}: {recorder.error}"
            log.error("power measurement stopped early (%s); measured energy is partial", self._power_error)
        rows = [r for r in trace.rows if r["iteration"] >= self.start_iter]
        windows = recorder.energies_between([(r["t_start"], r["t_end"]) for r in rows])
        measured = measured_columns([r["iteration"] for r in rows], windows)
        trace.fill_measured(measured)
        recorder.save(self.run_dir / POWER_FILE)

    # --- summary ---------------------------------------------------------------------------------

    def _summary(self, wall_time_s: float, interrupted: bool) -> Summary:
        trace = pd.DataFrame(self.state.rows) if self.state.rows else read_trace(self.run_dir)
        ran = trace[~trace["skipped"]]
        final = self.state.evals[-1] if self.state.evals else {}
        e_model = float(trace["energy_model_j"].sum())
        e8 = float(trace["energy_baseline8_model_j"].sum())
        e32 = float(trace["energy_baseline32_model_j"].sum())
        psg_ran = ran[ran["psg_recompute_fraction_hw"].notna()]
        measured = trace["energy_measured_j"].dropna() if "energy_measured_j" in trace else pd.Series([])
        coverage = len(measured) / len(trace) if len(trace) else 0.0  # iterations with a measured window
        return {
            "test_accuracy": final.get("test_accuracy"),
            "test_executed_fraction": final.get("test_executed_fraction"),
            "test_gate_p_std": final.get("test_gate_p_std"),
            "slu_eval_rule": self.cfg.slu_eval_rule if self.model.gated else None,
            "iterations": int(len(trace)),
            "iterations_planned": self.total_iters,
            "iterations_skipped": int(trace["skipped"].sum()),
            "interrupted": interrupted,
            "slu_executed_fraction": float(ran["slu_executed_fraction"].mean()) if len(ran) else None,
            # per entry, as the psg_wgrad kernel recomputes; and what the software path computed (whole rows)
            "psg_recompute_fraction_hw": float(psg_ran["psg_recompute_fraction_hw"].mean()) if len(psg_ran) else None,
            "psg_recompute_fraction_sw": float(psg_ran["psg_recompute_fraction_sw"].mean()) if len(psg_ran) else None,
            "energy_model_j": e_model,
            "energy_baseline8_model_j": e8,
            "energy_baseline32_model_j": e32,
            "energy_ortho_model_j": sum(self.state.layer_j.get(ORTHO_LAYER, {}).values()) if self.ortho else None,
            "savings_vs_baseline8": 1 - e_model / e8 if e8 else None,
            "savings_vs_baseline32": 1 - e_model / e32 if e32 else None,
            # a partial sum is not the run's energy: it stays apart, with its coverage
            "energy_measured_j": float(measured.sum()) if len(measured) and coverage == 1.0 else None,
            "energy_measured_partial_j": float(measured.sum()) if len(measured) and coverage < 1.0 else None,
            "energy_measured_coverage": coverage if self.power_source is not None else None,
            "power_error": self._power_error,
            "power_source": self.power_source.name if self.power_source is not None else None,
            "measured_simulated": bool(getattr(self.power_source, "simulated", False)
                                       or getattr(self.power_source, "kind", "") == "simulated"),
            "energy_profile": {"name": self.profile.name, "kind": self.profile.kind, "path": self.profile.path},
            "wall_time_s": wall_time_s,
            "train_time_s": float((trace["t_end"] - trace["t_start"]).sum()),
            "config": self.cfg.to_dict(),
        }

