"""Device memory of the non-board devices: allocator, PynqBuffer-like views, cache maintenance."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from e2train.device import DeviceMemoryError
from e2train.device.memory import ALLOC_ALIGN, DEFAULT_BASE, Allocator, ArrayMemory


def test_allocator_aligns_reuses_and_coalesces() -> None:
    alloc = Allocator(0x1000, 1024, align=64)
    a, b, c = alloc.alloc(10), alloc.alloc(64), alloc.alloc(65)
    assert (a, b, c) == (0x1000, 0x1040, 0x1080)
    alloc.free(b)
    assert alloc.alloc(60) == b  # first fit reuses the hole
    alloc.free(a)
    alloc.free(b)
    alloc.free(c)
    assert alloc.largest_free == 1024  # everything coalesced again
    with pytest.raises(DeviceMemoryError, match="exhausted"):
        alloc.alloc(2048)
    with pytest.raises(DeviceMemoryError, match="not an allocated block"):
        alloc.free(0x1000)


def test_views_keep_their_device_address() -> None:
    mem = ArrayMemory(1 << 16)
    buf: Any = mem.allocate((100,), np.uint8)
    assert buf.device_address == DEFAULT_BASE and buf.device_address % ALLOC_ALIGN == 0
    assert buf[8:].device_address == DEFAULT_BASE + 8
    view = buf[:24].view(np.int32).reshape(2, 3)
    assert view.device_address == DEFAULT_BASE and view.shape == (2, 3)
    assert view[1].device_address == DEFAULT_BASE + 12
    assert (buf + 1).device_address is None  # arithmetic results are not device memory


def test_flush_and_invalidate_copy_only_the_view() -> None:
    mem = ArrayMemory(1 << 16)
    buf: Any = mem.allocate((16,), np.uint8)
    buf[:] = 7
    buf[4:8].flush()
    np.testing.assert_array_equal(mem.device_read(buf.device_address, 16), [0] * 4 + [7] * 4 + [0] * 8)
    mem.device_write(buf.device_address, np.arange(16, dtype=np.uint8))
    buf[::4].invalidate()  # strided: the span it covers is refreshed
    assert buf[0] == 0 and buf[12] == 12


def test_freebuffer_returns_memory_and_views_cannot_free() -> None:
    mem = ArrayMemory(4096)
    buf: Any = mem.allocate((4096,), np.uint8)
    with pytest.raises(DeviceMemoryError):
        mem.allocate((1,), np.uint8)
    buf[:10].freebuffer()  # a view: no effect
    with pytest.raises(DeviceMemoryError):
        mem.allocate((1,), np.uint8)
    buf.freebuffer()
    assert mem.allocate((4096,), np.uint8).device_address == DEFAULT_BASE


def test_device_access_outside_memory_is_refused() -> None:
    mem = ArrayMemory(4096)
    with pytest.raises(DeviceMemoryError, match="outside device memory"):
        mem.device_read(DEFAULT_BASE + 4000, 200)
