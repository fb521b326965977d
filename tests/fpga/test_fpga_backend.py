"""The RTL backend (``e2train.backends.rtl``): same results as the reference, counters filled,
argument errors before any simulation, a clear error when the simulator is missing."""

from __future__ import annotations

import numpy as np
import pytest

from e2train.backends import BackendUnavailable, get_backend
from e2train.kernels import reference as ref
from e2train.kernels import regmap
from e2train.kernels.reference import KernelArgumentError

rtl = get_backend("rtl")
SMALL_GEMM = {"KC": 64, "TMAX": 2}
SMALL_PSG = {"PC": 32}


def _gemm_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    a = rng.integers(-128, 127, (11, 70), endpoint=True).astype(np.int8)
    b = rng.integers(-32768, 32767, (70, 13), endpoint=True).astype(np.int16)
    return a, b


def _psg_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.integers(0, 255, (10, 40), endpoint=True).astype(np.uint8)
    g = rng.integers(-32768, 32767, (9, 40), endpoint=True).astype(np.int16)
    return x, g


def _check_backend(sim: str) -> None:
    rng = np.random.default_rng(17)
    a, b = _gemm_case(rng)
    got = rtl.gemm(a, b, "i8i16", sim=sim, params=SMALL_GEMM)
    want = ref.gemm(a, b, "i8i16")
    assert np.array_equal(got.c, want.c) and got.c.dtype == np.int32
    assert (got.overflows, got.macs) == (want.overflows, want.macs)
    assert set(got.counters) == {*regmap.COUNTER_NAMES, "CALLS"} and got.counters["CALLS"] == 1  # the driver's
    assert got.counters["MACS"] == want.macs and got.counters["STATUS"] == 0
    assert got.counters["BYTES_WRITTEN"] == a.shape[0] * b.shape[1] * 4

    x, g = _psg_case(rng)
    results = rtl.psg_batch(
        [(x, g, 0), (x, g, 1 << 24), (x, g, 2**64 - 1)], x_signed=False, sim=sim, params=SMALL_PSG
    )
    for tau, got_p in zip((0, 1 << 24, 2**64 - 1), results, strict=True):
        want_p = ref.psg_wgrad(x, g, tau, False)
        assert np.array_equal(got_p.signs, want_p.signs) and got_p.signs.dtype == np.int8
        assert np.array_equal(got_p.recompute_mask, want_p.recompute_mask)
        assert (got_p.recomputed, got_p.macs_predict, got_p.macs_full) == (
            want_p.recomputed,
            want_p.macs_predict,
            want_p.macs_full,
        )
        assert got_p.counters["MACS"] == want_p.macs_predict + want_p.macs_full
    assert results[0].counters["CYCLES_BUSY"] < results[2].counters["CYCLES_BUSY"]


def test_rtl_backend_icarus(require_sim) -> None:
    require_sim("icarus")
    _check_backend("icarus")


@pytest.mark.verilator
def test_rtl_backend_verilator(require_sim) -> None:
    require_sim("verilator")
    _check_backend("verilator")


@pytest.mark.parametrize(
    "call",
    [
        lambda: rtl.gemm(np.zeros((2, 3), np.int8), np.zeros((3, 2), np.uint8), "i8i8"),  # dtype
        lambda: rtl.gemm(np.zeros((2, 3), np.int8), np.zeros((4, 2), np.int8)),  # inner dims
        lambda: rtl.gemm(np.zeros((0, 3), np.int8), np.zeros((3, 2), np.int8)),  # zero dim
        lambda: rtl.gemm(np.zeros((2, 3), np.int8), np.zeros((3, 2), np.int8), "i4i4"),  # mode
        lambda: rtl.gemm(np.zeros(3, np.int8), np.zeros((3, 2), np.int8)),  # not 2-D
        lambda: rtl.psg_wgrad(np.zeros((2, 3), np.int8), np.zeros((2, 3), np.int16), -1, True),
        lambda: rtl.psg_wgrad(np.zeros((2, 3), np.int8), np.zeros((2, 3), np.int16), 2**64, True),
        lambda: rtl.psg_wgrad(np.zeros((2, 3), np.int8), np.zeros((2, 3), np.int16), 1.5, True),
        lambda: rtl.psg_wgrad(np.zeros((2, 3), np.uint8), np.zeros((2, 3), np.int16), 5, True),
        lambda: rtl.psg_wgrad(np.zeros((2, 3), np.int8), np.zeros((2, 4), np.int16), 5, True),
        lambda: rtl.psg_wgrad(np.zeros((2, 0), np.int8), np.zeros((2, 0), np.int16), 5, True),
    ],
)
def test_rtl_backend_argument_errors(call) -> None:
    """Refused in Python, before a simulator would start (these run without any simulator)."""
    with pytest.raises(KernelArgumentError):
        call()


def test_rtl_backend_missing_simulator(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no iverilog, vvp, make or g++ here
    with pytest.raises(BackendUnavailable, match="apt-get install -y iverilog"):
        rtl.gemm(np.ones((2, 2), np.int8), np.ones((2, 2), np.int8), sim="icarus")


def test_rtl_backend_memory_stalls(require_sim) -> None:
    """A stalling memory (through the drivers' path) leaves results exact and costs stall cycles."""
    require_sim("icarus")
    a, b = _gemm_case(np.random.default_rng(3))
    ideal, stalled = (rtl.gemm_batch([(a, b)], "i8i16", "icarus", params=SMALL_GEMM, stall=s)[0] for s in (0.0, 0.4))
    assert np.array_equal(stalled.c, ref.gemm(a, b, "i8i16").c)
    assert stalled.counters["CYCLES_MEM_STALL"] > ideal.counters["CYCLES_MEM_STALL"]
    assert stalled.counters["CYCLES_BUSY"] > ideal.counters["CYCLES_BUSY"]
    with pytest.raises(ValueError, match="memory_stall"):
        rtl.gemm_batch([(a, b)], "i8i16", "icarus", stall=1.0)
