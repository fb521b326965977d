"""Fake sysfs trees in the real formats (integers as text with a trailing newline, as the kernel writes):
for tests and for benchmarks of the hwmon and RAPL readers on machines without those sensors."""

from __future__ import annotations

from pathlib import Path


def write_device(root: Path, index: int, name: str, files: dict[str, int | str]) -> Path:
    """Create ``root/hwmon<index>`` with a ``name`` file and the given attribute files."""
    dev = root / f"hwmon{index}"
    dev.mkdir(parents=True, exist_ok=True)
    (dev / "name").write_text(f"{name}\n")
    for fname, value in files.items():
        (dev / fname).write_text(f"{value}\n")
    return dev


def write_rapl_zone(root: Path, zone: str, name: str, energy_uj: int, max_uj: int = 262143328850) -> Path:
    z = root / zone
    z.mkdir(parents=True, exist_ok=True)
    (z / "name").write_text(f"{name}\n")
    (z / "energy_uj").write_text(f"{energy_uj}\n")
    (z / "max_energy_range_uj").write_text(f"{max_uj}\n")
    (z / "enabled").write_text("1\n")
    return z
