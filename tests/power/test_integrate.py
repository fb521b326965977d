"""Window energy and its uncertainty on arrays whose integral is known exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2train.power.base import Quantity, RailInfo
from e2train.power.integrate import (
    Baseline,
    RailBaseline,
    baseline_from_samples,
    rail_window_energy,
    window_energy,
)

P = RailInfo("p", Quantity.POWER, resolution=0.0, refresh_s=0.0)
E = RailInfo("e", Quantity.ENERGY, resolution=0.0, refresh_s=0.0)


def test_linear_power_is_integrated_exactly_between_samples() -> None:
    t = np.arange(0.0, 1.0001, 0.01)
    p = 2.0 + 3.0 * t  # W
    # Boundaries off the sample grid: the interpolated end values must be used.
    t0, t1 = 0.123, 0.789
    exact = 2.0 * (t1 - t0) + 1.5 * (t1**2 - t0**2)
    r = rail_window_energy(t, p, P, t0, t1)
    assert r.gross_energy_j == pytest.approx(exact, rel=1e-12)
    assert r.samples == 66  # samples at 0.13 ... 0.78
    assert math.isnan(r.net_energy_j)  # no baseline -> no net, not a silent copy of gross


def test_counter_difference_interpolated_at_boundaries() -> None:
    t = np.arange(0.0, 2.0001, 0.1)
    e = 100.0 + 5.0 * t  # J, constant 5 W
    r = rail_window_energy(t, e, E, 0.25, 1.35)
    assert r.gross_energy_j == pytest.approx(5.0 * 1.1, rel=1e-12)


def test_window_outside_recording_is_incomplete() -> None:
    t = np.linspace(1.0, 2.0, 11)
    w = window_energy(t, np.ones((11, 1)), (P,), 0.5, 1.5)
    assert not w.complete and math.isnan(w.gross_energy_j)
    w = window_energy(t, np.ones((11, 1)), (P,), 1.5, 2.5)
    assert not w.complete


def test_short_window_flag() -> None:
    rail = RailInfo("p", Quantity.POWER, 0.0, refresh_s=0.035)
    t = np.arange(0.0, 1.0, 0.01)
    assert rail_window_energy(t, np.ones_like(t), rail, 0.5, 0.52).short_window
    assert not rail_window_energy(t, np.ones_like(t), rail, 0.5, 0.6).short_window


def test_uncertainty_terms_for_constant_power() -> None:
    """Constant power: no edge term; resolution and baseline terms follow the documented formula."""
    q, refresh, T = 0.125, 0.05, 2.0
    rail = RailInfo("p", Quantity.POWER, q, refresh)
    t = np.arange(0.0, 4.0001, 0.01)
    p = np.full_like(t, 3.0)
    base = RailBaseline("p", mean_power_w=1.0, std_power_w=0.02, samples=100, duration_s=5.0, n_eff=100.0)
    r = rail_window_energy(t, p, rail, 1.0, 1.0 + T, base)
    tau = refresh  # refresh > sampling interval
    s_res = q / math.sqrt(12) * T
    s_noise = 0.02 * math.sqrt(T * tau)
    s_base = T * 0.02 / math.sqrt(100)
    assert r.gross_energy_j == pytest.approx(6.0)
    assert r.net_energy_j == pytest.approx(6.0 - 2.0)
    assert r.gross_err_j == pytest.approx(math.hypot(s_res, s_noise))
    assert r.energy_err_j == pytest.approx(math.sqrt(s_res**2 + s_noise**2 + s_base**2))


def test_sampling_and_lag_terms_of_a_step() -> None:
    """A 4 W step between two samples 10 ms apart, right after the window starts, with a 35 ms sensor."""
    rail = RailInfo("p", Quantity.POWER, 0.0, refresh_s=0.035)
    t = np.arange(0.0, 2.0, 0.01)
    p = np.where(t < 1.005, 1.0, 5.0)
    at_step = rail_window_energy(t, p, rail, 1.0, 1.5)
    away = rail_window_energy(t, p, rail, 1.2, 1.7)
    assert away.gross_err_j == pytest.approx(0.0, abs=1e-12)
    s_samp = 4.0 * 0.01 / math.sqrt(12)  # the step lies somewhere in [1.00, 1.01]
    s_lag = 4.0 * 0.035 / math.sqrt(3)  # and the sensor may show it up to 35 ms late, across t0
    assert at_step.gross_err_j == pytest.approx(math.hypot(s_samp, s_lag), rel=1e-9)


def test_sampling_term_grows_with_a_gap() -> None:
    """A missed sample (a 50 ms gap) around a step: the uncertainty widens by itself."""
    rail = RailInfo("p", Quantity.POWER, 0.0, refresh_s=0.0)
    t = np.concatenate([np.arange(0.0, 1.0, 0.01), np.arange(1.05, 2.0, 0.01)])
    p = np.where(t < 1.02, 1.0, 3.0)
    w = rail_window_energy(t, p, rail, 0.5, 1.5)
    assert w.gross_err_j == pytest.approx(2.0 * 0.06 / math.sqrt(12), rel=1e-6)  # the interval [0.99, 1.05]


def test_counter_resolution_term() -> None:
    rail = RailInfo("e", Quantity.ENERGY, resolution=2.0**-14, refresh_s=1e-3)
    t = np.arange(0.0, 1.0, 0.01)
    r = rail_window_energy(t, 7.0 * t, rail, 0.2, 0.8)
    assert r.gross_energy_j == pytest.approx(4.2)
    assert r.gross_err_j == pytest.approx(2.0**-14 / math.sqrt(6), rel=1e-6)


def test_rails_sum_and_errors_add_in_quadrature() -> None:
    rails = (RailInfo("a", Quantity.POWER, 0.1, 0.0), RailInfo("b", Quantity.POWER, 0.2, 0.0))
    t = np.linspace(0, 1, 101)
    v = np.column_stack([np.full(101, 1.0), np.full(101, 2.0)])
    w = window_energy(t, v, rails, 0.0, 1.0)
    assert w.gross_energy_j == pytest.approx(3.0)
    assert w.gross_err_j == pytest.approx(math.hypot(0.1, 0.2) / math.sqrt(12))
    assert set(w.by_rail) == {"a", "b"}
    assert w.as_row()["energy_gross_j"] == pytest.approx(3.0)


def test_baseline_from_power_and_counter_samples() -> None:
    rails = (RailInfo("p", Quantity.POWER, 0.0, 0.05), RailInfo("e", Quantity.ENERGY, 0.0, 0.0))
    rng = np.random.default_rng(1)
    t = np.arange(0.0, 10.0, 0.01)
    p = 2.0 + rng.normal(0, 0.1, t.size)
    e = 3.0 * t
    b = baseline_from_samples(t, np.column_stack([p, e]), rails, 0.0, 10.0)
    assert isinstance(b, Baseline)
    assert b.rails["p"].mean_power_w == pytest.approx(2.0, abs=0.01)
    assert b.rails["p"].std_power_w == pytest.approx(0.1, rel=0.1)
    # 1000 samples but a fresh value only every 50 ms: 200 independent readings.
    assert b.rails["p"].n_eff == pytest.approx(10.0 / 0.05, rel=0.01)
    assert b.rails["e"].mean_power_w == pytest.approx(3.0)
    assert b.rails["e"].std_power_w == pytest.approx(0.0, abs=1e-9)


def test_baseline_needs_samples() -> None:
    with pytest.raises(ValueError, match="record longer"):
        baseline_from_samples(np.array([0.0]), np.ones((1, 1)), (P,), 0.0, 1.0)


def test_reversed_window_rejected() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        rail_window_energy(np.linspace(0, 1, 5), np.ones(5), P, 0.8, 0.2)


@settings(max_examples=60, deadline=None)
@given(
    powers=st.lists(st.floats(0.0, 50.0), min_size=3, max_size=40),
    cuts=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3),
)
def test_windows_are_additive(powers: list[float], cuts: list[float]) -> None:
    """E(a, b) + E(b, c) == E(a, c) for any samples and cut points: nothing lost at a shared boundary."""
    t = np.linspace(0.0, 1.0, len(powers))
    p = np.asarray(powers)
    a, b, c = sorted(cuts)
    ab = rail_window_energy(t, p, P, a, b).gross_energy_j
    bc = rail_window_energy(t, p, P, b, c).gross_energy_j
    ac = rail_window_energy(t, p, P, a, c).gross_energy_j
    assert ab + bc == pytest.approx(ac, rel=1e-9, abs=1e-9)
    assert ac >= -1e-12
