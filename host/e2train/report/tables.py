"""The comparison of runs as numbers: one ``RunMetrics`` per run, then JSON, CSV or rows of strings.

Savings are always ``1 - E / E_reference`` at equal nominal budget: the modelled 8-bit and fp32
baselines run every planned iteration (SMD-skipped ones included) of the same network, and a baseline
run is compared as it ran. None of them is at equal accuracy, which is why accuracy sits next to every
saving and why a comparison whose budgets, data or energy profiles differ carries a caveat.

Uncertainty of a measured total: a window's one-sigma error mixes terms every window shares (the error
of the idle-baseline mean, the sensor's quantisation step: both proportional to the window's length)
with terms of its own (sampling, sensor lag, noise). The shared terms add linearly over windows, the
others in quadrature. With the raw recording at hand (``power.parquet``) the shared part is known and
separated; without it every error is added linearly, the conservative bound. Both bounds (all
independent, all correlated) are kept in the JSON/CSV output.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from e2train.report.load import Run

BUDGET_NOTE = ("Savings are 1 - E/E_reference at equal nominal budget (the same planned iterations, "
               "SMD-skipped ones included), not at equal accuracy: read them with the accuracy column.")
MEASURED_ERR_NOTE = ("Measured energy is net of the idle baseline, ± one sigma: errors shared by every "
                     "window (idle-baseline mean, sensor LSB) add linearly, the rest in quadrature.")
# Configuration keys that must match for a saving against a baseline run to compare like with like.
_COMPARABLE_KEYS = ("dataset", "data_dir", "model", "batch_size")


@dataclass
class RunMetrics:
    """Everything the tables show about one run; energies in joules, fractions in [0, 1]."""

    run: str
    path: str
    test_accuracy: float | None
    test_executed_fraction: float | None
    iterations: int
    iterations_planned: int | None
    iterations_skipped: int
    interrupted: bool
    slu_executed_fraction: float | None
    psg_recompute_fraction_hw: float | None  # per entry, as the psg_wgrad kernel recomputes
    psg_recompute_fraction_sw: float | None  # entries the software path computed at full precision
    energy_model_j: float
    energy_compute_model_j: float
    energy_dram_model_j: float
    energy_static_model_j: float
    energy_baseline8_model_j: float
    energy_baseline32_model_j: float
    savings_vs_baseline8: float | None
    savings_vs_baseline32: float | None
    energy_measured_j: float | None
    energy_measured_err_j: float | None  # one sigma: shared terms linearly, the rest in quadrature
    energy_measured_err_method: str | None  # how the per-window errors were combined
    energy_measured_err_indep_j: float | None  # bound: all per-window errors independent (quadrature)
    energy_measured_err_linear_j: float | None  # bound: all per-window errors fully correlated (linear)
    energy_measured_gross_j: float | None
    measured_iterations: int
    measured_short_windows: int
    measured_simulated: bool
    energy_model_on_measured_j: float | None  # modelled joules of the measured iterations only
    model_vs_measured_mape: float | None  # mean |model - measured| / measured over trusted windows
    energy_profile: str
    energy_profile_kind: str
    baseline_run: str | None = None
    savings_vs_baseline_run_model: float | None = None
    savings_vs_baseline_run_measured: float | None = None
    accuracy_delta_vs_baseline_run: float | None = None
    wall_time_s: float | None = None
    train_time_s: float | None = None
    caveats: list[str] = field(default_factory=list)  # about this run's own numbers
    baseline_caveats: list[str] = field(default_factory=list)  # why a saving vs the baseline run misleads
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: _clean(v) for k, v in asdict(self).items()}


def _clean(value: Any) -> Any:
    """NaN is not JSON: missing numbers become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def _saving(energy: float | None, reference: float | None) -> float | None:
    if energy is None or reference is None or reference <= 0:
        return None
    return 1.0 - energy / reference


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


