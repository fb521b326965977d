"""The C sampler loop (power/native_sampler.c): the same readings as the Python loop on a fake hwmon tree,
the same schedule, a clear error when a rail breaks, and the Python loop when no compiler exists."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from e2train.power.hwmon import HwmonSource
from e2train.power.recorder import PowerRecorder
from e2train.power.sampler import SamplerProcess

pytestmark = pytest.mark.skipif(not __import__("shutil").which("cc"), reason="no C compiler (apt-get install gcc)")


def _record(source: HwmonSource, seconds: float, rate_hz: float = 1000.0) -> tuple[PowerRecorder, np.ndarray]:
    with PowerRecorder(source, rate_hz=rate_hz, mode="process") as rec:
        time.sleep(seconds)
    return rec, rec.to_frame()


def test_the_c_loop_reads_what_the_python_reader_reads(hwmon_root: Path) -> None:
    source = HwmonSource(root=hwmon_root)
    assert SamplerProcess(source, 1e-3, 3 + len(source.rails)).loop == "C"
    want = source.read().values  # every method: power, V x I, the energy counter
    rec, frame = _record(source, 0.3)
    assert rec.error is None and rec.loop == "C"
    values = frame[[r.column for r in source.rails]].to_numpy()
    assert len(values) > 150 and (values == np.array(want)).all()  # bit for bit
    t = frame["t_s"].to_numpy()
    assert (np.diff(t) > 0).all() and np.median(np.diff(t)) == pytest.approx(1e-3, rel=0.2)


def test_a_rail_that_stops_giving_integers_ends_the_sampling_with_its_name(hwmon_root: Path) -> None:
    source = HwmonSource(root=hwmon_root, rails=("ina226_u81",))
    with PowerRecorder(source, rate_hz=1000, mode="process") as rec:
        time.sleep(0.1)
        (hwmon_root / "hwmon3" / "curr1_input").write_text("gone\n")
        deadline = time.monotonic() + 5
        while rec.running and time.monotonic() < deadline:
            time.sleep(0.02)
    assert rec.error is not None and "ina226_u81" in str(rec.error) and "Errno 22" in str(rec.error)


def test_without_a_compiler_the_python_loop_samples(hwmon_root: Path, monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("E2TRAIN_CACHE", str(tmp_path / "cache"))  # nothing built before
    source = HwmonSource(root=hwmon_root)
    assert SamplerProcess(source, 1e-3, 3 + len(source.rails)).loop == "Python"
    rec, frame = _record(source, 0.2)
    assert rec.error is None and rec.loop == "Python" and len(frame) > 100
