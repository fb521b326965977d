"""Fixtures shared by several test folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image


@pytest.fixture
def write_imagefolder() -> Callable[..., Path]:
    """Writes a two-class image folder (train/ and test/ of 32x32 PNGs, one colour per class) under a root."""

    def write(root: Path, train_per_class: int = 3, test_per_class: int = 1) -> Path:
        for split, n in (("train", train_per_class), ("test", test_per_class)):
            for cls, color in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))):
                (root / split / cls).mkdir(parents=True)
                for i in range(n):
                    Image.new("RGB", (32, 32), color).save(root / split / cls / f"{i}.png")
        return root

    return write