def trusted_windows(run: Run):  # -> pandas boolean Series
    """Iterations whose measured energy can be compared with the model: ran, measured, long enough.

    A window shorter than the sensor's refresh period is interpolation between two readings, and an
    SMD-skipped iteration models to zero joules, so neither belongs in a per-iteration comparison.
    """
    t = run.trace
    short = t["measured_short_window"].fillna(False).astype(bool)
    return t["energy_measured_j"].notna() & ~t["skipped"] & ~short & (t["energy_model_j"] > 0)


def model_mape(run: Run) -> tuple[float | None, int]:
    """Mean |modelled - measured| / measured over trusted windows with positive measured energy, and
    how many windows that is (a net energy at or below zero has no relative error)."""
    rows = run.trace[trusted_windows(run) & (run.trace["energy_measured_j"] > 0)]
    if rows.empty:
        return None, 0
    measured = rows["energy_measured_j"].to_numpy(float)
    return float(np.mean(np.abs(rows["energy_model_j"].to_numpy(float) - measured) / measured)), len(rows)


def measured_uncertainty(run: Run) -> tuple[float | None, str | None, float | None, float | None]:
    """One-sigma error of the measured total, how it was combined, and the independent / correlated bounds.

    Returns Nones when no iteration was measured, or when a measured iteration lacks its error (then no
    honest total error exists).
    """
    rows = run.trace[run.trace["energy_measured_j"].notna()]
    err = rows["energy_measured_err_j"].to_numpy(float)
    if rows.empty or not np.isfinite(err).all():
        return None, None, None, None
    indep, linear = float(np.sqrt(np.sum(err**2))), float(np.sum(err))
    if run.power is None:
        return linear, "linear (no power.parquet to separate shared terms)", indep, linear
    shared = run.power.correlated_sigma_w * (rows["t_end"] - rows["t_start"]).to_numpy(float)  # (N,) J
    own_sq = np.clip(err**2 - shared**2, 0.0, None)
    combined = float(np.sqrt(np.sum(shared) ** 2 + np.sum(own_sq)))
    return combined, "shared terms linear, rest in quadrature", indep, linear


def run_metrics(run: Run) -> RunMetrics:
    s, t = run.summary, run.trace
    measured_rows = t[t["energy_measured_j"].notna()]
    has_measured = not measured_rows.empty
    err, err_method, err_indep, err_linear = measured_uncertainty(run)
    e_model = float(t["energy_model_j"].sum())
    e8, e32 = float(t["energy_baseline8_model_j"].sum()), float(t["energy_baseline32_model_j"].sum())
    caveats = []
    if run.measured_simulated and has_measured:
        caveats.append("measured energy is SIMULATED (synthetic rails), not a measurement")
    short = int(measured_rows["measured_short_window"].fillna(False).astype(bool).sum())
    if short:
        caveats.append(f"{short} measured window(s) shorter than the sensor's refresh period (interpolated)")
    planned = s.get("iterations_planned")
    return RunMetrics(
        run=run.name, path=str(run.path),
        test_accuracy=_optional(s.get("test_accuracy")),
        test_executed_fraction=_optional(s.get("test_executed_fraction")),
        iterations=len(t), iterations_planned=int(planned) if planned is not None else None,
        iterations_skipped=int(t["skipped"].sum()), interrupted=bool(s.get("interrupted", False)),
        slu_executed_fraction=_optional(s.get("slu_executed_fraction")),
        psg_recompute_fraction_hw=_optional(s.get("psg_recompute_fraction_hw")),
        psg_recompute_fraction_sw=_optional(s.get("psg_recompute_fraction_sw")),
        energy_model_j=e_model,
        energy_compute_model_j=float(t["energy_compute_model_j"].sum()),
        energy_dram_model_j=float(t["energy_dram_model_j"].sum()),
        energy_static_model_j=float(t["energy_static_model_j"].sum()),
        energy_baseline8_model_j=e8, energy_baseline32_model_j=e32,
        savings_vs_baseline8=_saving(e_model, e8), savings_vs_baseline32=_saving(e_model, e32),
        energy_measured_j=float(measured_rows["energy_measured_j"].sum()) if has_measured else None,
        energy_measured_err_j=err, energy_measured_err_method=err_method,
        energy_measured_err_indep_j=err_indep, energy_measured_err_linear_j=err_linear,
        energy_measured_gross_j=(float(measured_rows["energy_measured_gross_j"].sum()) if has_measured
                                 and measured_rows["energy_measured_gross_j"].notna().all() else None),
        measured_iterations=len(measured_rows), measured_short_windows=short,
        measured_simulated=run.measured_simulated and has_measured,
        energy_model_on_measured_j=float(measured_rows["energy_model_j"].sum()) if has_measured else None,
        model_vs_measured_mape=model_mape(run)[0] if has_measured else None,
        energy_profile=run.profile.name, energy_profile_kind=run.profile.kind,
        wall_time_s=_optional(s.get("wall_time_s")), train_time_s=_optional(s.get("train_time_s")),
        caveats=caveats, warnings=list(run.warnings),
    )


