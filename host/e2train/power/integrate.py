"""Energy of a time window from recorded samples, with its uncertainty: pure functions on arrays.

Kept apart from the recorder so that a saved recording (Parquet) or a PYNQ DataRecorder frame goes
through exactly the same arithmetic as a live one.

Energy of a window [t0, t1] (duration T):

- power rails: trapezoid over the samples inside the window plus the power linearly interpolated at
  t0 and t1 (so a window does not gain or lose the slivers between its boundary and the nearest samples);
- energy-counter rails: E(t1) - E(t0), the counter linearly interpolated at the boundaries.

Net energy subtracts the idle baseline: ``net = gross - P_base * T``.

Uncertainty (one standard deviation, terms independent, added in quadrature)::

    r       = sensor refresh period (a value describes, or averages, the past r seconds)
    tau     = max(r, local sampling interval)      # how long one reading stays the only information
    s_res   = q / sqrt(12) * T                  power: quantisation step q, assumed fully correlated
              q / sqrt(6)                        counters: two quantised readings
    s_samp  = sqrt(sum_i (dP_i * dt_i)^2 / 12)  power: between two samples the signal is unknown; a change
              dP_i anywhere inside an interval of length dt_i (clipped to the window) leaves the
              trapezoid off by up to dP_i * dt_i / 2. Grows by itself where samples were late or missed.
              Counters: only the two intervals holding a boundary, where the counter is interpolated.
    s_lag   = sqrt(sum_b (dP_b * r / sqrt(3))^2)  the sensor reports a change with a lag uniform in
              [0, r]: energy moves across edge b by dP_b * lag (RMS, bias included: dP_b * r / sqrt(3));
              dP_b = max - min of power within tau of the edge. Inside the window a lag cancels.
    s_noise = sigma_base * sqrt(T * min(T, tau))  power only: independent sensor noise, one draw per tau
              (a counter integrates in hardware)
    s_base  = T * sigma_base / sqrt(n_eff)       net only: error of the baseline mean; n_eff counts fresh
              baseline readings, min(samples, baseline duration / r)

    gross_err = sqrt(s_res^2 + s_samp^2 + s_lag^2 + s_noise^2);  energy_err (net) = sqrt(gross_err^2 + s_base^2)

``sigma_base`` is the std of the idle baseline: it bounds the sensor noise from above (idle power also
fluctuates), so the noise term errs on the large side. Not modelled: gain/offset errors of the sensor
and shunt (about 0.1-1 %), which a calibration against a reference meter must bound.
A window shorter than the refresh period is flagged ``short_window``: its number is interpolation
between two readings, not a measurement; aggregate such windows before trusting them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from e2train.power.base import Quantity, RailInfo

SQRT12 = math.sqrt(12.0)
SQRT3 = math.sqrt(3.0)
# numpy < 2 (which pynq pins) has only ``trapz``; numpy >= 2 deprecates it in favour of ``trapezoid``.
trapezoid = getattr(np, "trapezoid", None) or np.trapz


@dataclass(frozen=True)
class RailBaseline:
    """Idle power of one rail, measured in the same session before the run."""

    rail: str
    mean_power_w: float
    std_power_w: float
    samples: int
    duration_s: float
    n_eff: float  # independent readings: min(samples, duration / refresh period)


@dataclass(frozen=True)
class Baseline:
    t_start_s: float
    t_end_s: float
    rails: dict[str, RailBaseline]

    @property
    def mean_power_w(self) -> float:
        return float(sum(r.mean_power_w for r in self.rails.values()))

    @property
    def std_power_w(self) -> float:
        return float(math.sqrt(sum(r.std_power_w**2 for r in self.rails.values())))

    def to_dict(self) -> dict[str, object]:
        return {
            "t_start_s": self.t_start_s,
            "t_end_s": self.t_end_s,
            "rails": {k: vars(v) for k, v in self.rails.items()},
        }


@dataclass(frozen=True)
class RailEnergy:
    rail: str
    gross_energy_j: float
    net_energy_j: float
    gross_err_j: float
    energy_err_j: float
    samples: int
    short_window: bool


@dataclass(frozen=True)
class WindowEnergy:
    """Energy of one window summed over the selected rails (errors in quadrature: rails are independent).

    ``energy_err_j`` is the one-sigma uncertainty of ``net_energy_j`` (the larger one); ``gross_err_j``
    that of ``gross_energy_j``. ``net_energy_j`` is NaN when no baseline was measured: a silent
    "net = gross" would overstate the accelerator's share. ``complete`` is False (and the energies NaN)
    when the window reaches outside the recording.
    """

    t_start_s: float
    t_end_s: float
    duration_s: float
    gross_energy_j: float
    net_energy_j: float
    energy_err_j: float
    gross_err_j: float
    samples: int
    short_window: bool
    complete: bool = True
    by_rail: dict[str, RailEnergy] = field(default_factory=dict)

    @property
    def gross_power_w(self) -> float:
        return self.gross_energy_j / self.duration_s if self.duration_s > 0 else math.nan

    def as_row(self) -> dict[str, float | int | bool]:
        """Flat fields for a trace row (no per-rail detail)."""
        return {
            "energy_gross_j": self.gross_energy_j,
            "energy_net_j": self.net_energy_j,
            "energy_err_j": self.energy_err_j,
            "energy_gross_err_j": self.gross_err_j,
            "energy_samples": self.samples,
            "energy_short_window": self.short_window,
        }


def derived_power(t: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Power from a cumulative counter: dE/dt at interval midpoints (for baselines and edge terms)."""
    dt = np.diff(t)
    ok = dt > 0
    return (0.5 * (t[1:] + t[:-1]))[ok], (np.diff(e)[ok] / dt[ok])


