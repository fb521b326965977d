"""The trainer's process settings for CPU runs: glibc keeps freed memory for reuse."""

from __future__ import annotations

import ctypes
import platform

import pytest

from e2train.train import compute_device


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_reuse_freed_memory_applies_on_glibc() -> None:
    assert compute_device.reuse_freed_memory()


def test_reuse_freed_memory_is_a_no_op_without_a_c_library(monkeypatch) -> None:
    def missing(*args, **kwargs):
        raise OSError("no C library here")

    monkeypatch.setattr(ctypes, "CDLL", missing)
    assert compute_device.reuse_freed_memory() is False
