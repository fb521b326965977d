"""Fit per-op energies and static power to measured iterations; write a calibrated energy profile.

Model, one row per measured iteration::

    energy_measured_j = static_power_w * (t_end - t_start) + sum_k e_k * count_k

solved by non-negative least squares (an op cannot return energy) over the ``count_<kind>`` columns the
traces actually have. Why NNLS and not plain least squares: with few distinct op mixes, OLS happily
trades a negative DRAM energy for an inflated MAC energy; NNLS keeps every coefficient physical and
equals OLS whenever no constraint is active.

Identifiability is reported, not hidden: a count column that is zero in every row is dropped and named;
columns that are linear combinations of others (e.g. ``flop_fp32 == 2 * mac_fp32`` in every row) are named
as unidentifiable and get infinite confidence intervals. Only iterations with different op mixes (or
different durations for the same mix) separate the coefficients: calibrate on several workloads.

Confidence intervals: ``analytic`` uses the t distribution with the residual variance and
``(A^T A)^-1`` (exact for OLS with independent Gaussian errors; for a coefficient pinned at 0 by NNLS it is
an approximation, and ``at_bound`` says so); ``bootstrap`` resamples iterations and refits.
Columns are scaled to unit norm before solving, because counts (1e9 MACs) and durations (0.1 s) differ
by ten orders of magnitude.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from e2train.energy.profile import PRICED_AS, EnergyProfile, load_profile
from e2train.errors import E2TrainError
from e2train.run_dir import TRACE_FILE

log = logging.getLogger(__name__)

KNOWN_KINDS = ("mac_int8", "mac_int8x16", "mac_int4x16", "mac_fp32", "flop_fp32", "dram_byte")
COUNT_PREFIX = "count_"
TARGET = "energy_measured_j"
STATIC = "static_power_w"
MIN_R2 = 0.5  # below this a fit is refused (calibrate_runs): it explains too little to be called calibrated
PJ = 1e12


class CalibrationError(E2TrainError, ValueError):
    """The traces cannot be fitted; the message says what is missing and what to do."""


@dataclass(frozen=True)
class Coefficient:
    """One fitted coefficient in its reporting unit (W for static power, pJ per op/byte otherwise)."""

    name: str
    value: float
    std_err: float
    ci_low: float
    ci_high: float
    unit: str
    at_bound: bool = False  # NNLS held it at 0: the CI is approximate
    identifiable: bool = True

    def contains(self, x: float) -> bool:
        return self.ci_low <= x <= self.ci_high


@dataclass
class CalibrationResult:
    static: Coefficient
    energies: dict[str, Coefficient]  # kind -> pJ
    iterations: int
    rows_dropped: int
    dropped_all_zero: list[str]
    unidentifiable: list[str]
    mape_pct: float
    r2: float
    rmse_j: float
    condition_number: float
    confidence: float
    ci_method: str
    target: str
    runs: list[str] = field(default_factory=list)
    residuals_j: np.ndarray | None = None

    @property
    def static_power_w(self) -> float:
        return self.static.value

    @property
    def energy_pj(self) -> dict[str, float]:
        return {k: c.value for k, c in self.energies.items()}

    def summary(self) -> str:
        """Human-readable table of the fit (for the CLI and logs)."""
        lines = [
            (
                f"{self.iterations} iterations, MAPE {self.mape_pct:.2f} %, R^2 {self.r2:.4f}, "
                f"RMSE {self.rmse_j:.4g} J, {self.confidence:.0%} CI ({self.ci_method})"
            ),
            f"  {'static_power_w':<16} {_fmt(self.static)}",
        ]
        lines += [f"  {k + ' [pJ]':<16} {_fmt(c)}" for k, c in self.energies.items()]
        if self.dropped_all_zero:
            lines.append(f"  dropped (all zero, unidentifiable): {', '.join(self.dropped_all_zero)}")
        if self.unidentifiable:
            lines.append(f"  collinear (unidentifiable): {', '.join(self.unidentifiable)}")
        if self.rows_dropped:
            lines.append(f"  rows without a measurement dropped: {self.rows_dropped}")
        return "\n".join(lines)

    def to_profile(
        self,
        name: str,
        clock_hz: float,
        prior: EnergyProfile | None = None,
        prior_label: str | None = None,
    ) -> dict:
        """The energy-profile JSON object (format owned by the energy model), with provenance.

        Kinds the fit could not determine take the prior's value when a prior is given; otherwise they
        are written as null (never a silent 0 pJ) and listed under ``provenance.not_fitted``.
        """
        energy_pj: dict[str, float | None] = {}
        not_fitted: dict[str, str] = {}
        prior_e = prior.energy_pj if prior is not None else {}
        for kind in dict.fromkeys([*KNOWN_KINDS, *self.energies]):
            coef = self.energies.get(kind)
            if coef is not None and coef.identifiable:
                energy_pj[kind] = coef.value
            elif kind in prior_e:
                energy_pj[kind] = prior_e[kind]
                not_fitted[kind] = f"taken from prior {prior_label or prior.name}"  # type: ignore[union-attr]
            else:
                energy_pj[kind] = None
                not_fitted[kind] = "no data (column absent, all zero or collinear) and no prior"

        def ci(c: Coefficient) -> list[float | None]:
            return [_finite_or_none(c.ci_low), _finite_or_none(c.ci_high)]

        return {
            "name": name,
            "kind": "calibrated",
            "source": f"NNLS fit of measured energy to op counts over {self.iterations} iterations "
            f"from {len(self.runs) or 'in-memory'} run(s)",
            "provenance": {
                "runs": self.runs,
                "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                "iterations": self.iterations,
                "rows_dropped": self.rows_dropped,
                "target": self.target,
                "method": "scipy.optimize.nnls on unit-norm scaled columns",
                "model": "energy_j = static_power_w * duration_s + sum_k energy_pj[k] * 1e-12 * count_k",
                "fit": {
                    "mape_pct": self.mape_pct,
                    "r2": self.r2,
                    "rmse_j": self.rmse_j,
                    "condition_number": _finite_or_none(self.condition_number),
                },
                "confidence": self.confidence,
                "ci_method": self.ci_method,
                "ci": {STATIC: ci(self.static), "energy_pj": {k: ci(c) for k, c in self.energies.items()}},
                "std_err": {
                    STATIC: _finite_or_none(self.static.std_err),
                    "energy_pj": {k: _finite_or_none(c.std_err) for k, c in self.energies.items()},
                },
                "at_bound": [c.name for c in (self.static, *self.energies.values()) if c.at_bound],
                "dropped_all_zero": self.dropped_all_zero,
                "unidentifiable": self.unidentifiable,
                "not_fitted": not_fitted,
                "prior": prior_label,
            },
            "clock_hz": float(clock_hz),
            "static_power_w": self.static.value,
            "energy_pj": energy_pj,
        }


def _fmt(c: Coefficient) -> str:
    flag = " (at bound 0)" if c.at_bound else ""
    flag += " (unidentifiable)" if not c.identifiable else ""
    return f"{c.value:12.5g}  [{c.ci_low:.5g}, {c.ci_high:.5g}]{flag}"


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def count_columns(frame: pd.DataFrame) -> list[str]:
    """The ``count_<kind>`` columns present, in frame order (kinds are not hard-coded)."""
    return [c for c in frame.columns if isinstance(c, str) and c.startswith(COUNT_PREFIX)]


def _fold_priced_as(frame: pd.DataFrame) -> pd.DataFrame:
    """Kinds priced as another (``PRICED_AS``) are that kind's operations: fit them as one."""
    frame = frame.copy()
    for kind, priced in PRICED_AS.items():
        alias, base = COUNT_PREFIX + kind, COUNT_PREFIX + priced
        if alias in frame.columns:
            frame[base] = pd.to_numeric(frame.get(base, 0.0), errors="coerce") + pd.to_numeric(frame[alias],
                                                                                              errors="coerce")
            frame = frame.drop(columns=alias)
    return frame