def typical_interval_s(t: np.ndarray) -> float:
    return float(np.median(np.diff(t))) if len(t) > 1 else math.inf


def _edge_spread_w(tp: np.ndarray, p: np.ndarray, edge: float, tau: float, p_edge: float) -> float:
    lo, hi = np.searchsorted(tp, [edge - tau, edge + tau], side="left")
    near = p[lo:hi]
    if near.size == 0:
        return 0.0
    return float(max(near.max(), p_edge) - min(near.min(), p_edge))


def rail_window_energy(
    t: np.ndarray,
    v: np.ndarray,
    rail: RailInfo,
    t0: float,
    t1: float,
    baseline: RailBaseline | None = None,
    interval_s: float | None = None,
) -> RailEnergy:
    """Energy of one rail over [t0, t1] from samples ``(t, v)`` sorted by time (see module docstring)."""
    if t1 < t0:
        raise ValueError(f"window ends before it starts: t_start={t0!r} > t_end={t1!r}")
    duration = t1 - t0
    n_inside = int(np.searchsorted(t, t1, side="right") - np.searchsorted(t, t0, side="left"))
    short = duration < rail.refresh_s
    if len(t) < 2 or t0 < t[0] or t1 > t[-1]:
        return RailEnergy(rail.name, math.nan, math.nan, math.nan, math.nan, n_inside, short)
    if interval_s is None:
        # The local sampling interval (samples in the window and one either side): a live slice and the
        # whole saved recording then give identical answers.
        lo, hi = np.searchsorted(t, [t0, t1], side="left")
        interval_s = typical_interval_s(t[max(lo - 1, 0) : hi + 1])
    refresh = rail.refresh_s
    tau = max(refresh, interval_s)
    # Sample intervals overlapping the window: i0 holds t0 (t[i0] <= t0), i1 - 1 holds t1.
    i0 = max(int(np.searchsorted(t, t0, side="right")) - 1, 0)
    i1 = max(int(np.searchsorted(t, t1, side="left")), i0)

    if rail.quantity is Quantity.POWER:
        lo, hi = np.searchsorted(t, [t0, t1], side="right")
        p0, p1 = np.interp([t0, t1], t, v)
        tt = np.concatenate(([t0], t[lo:hi][t[lo:hi] < t1], [t1]))
        pp = np.concatenate(([p0], v[lo:hi][t[lo:hi] < t1], [p1]))
        gross = float(trapezoid(pp, tt))
        s_res = rail.resolution / SQRT12 * duration
        overlap = np.clip(np.minimum(t[i0 + 1 : i1 + 1], t1) - np.maximum(t[i0:i1], t0), 0.0, None)
        dp = np.abs(np.diff(v[i0 : i1 + 1]))
        s_samp = float(np.sqrt(np.sum((dp * overlap) ** 2) / 12.0))
        tp, p = t, v
        s_noise = baseline.std_power_w * math.sqrt(duration * min(duration, tau)) if baseline else 0.0
    else:
        e0, e1 = np.interp([t0, t1], t, v)
        gross = float(e1 - e0)
        p0 = p1 = gross / duration if duration > 0 else 0.0
        s_res = rail.resolution / math.sqrt(6.0)
        tp, p = derived_power(t, v)
        s_samp = 0.0
        for b, pb in ((t0, p0), (t1, p1)):
            k = min(max(int(np.searchsorted(t, b, side="right")) - 1, 0), len(t) - 2)
            dt_b = float(t[k + 1] - t[k])
            s_samp = math.hypot(s_samp, _edge_spread_w(tp, p, b, max(tau, dt_b), float(pb)) * dt_b / SQRT12)
        s_noise = 0.0
    s_lag = math.hypot(
        _edge_spread_w(tp, p, t0, tau, float(p0)) * refresh / SQRT3,
        _edge_spread_w(tp, p, t1, tau, float(p1)) * refresh / SQRT3,
    )
    s_edge = math.hypot(s_samp, s_lag)
    gross_err = math.sqrt(s_res**2 + s_edge**2 + s_noise**2)
    if baseline is None:
        return RailEnergy(rail.name, gross, math.nan, gross_err, math.nan, n_inside, short)
    net = gross - baseline.mean_power_w * duration
    s_base = duration * baseline.std_power_w / math.sqrt(max(baseline.n_eff, 1.0))
    return RailEnergy(rail.name, gross, net, gross_err, math.hypot(gross_err, s_base), n_inside, short)


