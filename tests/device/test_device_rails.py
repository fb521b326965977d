"""Simulated power rails: known activity gives known energy; the INA226-like sensor averages,
lags one window and quantises; devices feed the rails from their counters."""

from __future__ import annotations

import numpy as np
import pytest

from e2train.device import EmulatedDevice
from e2train.drivers import GemmDriver
from e2train.power import PowerSource
from e2train.power.simulated_rails import RAILS, RailModel, SimulatedRails


class FakeClock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_is_a_power_source_marked_simulated() -> None:
    rails = SimulatedRails(clock=FakeClock())
    assert isinstance(rails, PowerSource)
    assert rails.simulated is True and rails.kind == "simulated-rails" and rails.name == "simulated-rails"
    assert rails.rail_names == RAILS
    assert rails.refresh_period_s == pytest.approx(2 * 1.1e-3 * 16)
    assert rails.resolution == pytest.approx([2.5e-3] * 3)
    assert all("SIMULATED" in r.note for r in rails.rails)


def test_known_activity_gives_known_energy() -> None:
    model = RailModel()
    clock = FakeClock(0.0)
    rails = SimulatedRails(model, clock=clock)
    rails.add_activity(1.0, 0.5, (0.1, 2.0, 0.3))
    e = rails.energy_j(0.0, 3.0)
    np.testing.assert_allclose(e, model.baseline_w() * 3.0 + [0.1, 2.0, 0.3])
    # half the activity inside the window
    np.testing.assert_allclose(
        rails.energy_j(1.25, 2.0), model.baseline_w() * 0.75 + np.array([0.1, 2.0, 0.3]) / 2
    )
    np.testing.assert_allclose(rails.true_power_w(1.2), model.baseline_w() + np.array([0.1, 2.0, 0.3]) / 0.5)


def test_run_counters_to_energy() -> None:
    model = RailModel()
    rails = SimulatedRails(model, clock_hz=100e6, clock=FakeClock(0.0))
    act = rails.record_run(
        "gemm", cycles_busy=1_000_000, macs=64_000_000, bytes_read=3_000_000, bytes_written=1_000_000
    )
    assert act.duration_s == pytest.approx(0.01)
    moved = 4_000_000
    expect = [
        model.ps_byte_j * moved,
        model.pl_clock_w * 0.01 + model.mac_j * 64e6 + model.pl_byte_j * moved,
        model.ddr_byte_j * moved,
    ]
    np.testing.assert_allclose(act.energy_j, expect)
    np.testing.assert_allclose(rails.energy_j(0, 1) - model.baseline_w(), expect)


def test_runs_of_one_kernel_queue_behind_each_other() -> None:
    rails = SimulatedRails(clock_hz=1e6, clock=FakeClock(5.0))
    first = rails.record_run("gemm", 1000, 0, 0, 0)  # 1 ms
    second = rails.record_run("gemm", 1000, 0, 0, 0)  # started at the same instant: queued
    other = rails.record_run("psg_wgrad", 1000, 0, 0, 0)  # another kernel runs in parallel
    assert first.start_s == 5.0 and second.start_s == pytest.approx(5.001) and other.start_s == 5.0


def test_sensor_averages_lags_one_window_and_quantises() -> None:
    clock = FakeClock(0.0)
    rails = SimulatedRails(clock=clock)  # t0 = 0
    w = rails.window_s
    rails.add_activity(w, w, (0.0, 0.5 * w, 0.0))  # +0.5 W on PL_INT during the second window
    base = RailModel().baseline_w()
    clock.t = 1.5 * w  # second window still running: the sensor shows the first (idle) one
    np.testing.assert_allclose(rails.read().values, np.round(base / 2.5e-3) * 2.5e-3)
    clock.t = 2.5 * w
    np.testing.assert_allclose(rails.read().values[1], round((base[1] + 0.5) / 2.5e-3) * 2.5e-3)
    clock.t = 2.9 * w  # reading faster than the window repeats the value
    assert rails.read().values == rails.read().values


def test_sensor_energy_over_whole_windows_matches_truth_within_lsb() -> None:
    clock = FakeClock(0.0)
    rails = SimulatedRails(clock=clock, clock_hz=100e6)
    rng = np.random.default_rng(0)
    for _ in range(40):
        rails.record_run(
            "gemm",
            int(rng.integers(100_000, 3_000_000)),
            int(rng.integers(10**6, 10**8)),
            int(rng.integers(10**5, 10**7)),
            int(rng.integers(10**5, 10**7)),
            start_s=float(rng.uniform(0, 1.0)),
        )
    w = rails.window_s
    n = 40
    sensed = sum(rails.sensor_power_w((k + 1.5) * w) * w for k in range(n))  # windows [k w, (k+1) w]
    truth = rails.energy_j(0.0, n * w)
    assert np.all(np.abs(sensed - truth) <= n * w * rails.lsb_w / 2 + 1e-12)


def test_emulated_device_feeds_its_rails() -> None:
    clock = FakeClock(10.0)
    dev = EmulatedDevice(memory_bytes=1 << 20, clock=clock)
    rails = dev.power_source
    assert rails is not None
    before = rails.energy_j(10.0, 11.0)
    got = GemmDriver(dev).run(np.ones((64, 64), np.int8), np.ones((64, 64), np.int8))
    after = rails.energy_j(10.0, 11.0)
    dynamic = after - before
    assert len(rails.activities) == got.counters["CALLS"] == 1
    assert dynamic[1] == pytest.approx(
        rails.model.run_energy_j(
            got.counters["CYCLES_BUSY"] / 100e6,
            got.counters["MACS"],
            got.counters["BYTES_READ"],
            got.counters["BYTES_WRITTEN"],
        )[1]
    )
    assert np.all(dynamic > 0)


def test_power_recorder_measures_the_emulated_device() -> None:
    """End to end with the project's recorder on the real clock: the sensed energy of a window of
    kernel runs agrees with the model's exact energy to within the sensor's lag and LSB."""
    import time

    from e2train.power import PowerRecorder

    dev = EmulatedDevice(memory_bytes=4 << 20)
    rails = dev.power_source
    assert rails is not None
    driver = GemmDriver(dev)
    recorder = PowerRecorder(rails, rate_hz=200).start()
    time.sleep(0.1)
    t0 = time.monotonic()
    for _ in range(10):
        driver.run(np.ones((128, 128), np.int8), np.ones((128, 128), np.int8))
    time.sleep(0.15)
    t1 = time.monotonic()
    time.sleep(0.1)
    recorder.stop()
    window = recorder.energy_between(t0, t1)
    truth = rails.energy_j(t0, t1)
    assert window.complete
    # the sensor lags one window: at most one window's worth of dynamic energy moves in or out
    dynamic = sum(float(a.energy_j.sum()) for a in rails.activities)
    assert abs(window.gross_energy_j - truth.sum()) <= dynamic + 3 * rails.lsb_w * (t1 - t0) + 1e-3