def _design(frame: pd.DataFrame, target: str) -> tuple[np.ndarray, np.ndarray, list[str], list[str], int]:
    """(A, y, parameter names, all-zero kinds, rows dropped). Column 0 of A is the duration."""
    missing = [c for c in (target, "t_start", "t_end") if c not in frame.columns]
    if missing:
        raise CalibrationError(
            f"trace lacks column(s) {', '.join(missing)}; columns present: {', '.join(map(str, frame.columns))}"
        )
    frame = _fold_priced_as(frame)
    counts = count_columns(frame)
    if not counts:
        raise CalibrationError(
            f"trace has no {COUNT_PREFIX}<kind> columns (e.g. count_mac_int8); columns: "
            f"{', '.join(map(str, frame.columns))}"
        )
    y = pd.to_numeric(frame[target], errors="coerce").to_numpy(float)
    dur = (
        pd.to_numeric(frame["t_end"], errors="coerce") - pd.to_numeric(frame["t_start"], errors="coerce")
    ).to_numpy(float)
    c = frame[counts].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    ok = np.isfinite(y) & np.isfinite(dur) & (dur > 0) & np.all(np.isfinite(c), axis=1)
    dropped = int((~ok).sum())
    y, dur, c = y[ok], dur[ok], c[ok]
    zero = [k[len(COUNT_PREFIX) :] for j, k in enumerate(counts) if not np.any(c[:, j] != 0)]
    keep = [j for j, k in enumerate(counts) if k[len(COUNT_PREFIX) :] not in zero]
    names = [STATIC] + [counts[j][len(COUNT_PREFIX) :] for j in keep]
    a = np.column_stack([dur, c[:, keep]]) if keep else dur[:, None]
    return a, y, names, zero, dropped


