"""The step-time benchmark: SMD's luck taken out of the mean, and one small run end to end."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from e2train.bench import step_time


def test_an_smd_mean_is_the_expectation_at_the_drop_probability() -> None:
    """Three of four measured steps dropped by chance: the mean still weighs executed steps by 1 - p."""
    steps = [(1.0, False), (0.0, True), (0.0, True), (0.0, True)]
    assert step_time.expected_step(steps, 0.5) == pytest.approx(0.5)  # the plain mean would say 0.25
    assert step_time.expected_step(steps, 0.0) == pytest.approx(0.25)
    assert step_time.expected_step([(2.0, False), (4.0, False)], 0.5) == pytest.approx(3.0)  # none dropped


@pytest.fixture
def keep_torch_threads():
    """--threads sets torch's process-wide thread count: later tests (training compared bit for bit with a
    run in another process) must not inherit it."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_a_small_run_writes_the_tables(tmp_path, write_imagefolder, keep_torch_threads) -> None:
    data = write_imagefolder(tmp_path / "imgs", train_per_class=8)
    result = CliRunner().invoke(step_time.main, [
        "--data-dir", str(data), "--steps", "2", "--warmup", "1", "--rounds", "1", "--batch-size", "4",
        "--threads", "1", "--variant", "SMD + SLU + PSG (8-bit)", "--variant", "8-bit + PSG, torch path",
        "--results", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "out" / "step_time.csv").set_index("variant")
    assert set(table.index) == {"plain PyTorch fp32", "plain PyTorch fp32, channels-last", "SMD + SLU + PSG (8-bit)",
                                "8-bit + PSG, torch path"}
    assert table.loc["plain PyTorch fp32", "ratio_to_plain_fp32"] == pytest.approx(1.0)
    assert (table["steps"] == 2).all()
    assert "--variant 'SMD + SLU + PSG (8-bit)'" in (tmp_path / "out" / "step_time.md").read_text()