def _comparison_caveats(run: Run, base: Run) -> list[str]:
    """Why a saving against ``base`` may not compare like with like (empty when it does)."""
    out = []
    n, nb = run.summary.get("iterations_planned", len(run.trace)), base.summary.get("iterations_planned",
                                                                                       len(base.trace))
    if n != nb:
        out.append(f"budget differs from {base.name}: {n} vs {nb} planned iterations")
    differ = [k for k in _COMPARABLE_KEYS if run.config.get(k) != base.config.get(k)]
    if differ:
        out.append(f"{', '.join(differ)} differ from {base.name}")
    if run.profile.name != base.profile.name:
        out.append(f"energy profiles differ ({run.profile.name} vs {base.profile.name}): modelled savings "
                   "mix two sets of per-op energies")
    if base.summary.get("interrupted") and run is not base:
        out.append(f"baseline run {base.name} was interrupted")
    return out


def compare_runs(runs: list[Run], baseline: Run | None = None) -> list[RunMetrics]:
    """Metrics for every run; with ``baseline``, savings against it (measured only where both are
    fully measured, since a partly measured total is not the run's energy)."""
    metrics = [run_metrics(r) for r in runs]
    if baseline is None:
        return metrics
    base = run_metrics(baseline)
    base_full = base.energy_measured_j is not None and base.measured_iterations == base.iterations
    for run, m in zip(runs, metrics):
        m.baseline_run = base.run
        m.savings_vs_baseline_run_model = _saving(m.energy_model_j, base.energy_model_j)
        if base_full and m.energy_measured_j is not None and m.measured_iterations == m.iterations:
            m.savings_vs_baseline_run_measured = _saving(m.energy_measured_j, base.energy_measured_j)
        if m.test_accuracy is not None and base.test_accuracy is not None:
            m.accuracy_delta_vs_baseline_run = m.test_accuracy - base.test_accuracy
        m.baseline_caveats = _comparison_caveats(run, baseline)
    return metrics


# --- output formats ----------------------------------------------------------------------------------


def to_json(metrics: list[RunMetrics], notes: list[str]) -> str:
    doc = {"runs": [m.to_dict() for m in metrics], "notes": notes,
           "baseline_run": metrics[0].baseline_run if metrics else None}
    return json.dumps(doc, indent=2, allow_nan=False)


def to_csv(metrics: list[RunMetrics]) -> str:
    """One row per run; lists (caveats, warnings) joined with '; ' so the file stays rectangular."""
    buffer = io.StringIO()
    names = list(RunMetrics.__dataclass_fields__)
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for m in metrics:
        row = m.to_dict()
        row.update({k: "; ".join(row[k]) for k in ("caveats", "baseline_caveats", "warnings")})
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