def _nnls_scaled(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    from scipy.optimize import nnls

    scale = np.linalg.norm(a, axis=0)
    scale[scale == 0] = 1.0
    xs, _ = nnls(a / scale, y, maxiter=50 * a.shape[1])
    return xs / scale


def fit_calibration(
    traces: pd.DataFrame | Sequence[pd.DataFrame],
    *,
    target: str = TARGET,
    confidence: float = 0.95,
    ci: str = "analytic",
    n_boot: int = 500,
    seed: int = 0,
    runs: Sequence[str] = (),
) -> CalibrationResult:
    """Fit static power and per-op energies to trace rows (see module docstring for model and CIs)."""
    from scipy import stats

    if not 0 < confidence < 1:
        raise CalibrationError(f"confidence must be in (0, 1), got {confidence}")
    if ci not in ("analytic", "bootstrap"):
        raise CalibrationError(f"ci must be 'analytic' or 'bootstrap', got {ci!r}")
    frame = traces if isinstance(traces, pd.DataFrame) else pd.concat(list(traces), ignore_index=True)
    a, y, names, zero, dropped = _design(frame, target)
    n, p = a.shape
    if zero:
        log.warning("count columns all zero, cannot be fitted: %s", ", ".join(zero))
    if n <= p:
        raise CalibrationError(
            f"{n} usable iterations for {p} coefficients ({', '.join(names)}); need more iterations than "
            f"coefficients (and several op mixes)"
        )
    x = _nnls_scaled(a, y)
    resid = y - a @ x
    rss = float(resid @ resid)
    dof = n - p

    # Covariance in the scaled space, then back: cov(x) = sigma^2 (A^T A)^-1.
    scale = np.linalg.norm(a, axis=0)
    scale[scale == 0] = 1.0
    _, s, vt = np.linalg.svd(a / scale, full_matrices=False)
    tol = s.max() * max(n, p) * np.finfo(float).eps * 1e3
    rank_ok = s > tol
    cond = float(s.max() / s.min()) if s.min() > 0 else math.inf
    null = vt[~rank_ok]
    unident = [names[j] for j in range(p) if null.size and np.max(np.abs(null[:, j])) > 1e-6]
    if unident:
        log.warning("collinear (unidentifiable) coefficients: %s", ", ".join(unident))
    sigma2 = rss / dof
    inv_s2 = np.where(rank_ok, 1.0 / np.where(rank_ok, s, 1.0) ** 2, 0.0)
    cov = (vt.T * inv_s2) @ vt * sigma2 / np.outer(scale, scale)
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))

    if ci == "analytic":
        tq = float(stats.t.ppf(0.5 + confidence / 2, dof))
        lo, hi = x - tq * se, x + tq * se
    else:
        rng = np.random.default_rng(seed)
        boots = np.empty((n_boot, p))
        for b in range(n_boot):
            idx = rng.integers(0, n, n)
            boots[b] = _nnls_scaled(a[idx], y[idx])
        lo, hi = np.quantile(boots, [0.5 - confidence / 2, 0.5 + confidence / 2], axis=0)
        se = boots.std(axis=0, ddof=1)

    coefs = []
    for j, name in enumerate(names):
        ident = name not in unident
        factor, unit = (1.0, "W") if name == STATIC else (PJ, "pJ")
        coefs.append(
            Coefficient(
                name,
                float(x[j] * factor),
                float(se[j] * factor) if ident else math.inf,
                float(lo[j] * factor) if ident else -math.inf,
                float(hi[j] * factor) if ident else math.inf,
                unit,
                at_bound=bool(x[j] == 0.0),
                identifiable=ident,
            )
        )
    nonzero = y != 0
    mape = float(np.mean(np.abs(resid[nonzero] / y[nonzero])) * 100) if nonzero.any() else math.nan
    tss = float(((y - y.mean()) ** 2).sum())
    return CalibrationResult(
        static=coefs[0],
        energies={c.name: c for c in coefs[1:]},
        iterations=n,
        rows_dropped=dropped,
        dropped_all_zero=zero,
        unidentifiable=unident,
        mape_pct=mape,
        r2=1.0 - rss / tss if tss > 0 else math.nan,
        rmse_j=math.sqrt(rss / n),
        condition_number=cond,
        confidence=confidence,
        ci_method="t-interval from residual variance and (A^T A)^-1"
        if ci == "analytic"
        else f"bootstrap ({n_boot})",
        target=target,
        runs=list(runs),
        residuals_j=resid,
    )


