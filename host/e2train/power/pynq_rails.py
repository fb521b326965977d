"""Board rails through PYNQ's libsensors wrapper (``pynq.get_rails()``), extra ``e2train[pynq]``.

Why guarded so carefully: PYNQ's ``Sensor.value`` returns 0 when libsensors failed to load, and
``get_rails()`` returns ``{}`` on a machine without sensors (every x86 host, Kria-PYNQ). Both must become
"unavailable because ...", never a silent zero.

Resolution and refresh: PMBus regulators report in coarse steps (1/8 W on most ZCU104 PMIC rails,
1/32 W on Ultra96) and a read can take 12-100 ms. Defaults are the conservative 1/8 W and 35 ms; pass
``resolution_w``/``refresh_s`` for a board whose figures you know.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

from e2train.power.base import (
    PowerSource,
    PowerSourceUnavailable,
    Quantity,
    RailInfo,
    SourceInfo,
    select_rails,
)

log = logging.getLogger(__name__)

PMBUS_RESOLUTION_W = 0.125
PMBUS_REFRESH_S = 0.035
INSTALL_HINT = "pip install 'e2train[pynq]' (pynq and pandas in one resolver run)"
NO_RAILS_REASON = (
    "pynq.get_rails() returned no rails (libsensors could not initialise, or no sensors config for this "
    "board; PYNQ ships one for ZCU104 only): on ZCU102/Kria use the hwmon source instead"
)


def _get_rails() -> dict[str, Any]:
    if importlib.util.find_spec("pynq") is None:
        raise PowerSourceUnavailable(f"pynq is not installed: {INSTALL_HINT}")
    try:
        from pynq import get_rails
    except Exception as err:  # pynq's import runs board probes; any failure means "no PYNQ here"
        raise PowerSourceUnavailable(f"importing pynq failed: {err}") from err
    try:
        rails = get_rails()
    except Exception as err:
        raise PowerSourceUnavailable(f"pynq.get_rails() failed: {err}") from err
    if not rails:
        raise PowerSourceUnavailable(NO_RAILS_REASON)
    return dict(rails)


def _reader(rail: Any) -> tuple[str, tuple[Any, ...]] | None:
    """A rail is read from its power sensor, else from voltage x current; None when neither exists."""
    if getattr(rail, "power", None) is not None:
        return "power", (rail.power,)
    if getattr(rail, "voltage", None) is not None and getattr(rail, "current", None) is not None:
        return "vxi", (rail.voltage, rail.current)
    return None


class PynqSource(PowerSource):
    """Rails by PYNQ label (``pynq:INT,12V``); all rails with a power reading when none are named."""

    kind = "pynq"

    def __init__(
        self,
        rails: tuple[str, ...] = (),
        resolution_w: float = PMBUS_RESOLUTION_W,
        refresh_s: float = PMBUS_REFRESH_S,
    ) -> None:
        board_rails = _get_rails()
        readers = {name: r for name, rail in board_rails.items() if (r := _reader(rail)) is not None}
        available = {
            name: RailInfo(name, Quantity.POWER, resolution_w, refresh_s, note=f"pynq {method} sensor")
            for name, (method, _) in readers.items()
        }
        selected = select_rails(available, rails, "pynq")
        self._readers = [readers[r.name] for r in selected]
        super().__init__(f"pynq:{','.join(r.name for r in selected)}", selected)
        first = self._read_values()
        if all(v == 0.0 for v in first):
            # PYNQ's Sensor.value returns 0 when libsensors is missing: refuse rather than record zeros.
            raise PowerSourceUnavailable(
                f"every selected PYNQ rail reads exactly 0 W ({', '.join(self.rail_names)}): libsensors is "
                f"probably not loaded; check `sensors` on the board"
            )

    def _read_values(self) -> tuple[float, ...]:
        out = []
        for method, sensors in self._readers:
            if method == "power":
                out.append(float(sensors[0].value))
            else:
                out.append(float(sensors[0].value) * float(sensors[1].value))
        return tuple(out)


def describe_pynq() -> list[SourceInfo]:
    try:
        rails = _get_rails()
    except PowerSourceUnavailable as err:
        return [SourceInfo("pynq", "pynq", False, str(err))]
    infos = []
    for name, rail in rails.items():
        reader = _reader(rail)
        if reader is None:
            infos.append(
                SourceInfo("pynq", f"pynq:{name}", False, "rail has no power or voltage+current sensor")
            )
            continue
        info = RailInfo(
            name, Quantity.POWER, PMBUS_RESOLUTION_W, PMBUS_REFRESH_S, note=f"pynq {reader[0]} sensor"
        )
        infos.append(SourceInfo("pynq", f"pynq:{name}", True, info.note, (info,)))
    return infos
