"""Trace schema, crash-safe writing and validating reads."""

from __future__ import annotations

import math

import pytest

from e2train.energy.trace import COLUMNS, TraceError, TraceWriter, read_trace
from e2train.run_dir import JOURNAL_FILE, TRACE_FILE


def _row(i: int) -> dict:
    row = {c: 0 for c in COLUMNS}
    row.update(iteration=i, skipped=i % 2 == 1, loss=math.nan if i % 2 else 1.0 / (i + 1),
               measured_short_window=None, t_start=float(i), t_end=i + 0.5)
    return row


def test_roundtrip_schema(tmp_path) -> None:
    writer = TraceWriter(tmp_path)
    for i in range(4):
        writer.append(_row(i))
    writer.close()
    frame = read_trace(tmp_path)
    assert list(frame.columns) == list(COLUMNS)
    assert frame["iteration"].tolist() == [0, 1, 2, 3]
    assert frame["skipped"].tolist() == [False, True, False, True]


def test_journal_survives_a_crash_before_the_parquet_rewrite(tmp_path) -> None:
    writer = TraceWriter(tmp_path)
    writer.append(_row(0))
    writer.write()
    writer.append(_row(1))
    writer.append(_row(2))  # process dies here: no close(), parquet holds one row
    with open(tmp_path / JOURNAL_FILE, "a") as f:
        f.write('{"iteration": 3, "epo')  # the line being written when it died
    assert read_trace(tmp_path)["iteration"].tolist() == [0, 1, 2]


def test_row_missing_columns_is_refused(tmp_path) -> None:
    writer = TraceWriter(tmp_path)
    with pytest.raises(TraceError, match="lacks"):
        writer.append({"iteration": 0})


def test_truncated_parquet_is_a_clear_error(tmp_path) -> None:
    writer = TraceWriter(tmp_path)
    writer.append(_row(0))
    writer.close()
    data = (tmp_path / TRACE_FILE).read_bytes()
    (tmp_path / TRACE_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(TraceError, match="unreadable Parquet"):
        read_trace(tmp_path)


def test_not_a_run_directory(tmp_path) -> None:
    with pytest.raises(TraceError, match="not a run directory"):
        read_trace(tmp_path)


def test_measured_columns_take_net_joules_where_a_baseline_was_measured_else_gross() -> None:
    import math
    from types import SimpleNamespace

    from e2train.energy.trace import measured_columns

    with_baseline = SimpleNamespace(net_energy_j=1.5, energy_err_j=0.2, gross_energy_j=4.0, gross_err_j=0.1,
                                    short_window=False)
    without = SimpleNamespace(net_energy_j=math.nan, energy_err_j=math.nan, gross_energy_j=3.0, gross_err_j=0.05,
                              short_window=True)
    columns = measured_columns([7, 8], [with_baseline, without])
    assert columns[7] == {"energy_measured_j": 1.5, "energy_measured_err_j": 0.2, "energy_measured_gross_j": 4.0,
                          "measured_short_window": False}
    assert columns[8] == {"energy_measured_j": 3.0, "energy_measured_err_j": 0.05, "energy_measured_gross_j": 3.0,
                          "measured_short_window": True}