def window_energy(
    t: np.ndarray,
    values: np.ndarray,
    rails: tuple[RailInfo, ...],
    t0: float,
    t1: float,
    baseline: Baseline | None = None,
    interval_s: float | None = None,
) -> WindowEnergy:
    """Sum of ``rail_window_energy`` over ``rails``; ``values`` has shape (samples, rails).

    ``interval_s`` (the sampling interval used in tau) defaults to the local median around the window.
    """
    per = {}
    for j, rail in enumerate(rails):
        rb = baseline.rails.get(rail.name) if baseline else None
        per[rail.name] = rail_window_energy(t, values[:, j], rail, t0, t1, rb, interval_s)
    parts = list(per.values())
    gross = float(sum(r.gross_energy_j for r in parts))
    complete = not math.isnan(gross)
    return WindowEnergy(
        t_start_s=t0,
        t_end_s=t1,
        duration_s=t1 - t0,
        gross_energy_j=gross,
        net_energy_j=float(sum(r.net_energy_j for r in parts)),
        energy_err_j=math.sqrt(sum(r.energy_err_j**2 for r in parts)),
        gross_err_j=math.sqrt(sum(r.gross_err_j**2 for r in parts)),
        samples=min(r.samples for r in parts),
        short_window=any(r.short_window for r in parts),
        complete=complete,
        by_rail=per,
    )


def baseline_from_samples(
    t: np.ndarray, values: np.ndarray, rails: tuple[RailInfo, ...], t0: float, t1: float
) -> Baseline:
    """Idle baseline per rail over [t0, t1]: time-weighted mean power and the std of readings."""
    lo, hi = np.searchsorted(t, [t0, t1], side="left")
    hi = max(hi, np.searchsorted(t, t1, side="right"))
    ts = t[lo:hi]
    if len(ts) < 2:
        raise ValueError(
            f"baseline window [{t0:.3f}, {t1:.3f}] s holds {len(ts)} samples; record longer (>= 2 needed)"
        )
    duration = float(ts[-1] - ts[0])
    out = {}
    for j, rail in enumerate(rails):
        vs = values[lo:hi, j]
        if rail.quantity is Quantity.POWER:
            mean = float(trapezoid(vs, ts) / duration) if duration > 0 else float(vs.mean())
            std = float(vs.std(ddof=1))
            n = len(vs)
        else:
            _, p = derived_power(ts, vs)
            mean = float((vs[-1] - vs[0]) / duration)
            std = float(p.std(ddof=1)) if len(p) > 1 else 0.0
            n = len(p)
        n_eff = min(float(n), duration / rail.refresh_s) if rail.refresh_s > 0 else float(n)
        out[rail.name] = RailBaseline(rail.name, mean, std, n, duration, max(n_eff, 1.0))
    return Baseline(float(ts[0]), float(ts[-1]), out)
