"""The README's first command reaches the promised accuracy (slow tier: a minute or two)."""

from __future__ import annotations

import pytest

from e2train.config import resolve_config
from e2train.train.loop import Trainer


@pytest.mark.slow
def test_quickstart_reaches_90_percent_with_savings(tmp_path) -> None:
    cfg = resolve_config("quickstart", overrides={"out": str(tmp_path / "q")})
    summary = Trainer(cfg, tmp_path / "q").run()
    assert summary["test_accuracy"] >= 0.90
    assert summary["savings_vs_baseline8"] > 0.5 and summary["savings_vs_baseline32"] > 0.5
    assert 0.3 < summary["iterations_skipped"] / summary["iterations"] < 0.7
