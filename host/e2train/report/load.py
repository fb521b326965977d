"""Collect run directories into checked, in-memory runs: the one place that reads run files.

Why so much checking: a report that prints a wrong number is worse than one that refuses. Every file
a run directory holds is cross-checked against the others (the summary's totals against the trace,
the per-layer breakdown against the trace's dynamic energy), and a disagreement that would change a
reported number is an error naming the file and both values. The trace is the primary record: the
numbers the report shows are computed from it, and the summary is only checked against it.

Inconsistencies that change no reported number (eval.csv's cumulative energies, which the report
recomputes from the trace) become warnings carried with the run and shown in every output.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from e2train.energy.model import STATIC_KIND
from e2train.energy.trace import TraceError, read_trace
from e2train.errors import E2TrainError
from e2train.run_dir import CONFIG_FILE, EVAL_FILE, JOURNAL_FILE, LAYER_FILE, POWER_FILE, SUMMARY_FILE, TRACE_FILE

log = logging.getLogger(__name__)


# summary.json keys the report relies on, with the types it accepts (None allowed where a run may lack it)
_SUMMARY_NUMBERS = ("energy_model_j", "energy_baseline8_model_j", "energy_baseline32_model_j", "wall_time_s")
_SUMMARY_OPTIONAL_NUMBERS = ("test_accuracy", "test_executed_fraction", "slu_executed_fraction",
                             "psg_recompute_fraction_hw", "psg_recompute_fraction_sw",
                             "energy_measured_j", "train_time_s")
_EVAL_COLUMNS = ("iteration", "epoch", "test_accuracy")
_LAYER_COLUMNS = ("layer", "kind", "energy_j")
# Relative tolerance for totals written by one process and summed again here (float summation order).
REL_TOL = 1e-6
ABS_TOL_J = 1e-12


class ReportError(E2TrainError, ValueError):
    """A run directory cannot be reported: the message names the file, the problem and what to do."""


@dataclass(frozen=True)
class ProfileInfo:
    """The energy profile a run was modelled with, and where its numbers come from."""

    name: str
    kind: str  # "prior" (literature estimate), "calibrated" (fitted from measurements), or "unknown"
    path: str
    source: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    energy_pj: dict[str, float] = field(default_factory=dict)
    static_power_w: float | None = None
    clock_hz: float | None = None
    available: bool = True  # False when the profile file is no longer where the run found it

    @property
    def is_prior(self) -> bool:
        return self.kind == "prior"


@dataclass(frozen=True)
class PowerInfo:
    """Provenance of a run's measured energy: the raw recording's source, rate and idle baseline."""

    source: str
    rate_hz: float | None
    samples: int
    rails: tuple[str, ...]
    rail_notes: tuple[str, ...]
    baseline_power_w: float | None  # sum over rails of the idle mean, None when no baseline was taken
    duration_s: float
    # One-sigma power error every window shares, in W: the idle-baseline mean's error and the power rails'
    # quantisation step (see e2train.power.integrate); energy errors of these terms add linearly over windows.
    correlated_sigma_w: float = 0.0


@dataclass
class Run:
    """One run directory, loaded and checked.

    ``trace`` has one row per iteration (the schema of ``e2train.energy.trace.COLUMNS``); ``evals`` has
    one row per test evaluation with cumulative energies recomputed from the trace; ``layers`` is the
    per-layer, per-kind dynamic breakdown, or None when the run has no ``layer_energy.csv``.
    """

    name: str
    path: Path
    summary: dict[str, Any]
    config: dict[str, Any]
    trace: pd.DataFrame
    evals: pd.DataFrame
    layers: pd.DataFrame | None
    profile: ProfileInfo
    power: PowerInfo | None
    measured_simulated: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def has_measured(self) -> bool:
        return bool(self.trace["energy_measured_j"].notna().any())


# --- small readers -------------------------------------------------------------------------------------


def _read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise ReportError(f"{path}: missing; {what}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ReportError(f"{path}: not valid JSON ({err}); the file is truncated or corrupt") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ReportError(f"{path}: cannot read ({err})") from err
    if not isinstance(data, dict):
        raise ReportError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_summary(path: Path, summary: dict[str, Any]) -> None:
    missing = [k for k in (*_SUMMARY_NUMBERS, "iterations", "iterations_skipped") if k not in summary]
    if missing:
        raise ReportError(f"{path}: lacks {', '.join(missing)} (written by another version, or not by "
                          "`e2train train`?)")
    bad = [k for k in _SUMMARY_NUMBERS if not _is_number(summary[k])]
    bad += [k for k in _SUMMARY_OPTIONAL_NUMBERS if summary.get(k) is not None and not _is_number(summary[k])]
    bad += [k for k in ("iterations", "iterations_skipped")
            if not isinstance(summary[k], int) or isinstance(summary[k], bool) or summary[k] < 0]
    if bad:
        shown = ", ".join(f"{k}={summary[k]!r}" for k in bad)
        raise ReportError(f"{path}: not a finite number where one is needed: {shown}")


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL_J)


def _load_trace(run_dir: Path) -> pd.DataFrame:
    try:
        trace = read_trace(run_dir)
    except TraceError as err:
        raise ReportError(str(err)) from err
    if trace.empty:
        raise ReportError(f"{run_dir / TRACE_FILE}: holds no iterations")
    needed = ("energy_model_j", "energy_baseline8_model_j", "energy_baseline32_model_j", "t_start", "t_end")
    for column in needed:
        bad = trace.loc[~np.isfinite(trace[column].to_numpy(float)), "iteration"]
        if len(bad):
            raise ReportError(f"{run_dir / TRACE_FILE}: {column} is not finite at iteration(s) "
                              f"{', '.join(map(str, bad.head(5)))}")
    return trace.reset_index(drop=True)


def _check_against_trace(run_dir: Path, summary: dict[str, Any], trace: pd.DataFrame) -> None:
    """The summary's totals must be the trace's: otherwise one of them is from another run or cut short."""
    where = run_dir / SUMMARY_FILE
    if summary["iterations"] != len(trace):
        source = TRACE_FILE if (run_dir / TRACE_FILE).exists() else JOURNAL_FILE
        raise ReportError(f"{where}: says {summary['iterations']} iterations but {run_dir / source} holds "
                          f"{len(trace)}: one of them is truncated or from another run")
    skipped = int(trace["skipped"].sum())
    if summary["iterations_skipped"] != skipped:
        raise ReportError(f"{where}: says {summary['iterations_skipped']} SMD-skipped iterations, the trace "
                          f"{skipped}")
    for key in ("energy_model_j", "energy_baseline8_model_j", "energy_baseline32_model_j"):
        total = float(trace[key].sum())
        if not _close(summary[key], total):
            raise ReportError(f"{where}: {key}={summary[key]:.6g} J but the trace sums to {total:.6g} J; "
                              "the summary does not describe this trace")
    measured = trace["energy_measured_j"].dropna()
    stated = summary.get("energy_measured_j")
    if stated is not None and (measured.empty or not _close(stated, float(measured.sum()))):
        found = f"{float(measured.sum()):.6g} J" if len(measured) else "no measured values"
        raise ReportError(f"{where}: energy_measured_j={stated:.6g} J but the trace holds {found}")
    if stated is None and len(measured) and summary.get("energy_measured_partial_j") is None:
        raise ReportError(f"{where}: energy_measured_j is null but the trace holds {len(measured)} measured "
                          "iterations; the summary does not describe this trace")


def _load_evals(run_dir: Path, trace: pd.DataFrame, warnings: list[str]) -> pd.DataFrame:
    """Test evaluations with cumulative energies at each, recomputed from the trace.

    An evaluation at ``iteration`` n follows n completed iterations, so its cumulative energy is the
    sum over trace rows with ``iteration < n``.
    """
    path = run_dir / EVAL_FILE
    columns = ["iteration", "epoch", "test_accuracy", "test_executed_fraction", "energy_model_j",
               "energy_baseline8_model_j", "energy_baseline32_model_j", "energy_measured_j"]
    if not path.is_file():
        warnings.append(f"{path}: missing; no accuracy-versus-energy curve for this run")
        return pd.DataFrame(columns=columns)
    try:
        evals = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ReportError(f"{path}: not a readable CSV ({err})") from err
    missing = [c for c in _EVAL_COLUMNS if c not in evals.columns]
    if missing:
        raise ReportError(f"{path}: lacks column(s) {', '.join(missing)}")
    try:
        iterations = evals["iteration"].to_numpy(dtype=np.int64)
        accuracy = evals["test_accuracy"].to_numpy(dtype=float)
    except (TypeError, ValueError) as err:
        raise ReportError(f"{path}: iteration or test_accuracy is not numeric ({err})") from err
    if len(accuracy) and (~np.isfinite(accuracy) | (accuracy < 0) | (accuracy > 1)).any():
        raise ReportError(f"{path}: test_accuracy must be a fraction in [0, 1]")
    last = int(trace["iteration"].max()) + 1
    if len(iterations) and (iterations.max() > last or iterations.min() < 0):
        raise ReportError(f"{path}: evaluation at iteration {iterations.max()} but the trace ends at {last}; "
                          "eval.csv is from another run or the trace is truncated")
    done = trace["iteration"].to_numpy()
    out = pd.DataFrame({"iteration": iterations, "epoch": evals["epoch"].to_numpy(),
                        "test_accuracy": accuracy,
                        "test_executed_fraction": evals.get("test_executed_fraction", pd.Series(np.nan,
                                                                                              index=evals.index))})
    disagree = []
    for key in ("energy_model_j", "energy_baseline8_model_j", "energy_baseline32_model_j"):
        cumulative = np.array([trace[key].to_numpy()[done < n].sum() for n in iterations], dtype=float)
        if key in evals.columns:
            stated = pd.to_numeric(evals[key], errors="coerce").to_numpy(dtype=float)
            off = ~np.isclose(stated, cumulative, rtol=REL_TOL, atol=ABS_TOL_J)
            if off.any():
                i = int(np.argmax(off))
                disagree.append(f"{key} {stated[i]:.4g} J vs {cumulative[i]:.4g} J at iteration "
                                f"{iterations[i]}")
        out[key] = cumulative
    if disagree:
        warnings.append(f"{path}: cumulative energies disagree with the trace (e.g. {disagree[0]}); the "
                        "report recomputes them from the trace")
    measured = trace["energy_measured_j"].to_numpy(float)
    out["energy_measured_j"] = [
        float(np.sum(measured[done < n])) if np.isfinite(measured[done < n]).all() else np.nan
        for n in iterations
    ]
    return out


def _load_layers(run_dir: Path, trace: pd.DataFrame, warnings: list[str]) -> pd.DataFrame | None:
    path = run_dir / LAYER_FILE
    if not path.is_file():
        warnings.append(f"{path}: missing; no per-layer breakdown for this run")
        return None
    try:
        layers = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ReportError(f"{path}: not a readable CSV ({err})") from err
    missing = [c for c in _LAYER_COLUMNS if c not in layers.columns]
    if missing:
        raise ReportError(f"{path}: lacks column(s) {', '.join(missing)}")
    try:
        energy = layers["energy_j"].to_numpy(dtype=float)
    except (TypeError, ValueError) as err:
        raise ReportError(f"{path}: energy_j is not numeric ({err})") from err
    if (~np.isfinite(energy)).any() or (energy < 0).any():
        raise ReportError(f"{path}: energy_j must be finite and non-negative")
    kinds = ["energy_compute_model_j", "energy_dram_model_j"]
    if (layers["kind"] == STATIC_KIND).any():  # static power over each layer's kernel time (since the cycle model)
        kinds.append("energy_static_model_j")
    expected = float(trace[kinds].to_numpy().sum())
    if not _close(float(energy.sum()), expected):
        raise ReportError(f"{path}: layers sum to {energy.sum():.6g} J but the trace's modelled energy "
                          f"({', '.join(kinds)}) is {expected:.6g} J; the breakdown is from another run")
    return pd.DataFrame({"layer": layers["layer"].astype(str), "kind": layers["kind"].astype(str),
                         "energy_j": energy})


def _load_profile(summary: dict[str, Any], config: dict[str, Any], warnings: list[str]) -> ProfileInfo:
    stated = summary.get("energy_profile") or {}
    name = str(stated.get("name") or config.get("energy_profile") or "unknown")
    kind = str(stated.get("kind") or "unknown")
    path = str(stated.get("path") or "")
    if not path or not Path(path).is_file():
        warnings.append(f"energy profile {name!r}: file {path or '(no path recorded)'} not found; its "
                        "provenance cannot be shown")
        return ProfileInfo(name, kind, path, available=False)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        warnings.append(f"energy profile {path}: unreadable ({err}); its provenance cannot be shown")
        return ProfileInfo(name, kind, path, available=False)
    if data.get("kind") not in (None, kind):
        warnings.append(f"energy profile {path}: now says kind={data.get('kind')!r}, the run recorded "
                        f"{kind!r}; the file changed after the run")
    energies = data.get("energy_pj") if isinstance(data.get("energy_pj"), dict) else {}
    return ProfileInfo(
        name=name, kind=kind, path=path, source=str(data.get("source", "")),
        provenance=data.get("provenance") if isinstance(data.get("provenance"), dict) else {},
        energy_pj={str(k): v for k, v in energies.items() if _is_number(v)},
        static_power_w=data.get("static_power_w") if _is_number(data.get("static_power_w")) else None,
        clock_hz=data.get("clock_hz") if _is_number(data.get("clock_hz")) else None,
    )


def _load_power(run_dir: Path) -> PowerInfo | None:
    path = run_dir / POWER_FILE
    if not path.is_file():
        return None
    from e2train.power.base import Quantity
    from e2train.power.recorder import Recording  # pyarrow-heavy; only runs with a recording need it

    try:
        rec = Recording.load(path)
    except Exception as err:  # pyarrow raises several types for truncated files
        raise ReportError(f"{path}: unreadable power recording ({err})") from err
    baseline = None
    shared_var = sum((r.resolution / math.sqrt(12.0)) ** 2 for r in rec.rails if r.quantity is Quantity.POWER)
    if rec.baseline is not None:
        baseline = float(sum(r.mean_power_w for r in rec.baseline.rails.values()))
        shared_var += sum(r.std_power_w**2 / max(r.n_eff, 1.0) for r in rec.baseline.rails.values())
    duration = float(rec.t_s[-1] - rec.t_s[0]) if len(rec) > 1 else 0.0
    rate = rec.meta.get("rate_hz")
    return PowerInfo(
        source=str(rec.meta.get("source", "unknown")), rate_hz=float(rate) if _is_number(rate) else None,
        samples=len(rec), rails=tuple(r.name for r in rec.rails), rail_notes=tuple(r.note for r in rec.rails),
        baseline_power_w=baseline, duration_s=duration, correlated_sigma_w=math.sqrt(shared_var),
    )


def _is_simulated(summary: dict[str, Any], power: PowerInfo | None) -> bool:
    """Simulated rails produce plausible joules that measure nothing: every sign of one counts."""
    if summary.get("measured_simulated"):
        return True
    if power is None:
        return False
    return power.source.startswith("simulated") or any("simulat" in note.lower() for note in power.rail_notes)


# --- public API ------------------------------------------------------------------------------------


def load_run(run_dir: str | Path, name: str | None = None) -> Run:
    """Load and check one run directory; raises ``ReportError`` naming the file and the problem."""
    path = Path(run_dir)
    if not path.exists():
        raise ReportError(f"{path}: no such run directory")
    if not path.is_dir():
        raise ReportError(f"{path}: not a directory; give the run directory written by `e2train train --out`")
    summary = _read_json(path / SUMMARY_FILE, "the run has not finished (continue it with `e2train train "
                         f"--out {path} --resume`) or this is not a run directory")
    _check_summary(path / SUMMARY_FILE, summary)
    config = summary.get("config")
    if not isinstance(config, dict):
        config = _read_json(path / CONFIG_FILE,
                            "neither summary.json nor config.json holds the configuration")
    trace = _load_trace(path)
    _check_against_trace(path, summary, trace)
    warnings: list[str] = []
    if summary.get("interrupted"):
        warnings.append(f"{path}: the run was interrupted after {summary['iterations']} of "
                        f"{summary.get('iterations_planned', '?')} planned iterations")
    evals = _load_evals(path, trace, warnings)
    layers = _load_layers(path, trace, warnings)
    profile = _load_profile(summary, config, warnings)
    power = _load_power(path)
    measured = trace["energy_measured_j"]
    if measured.notna().any() and measured.isna().any():
        warnings.append(f"{path}: measured energy covers {int(measured.notna().sum())} of {len(trace)} "
                        "iterations; measured totals and savings refer to those iterations only")
    for message in warnings:
        log.warning("%s", message)
    return Run(name=name or path.resolve().name, path=path, summary=summary, config=config, trace=trace,
               evals=evals, layers=layers, profile=profile, power=power,
               measured_simulated=_is_simulated(summary, power), warnings=warnings)


def unique_names(paths: list[Path]) -> list[str]:
    """Short, distinct labels: the directory name, with parent folders added only where names clash."""
    parts = [p.resolve().parts for p in paths]
    depth = [1] * len(paths)
    while True:
        names = ["/".join(pp[-d:]) for pp, d in zip(parts, depth)]
        clashes = {n for n in names if names.count(n) > 1}
        grow = [i for i, n in enumerate(names) if n in clashes and depth[i] < len(parts[i])]
        if not grow:
            break
        for i in grow:
            depth[i] += 1
    seen: dict[str, int] = {}
    out = []
    for n in names:  # the same directory given twice
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n} ({seen[n]})")
    return out


def load_runs(run_dirs: list[str | Path]) -> list[Run]:
    """Load several runs with distinct names; the first failing directory raises."""
    if not run_dirs:
        raise ReportError("no run directory given; usage: energy-report RUN_DIR [RUN_DIR ...]")
    paths = [Path(p) for p in run_dirs]
    return [load_run(p, n) for p, n in zip(paths, unique_names(paths))]