def load_run_traces(run_dirs: Sequence[Path | str]) -> tuple[pd.DataFrame, list[str]]:
    """Read ``RUN_DIR/trace.parquet`` of each run; a ``run`` column tells the rows apart."""
    frames, runs = [], []
    for rd in run_dirs:
        path = Path(rd) / TRACE_FILE
        if not path.is_file():
            raise CalibrationError(f"{path} not found: is {rd} a run directory written by `e2train train`?")
        try:
            df = pd.read_parquet(path)
        except Exception as err:
            raise CalibrationError(f"{path}: cannot read Parquet ({err})") from err
        frames.append(df.assign(run=str(rd)))
        runs.append(str(rd))
    if not frames:
        raise CalibrationError("no run directories given")
    return pd.concat(frames, ignore_index=True), runs


def calibrate_runs(
    run_dirs: Sequence[Path | str],
    out: Path | str,
    *,
    name: str | None = None,
    prior: Path | str | None = None,
    clock_hz: float | None = None,
    target: str = TARGET,
    confidence: float = 0.95,
    ci: str = "analytic",
    min_r2: float = MIN_R2,
) -> tuple[CalibrationResult, dict]:
    """Load runs, fit, write the profile JSON to ``out``; returns the fit and the profile written.

    A fit that explains less than ``min_r2`` of the measured energy's variance is refused: a
    profile labelled calibrated would otherwise carry numbers the data do not support.
    """
    frame, runs = load_run_traces(run_dirs)  # the inputs first: a missing folder is the error to report
    prior_profile = load_profile(str(prior)) if prior else None  # a name or a path, as the trainer takes it
    if clock_hz is None:
        if prior_profile is None:
            raise CalibrationError(
                "the clock is not measured by calibration: pass clock_hz or a prior profile"
            )
        clock_hz = prior_profile.clock_hz
    result = fit_calibration(frame, target=target, confidence=confidence, ci=ci, runs=runs)
    if not result.r2 >= min_r2:
        raise CalibrationError(
            f"the fit explains too little of the measured energy (R^2 {result.r2:.3f} < {min_r2:g}, MAPE "
            f"{result.mape_pct:.1f} %); no profile written. Measure runs whose operation mix varies more, "
            "or lower --min-r2 to keep a weak fit"
        )
    profile = result.to_profile(
        name or f"calibrated-{_dt.date.today().isoformat()}",
        clock_hz,
        prior=prior_profile,
        prior_label=str(prior) if prior else None,
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(profile, indent=2) + "\n", encoding="utf-8")
    return result, profile
