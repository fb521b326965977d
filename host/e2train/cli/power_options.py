"""The sysfs roots a power source can be pointed at (a fake tree in tests, a chroot, a container):
the same flags on ``e2train power`` and ``e2train train``."""

from __future__ import annotations

from collections.abc import Callable

import click


def source_options(hwmon_root: str | None, powercap_root: str | None, spec: str) -> dict[str, object]:
    """Root overrides only reach the sources that understand them."""
    kind = spec.split(":", 1)[0].lower()
    if kind == "hwmon" and hwmon_root:
        return {"root": hwmon_root}
    if kind in ("rapl", "powercap") and powercap_root:
        return {"root": powercap_root}
    return {}


ROOT_OPTIONS = [
    click.option(
        "--hwmon-root", type=click.Path(file_okay=False), default=None, help="hwmon sysfs root (tests)."
    ),
    click.option(
        "--powercap-root", type=click.Path(file_okay=False), default=None, help="powercap sysfs root (tests)."
    ),
]


def with_roots(f: Callable[..., None]) -> Callable[..., None]:
    for opt in reversed(ROOT_OPTIONS):
        f = opt(f)
    return f