def fmt_j(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0 J"
    prefixes = ((1e3, "kJ"), (1.0, "J"), (1e-3, "mJ"), (1e-6, "uJ"))
    for scale, unit in prefixes:
        if abs(value) >= scale:
            return f"{value / scale:.4g} {unit}"
    return f"{value:.3g} J"


def fmt_pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1%}" if signed else f"{value:.1%}"


def fmt_measured(m: RunMetrics) -> str:
    if m.energy_measured_j is None:
        return "-"
    text = fmt_j(m.energy_measured_j)
    if m.energy_measured_err_j is not None:
        text += f" ± {fmt_j(m.energy_measured_err_j)}"
    if m.measured_iterations < m.iterations:
        text += f" ({m.measured_iterations}/{m.iterations} it)"
    return text + (" SIMULATED" if m.measured_simulated else "")


def table_rows(metrics: list[RunMetrics]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of strings shared by the terminal and HTML tables (one formatting, two renderers).

    "saved vs 8-bit/fp32" compare with the modelled baselines; "saved vs baseline" with the baseline run,
    on modelled and (where both runs were fully measured) measured joules, marked ``*`` where the two
    runs differ in budget, data, model or profile (``baseline_caveats`` says how). The profile column
    appears only when runs were modelled with different profiles; otherwise the notes name the profile.
    """
    header = ["run", "accuracy", "iters (skipped)", "modelled", "measured ± 1σ", "saved vs 8-bit",
              "saved vs fp32"]
    baseline = metrics[0].baseline_run if metrics else None
    if baseline:
        header += ["saved vs baseline", "saved vs baseline (meas.)", "Δ acc vs baseline"]
    profiles = {(m.energy_profile, m.energy_profile_kind) for m in metrics}
    header += (["profile"] if len(profiles) > 1 else []) + ["wall time"]
    rows = []
    for m in metrics:
        row = [m.run + (" (baseline)" if baseline and m.run == baseline else ""), fmt_pct(m.test_accuracy),
               f"{m.iterations} ({m.iterations_skipped})", fmt_j(m.energy_model_j), fmt_measured(m),
               fmt_pct(m.savings_vs_baseline8), fmt_pct(m.savings_vs_baseline32)]
        if baseline:
            mark = " *" if m.baseline_caveats else ""
            row += [fmt_pct(m.savings_vs_baseline_run_model) + mark,
                    fmt_pct(m.savings_vs_baseline_run_measured) + (mark if m.savings_vs_baseline_run_measured
                                                                   is not None else ""),
                    fmt_pct(m.accuracy_delta_vs_baseline_run, signed=True)]
        row += [f"{m.energy_profile} ({m.energy_profile_kind})"] if len(profiles) > 1 else []
        row += ["-" if m.wall_time_s is None else f"{m.wall_time_s:.1f} s"]
        rows.append(row)
    return header, rows


def report_notes(runs: list[Run], metrics: list[RunMetrics]) -> list[str]:
    """Run-independent notes every output carries, most important first."""
    notes = []
    simulated = [m.run for m in metrics if m.measured_simulated]
    if simulated:
        notes.append(f"SIMULATED measurements ({', '.join(simulated)}): joules from synthetic power rails, "
                     "not from a sensor; do not quote them as measured energy.")
    priors = sorted({r.profile.name for r in runs if r.profile.is_prior})
    if priors:
        notes.append(f"PRIOR energy profile ({', '.join(priors)}): modelled joules use per-operation "
                     "energies from the literature, not measured on this hardware; `e2train calibrate` fits "
                     "a profile.")
    others = sorted({f"{r.profile.name} ({r.profile.kind})" for r in runs if not r.profile.is_prior})
    if others:
        notes.append(f"Energy profile(s) {', '.join(others)}: see each run's provenance.")
    notes.append(BUDGET_NOTE)
    if any(m.baseline_caveats for m in metrics):
        notes.append(f"* not like for like with the baseline run {metrics[0].baseline_run}: see the run's "
                     "caveats.")
    if any(m.energy_measured_j is not None for m in metrics):
        notes.append(MEASURED_ERR_NOTE)
    return notes
