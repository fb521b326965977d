"""Fixtures for the HLS C-simulation tests: the csim kernels at default and at tiny tile sizes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from e2train.backends import csim

HLS_DIR = Path(__file__).resolve().parents[2] / "hls"

# Tiny, mutually prime tiles: every test shape then ends on a partial tile and most rows start in
# the middle of a 64-bit word, which is where tiling and unpacking bugs live.
TINY_TILES = csim.TileSizes(gemm_tm=3, gemm_tn=5, gemm_tk=7, psg_tn=3, psg_tk=5, psg_tp=7)


def _require_compiler() -> None:
    if shutil.which("g++") is None:
        pytest.skip("g++ not found (apt-get install g++): the csim backend cannot be built")


@pytest.fixture(scope="session")
def default_kernels() -> csim.CsimKernels:
    """Kernels built with the tile sizes of hls/include/e2train_kernels.h."""
    _require_compiler()
    csim.load_library(None)
    return csim.CsimKernels()


@pytest.fixture(scope="session")
def tiny_kernels() -> csim.CsimKernels:
    """Kernels built with TINY_TILES."""
    _require_compiler()
    csim.load_library(TINY_TILES)
    return csim.CsimKernels(TINY_TILES)


@pytest.fixture(scope="session", params=["default_tiles", "tiny_tiles"])
def kernels(request: pytest.FixtureRequest) -> csim.CsimKernels:
    """Each test that takes this fixture runs against both builds."""
    name = "default_kernels" if request.param == "default_tiles" else "tiny_kernels"
    return request.getfixturevalue(name)
