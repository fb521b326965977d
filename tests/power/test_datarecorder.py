"""Import of PYNQ DataRecorder frames, built here the way pynq.pmbus.DataRecorder.frame builds them."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2train.power import DataRecorderFormatError, read_datarecorder
from e2train.power.datarecorder import INA226_RESOLUTION_W

T0_EPOCH = 1_700_000_000.0
DT = 0.01


def pynq_like_frame(mark_column: str = "Mark") -> pd.DataFrame:
    """Three marks of 50 samples: 12V at 5, 8, 6 W; INT as voltage x current (0.85 V x 1, 2, 1.5 A)."""
    n_per = 50
    marks = np.repeat([0, 1, 2], n_per)
    p12 = np.repeat([5.0, 8.0, 6.0], n_per)
    amps = np.repeat([1.0, 2.0, 1.5], n_per)
    times = T0_EPOCH + DT * np.arange(marks.size)
    data = {
        mark_column: marks,
        "12V_power": p12,
        "INT_voltage": np.full(marks.size, 0.85),
        "INT_current": amps,
    }
    # As in pynq: pd.DataFrame(self._data, columns=..., index=pd.to_datetime(self._times, unit="s"))
    return pd.DataFrame(data, index=pd.to_datetime(times, unit="s"))


def expected_mark_energy(levels: list[float], n_per: int = 50) -> list[float]:
    """Trapezoid over [first sample of mark, first sample of next mark]: a ramp to the next level at the end."""
    out = []
    for k, level in enumerate(levels):
        if k + 1 < len(levels):
            out.append(level * (n_per - 1) * DT + 0.5 * (level + levels[k + 1]) * DT)
        else:  # the last reading holds for its interval, like every other
            out.append(level * n_per * DT)
    return out


@pytest.fixture(params=["pickle", "csv"])
def saved_frame(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    frame = pynq_like_frame()
    if request.param == "pickle":
        path = tmp_path / "rec.pkl"
        frame.to_pickle(path)
    else:
        path = tmp_path / "rec.csv"
        frame.to_csv(path)
    return path


def test_per_mark_energy(saved_frame: Path) -> None:
    imp = read_datarecorder(saved_frame)
    assert imp.mark_column == "Mark"
    assert [r.name for r in imp.rails] == ["12V", "INT"]
    marks = imp.marks.set_index("mark")
    assert list(marks.index) == [0, 1, 2]
    e12 = expected_mark_energy([5.0, 8.0, 6.0])
    eint = expected_mark_energy([0.85, 1.7, 1.275])
    assert marks["12V_energy_j"].to_numpy() == pytest.approx(e12, rel=1e-6)
    assert marks["INT_energy_j"].to_numpy() == pytest.approx(eint, rel=1e-6)
    assert marks["energy_j"].to_numpy() == pytest.approx(np.add(e12, eint), rel=1e-6)
    assert marks.loc[0, "duration_s"] == pytest.approx(50 * DT, rel=1e-6)
    assert (marks["energy_err_j"] > 0).all()
    assert marks["net_energy_j"].isna().all()  # no baseline asked for
    # Marks tile the recording: their sum is the whole trapezoid.
    total = imp.recording.energy_between(0.0, float(imp.recording.t_s[-1]))
    assert marks["energy_j"].sum() == pytest.approx(total.gross_energy_j, rel=1e-9)
    assert imp.t0_epoch_s == pytest.approx(T0_EPOCH, abs=1e-3)
    assert list(imp.samples.columns) == ["t_s", "mark", "12V_w", "INT_w"]
    assert imp.rails[0].refresh_s == pytest.approx(DT, rel=1e-3)


def test_invocation_column_and_baseline_mark(tmp_path: Path) -> None:
    path = tmp_path / "old.pkl"
    pynq_like_frame("Invocation").to_pickle(path)
    imp = read_datarecorder(path, baseline_mark=0)
    assert imp.mark_column == "Invocation"
    m = imp.marks.set_index("mark")
    base_power = 5.0 + 0.85
    assert m.loc[1, "net_energy_j"] == pytest.approx(
        m.loc[1, "energy_j"] - base_power * m.loc[1, "duration_s"], rel=1e-3
    )
    assert m.loc[1, "net_energy_err_j"] >= m.loc[1, "energy_err_j"]


def test_missing_mark_column_names_file_and_column(tmp_path: Path) -> None:
    path = tmp_path / "nomark.pkl"
    pynq_like_frame().drop(columns="Mark").to_pickle(path)
    with pytest.raises(DataRecorderFormatError, match=r"nomark\.pkl: missing column 'Mark'.*12V_power"):
        read_datarecorder(path)


def test_missing_power_columns(tmp_path: Path) -> None:
    path = tmp_path / "nopower.csv"
    pynq_like_frame()[["Mark", "INT_voltage"]].to_csv(path)
    with pytest.raises(DataRecorderFormatError, match=r"nopower\.csv: no '<rail>_power' column"):
        read_datarecorder(path)


def test_csv_without_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "noindex.csv"
    pynq_like_frame().reset_index(drop=True).to_csv(path, index=False)
    with pytest.raises(DataRecorderFormatError, match="noindex.csv"):
        read_datarecorder(path)


def test_pickle_of_something_else(tmp_path: Path) -> None:
    path = tmp_path / "list.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(DataRecorderFormatError, match="holds a list, not a pandas DataFrame"):
        read_datarecorder(path)
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"not a pickle at all")
    with pytest.raises(DataRecorderFormatError, match="junk.pkl"):
        read_datarecorder(junk)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothere.pkl"):
        read_datarecorder(tmp_path / "nothere.pkl")


def test_numeric_seconds_index_and_nan_rows(tmp_path: Path) -> None:
    frame = pynq_like_frame()
    frame.index = DT * np.arange(len(frame))
    frame.iloc[3, frame.columns.get_loc("12V_power")] = math.nan
    path = tmp_path / "secs.pkl"
    frame.to_pickle(path)
    imp = read_datarecorder(path)
    assert len(imp.samples) == len(frame) - 1


def test_the_last_mark_lasts_as_long_as_it_was_recorded(tmp_path: Path) -> None:
    """A 9 W, 2 s last mark sampled every 0.5 s (4 readings) is 18 J, not 1.5 s worth."""
    times = T0_EPOCH + 0.5 * np.arange(8)
    frame = pd.DataFrame({"Mark": np.repeat([0, 1], 4), "12V_power": np.full(8, 9.0)},
                         index=pd.to_datetime(times, unit="s"))
    frame.to_pickle(tmp_path / "r.pkl")
    marks = read_datarecorder(tmp_path / "r.pkl").marks.set_index("mark")
    assert marks["energy_j"].to_numpy() == pytest.approx([18.0, 18.0])
    assert marks.loc[1, "duration_s"] == pytest.approx(2.0)


def test_only_pmbus_rails_carry_the_eighth_watt_step(saved_frame: Path) -> None:
    imp = read_datarecorder(saved_frame, pmbus_rails=("12V",))
    assert {r.name: r.resolution for r in imp.rails} == {"12V": 0.125, "INT": INA226_RESOLUTION_W}
    with pytest.raises(DataRecorderFormatError, match="no rail VCCAUX"):
        read_datarecorder(saved_frame, pmbus_rails=("VCCAUX",))


def test_power_import_command_prints_and_writes_every_mark(saved_frame: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from e2train.cli.main import cli

    out = tmp_path / "marks.csv"
    res = CliRunner().invoke(cli, ["power", "import", str(saved_frame), "--marks", "1,2", "--baseline-mark", "0",
                                   "--pmbus-rails", "12V", "--csv", str(out)])
    assert res.exit_code == 0, res.output
    assert "mark 1:" in res.output and "mark 2:" in res.output and "mark 0:" not in res.output
    assert "net" in res.output
    assert pd.read_csv(out)["mark"].tolist() == [1, 2]
    bad = CliRunner().invoke(cli, ["power", "import", str(saved_frame), "--marks", "7"])
    assert bad.exit_code == 2 and "no mark 7" in bad.output
