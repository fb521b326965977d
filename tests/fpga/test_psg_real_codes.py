"""The real-codes psg_wgrad bench: captured operands reproduce the trainer's PSG decisions."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from e2train.kernels import reference

BENCH = Path(__file__).resolve().parents[2] / "fpga" / "bench" / "psg_real_codes.py"


def _bench():
    spec = importlib.util.spec_from_file_location("psg_real_codes", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_captured_codes_reproduce_the_trainers_decisions(tmp_path: Path) -> None:
    bench = _bench()
    note, calls = bench.capture(2, 4, tmp_path / "run", data=tmp_path / "missing.tar.gz")  # digits, ResNet-8
    assert note.startswith("FALLBACK")
    assert len(calls) == 3
    for name, call in calls:
        block = bench.prepare(name, call, rows=8, work=10**9)  # raises when TAU or decisions differ
        x, g = block["x"], block["g"]
        assert x.dtype == np.uint8 and g.dtype == np.int16
        assert x.shape == (block["k_layer"], block["p"]) and g.shape[1] == block["p"]
        assert block["p"] == 4 * call["grad_out"].shape[2] * call["grad_out"].shape[3]
        full = reference.psg_wgrad(x, g, bench.TAU_ALL, False)
        assert full.recomputed == x.shape[0] * g.shape[0]
        assert [t for _, t in block["taus"]][0] == 0 and block["taus"][-1][1] == bench.TAU_ALL
