"""Open a power source from a spec string, and list what this machine has (and why not the rest).

Spec grammar: ``SOURCE[:RAIL,...]``, e.g. ``hwmon:ina226_u79``, ``rapl``, ``nvml:0``, ``pynq:INT,12V``,
``simulated``. Only the first ':' separates the source from its rails, so RAPL zone ids
(``rapl:intel-rapl:0``) work as rail names.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from e2train.power.base import PowerSource, PowerSpecError, SourceInfo

log = logging.getLogger(__name__)

SOURCE_KINDS = ("simulated", "pynq", "hwmon", "rapl", "nvml")
_ALIASES = {"sim": "simulated", "replay": "simulated", "ina": "hwmon", "powercap": "rapl"}


def parse_spec(spec: str) -> tuple[str, tuple[str, ...]]:
    """``"pynq:INT,12V"`` -> ``("pynq", ("INT", "12V"))``; raises ``PowerSpecError`` naming the choices."""
    if not isinstance(spec, str) or not spec.strip():
        raise PowerSpecError(
            f"empty power source spec; use SOURCE[:RAIL,...] with SOURCE in {', '.join(SOURCE_KINDS)}"
        )
    kind, _, rest = spec.strip().partition(":")
    kind = _ALIASES.get(kind.lower(), kind.lower())
    if kind not in SOURCE_KINDS:
        raise PowerSpecError(
            f"unknown power source {kind!r} in {spec!r}; choose one of {', '.join(SOURCE_KINDS)}"
        )
    rails = tuple(r.strip() for r in rest.split(",") if r.strip())
    return kind, rails


def _open_simulated(rails: tuple[str, ...], **options: Any) -> PowerSource:
    from e2train.power.simulated import SimulatedSource, default_signals

    options.setdefault("resolution", 1e-3)
    return SimulatedSource(default_signals(rails), **options)


def _open_pynq(rails: tuple[str, ...], **options: Any) -> PowerSource:
    from e2train.power.pynq_rails import PynqSource

    return PynqSource(rails, **options)


def _open_hwmon(rails: tuple[str, ...], **options: Any) -> PowerSource:
    from e2train.power.hwmon import HwmonSource

    return HwmonSource(rails, **options)


def _open_rapl(rails: tuple[str, ...], **options: Any) -> PowerSource:
    from e2train.power.rapl import RaplSource

    return RaplSource(rails, **options)


def _open_nvml(rails: tuple[str, ...], **options: Any) -> PowerSource:
    from e2train.power.nvml import NvmlSource

    return NvmlSource(rails, **options)


_OPENERS: dict[str, Callable[..., PowerSource]] = {
    "simulated": _open_simulated,
    "pynq": _open_pynq,
    "hwmon": _open_hwmon,
    "rapl": _open_rapl,
    "nvml": _open_nvml,
}


def open_power_source(spec: str, **options: Any) -> PowerSource:
    """Open the source a spec names. ``options`` go to the source's constructor (e.g. ``root=`` for
    hwmon/rapl test trees, ``resolution_w=``/``refresh_s=`` for boards whose sensors you know).

    Raises ``PowerSourceUnavailable`` with the reason (and the fix) when the source cannot work here, and
    ``PowerSpecError`` for an unknown source or rail.
    """
    kind, rails = parse_spec(spec)
    source = _OPENERS[kind](rails, **options)
    log.info("opened power source %s", source)
    return source


def list_power_sources(
    hwmon_root: Path | str | None = None, powercap_root: Path | str | None = None
) -> list[SourceInfo]:
    """Every source kind with its rails, or why it is unavailable here. Never raises for a missing source."""
    from e2train.power.hwmon import DEFAULT_HWMON_ROOT, describe_hwmon
    from e2train.power.nvml import describe_nvml
    from e2train.power.pynq_rails import describe_pynq
    from e2train.power.rapl import DEFAULT_POWERCAP_ROOT, describe_rapl

    sim = open_power_source("simulated")
    probes: list[tuple[str, Callable[[], list[SourceInfo]]]] = [
        (
            "simulated",
            lambda: [SourceInfo("simulated", "simulated", True, "synthetic demo signals", sim.rails)],
        ),
        ("pynq", describe_pynq),
        ("hwmon", lambda: describe_hwmon(hwmon_root or DEFAULT_HWMON_ROOT)),
        ("rapl", lambda: describe_rapl(powercap_root or DEFAULT_POWERCAP_ROOT)),
        ("nvml", describe_nvml),
    ]
    infos: list[SourceInfo] = []
    for kind, probe in probes:
        try:
            infos.extend(probe())
        except Exception as err:  # a probe must never hide the other sources
            log.warning("probing %s failed", kind, exc_info=True)
            infos.append(SourceInfo(kind, kind, False, f"probe failed: {type(err).__name__}: {err}"))
    return infos
