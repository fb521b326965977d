"""A local Ray instance shared by the sweep tests of a module (starting one costs seconds)."""

from __future__ import annotations

import pytest


@pytest.fixture
def tiny() -> dict:
    """Base options of a trial that trains in about a second."""
    return {"preset": "quickstart", "model": "resnet8", "iters": 4, "batch_size": 16}


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
