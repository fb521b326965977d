"""NVIDIA GPUs through NVML (``pynvml`` from the ``nvidia-ml-py`` package, extra ``e2train[nvml]``).

Per device: the total-energy counter (mJ since the driver loaded, Volta and newer) when supported,
else instantaneous power (mW). The counter is preferred: it integrates on the GPU at a rate no host
thread can match. NVML refreshes both roughly every 20-100 ms depending on the product; 100 ms is used
as the refresh period so that short windows are flagged rather than trusted.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

from e2train.power.base import (
    PowerSource,
    PowerSourceUnavailable,
    PowerSpecError,
    Quantity,
    RailInfo,
    SourceInfo,
)

log = logging.getLogger(__name__)

NVML_REFRESH_S = 0.1
INSTALL_HINT = "pip install 'e2train[nvml]' (nvidia-ml-py)"


def _import_pynvml() -> Any:
    if importlib.util.find_spec("pynvml") is None:
        raise PowerSourceUnavailable(f"pynvml is not installed: {INSTALL_HINT}")
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as err:
        raise PowerSourceUnavailable(
            f"NVML could not initialise ({err}): no NVIDIA driver or GPU here"
        ) from err
    return pynvml


def _probe(pynvml: Any, handle: Any) -> Quantity:
    """Energy counter if the GPU has one, else power; raises if neither is readable."""
    try:
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        return Quantity.ENERGY
    except pynvml.NVMLError:
        pass
    try:
        pynvml.nvmlDeviceGetPowerUsage(handle)
        return Quantity.POWER
    except pynvml.NVMLError as err:
        raise PowerSourceUnavailable(f"NVML reports neither energy nor power for this GPU: {err}") from err


class NvmlSource(PowerSource):
    """One rail per selected GPU index (``nvml:0,1``; ``nvml`` = all)."""

    kind = "nvml"

    def __init__(self, rails: tuple[str, ...] = ()) -> None:
        self._nvml = _import_pynvml()
        count = self._nvml.nvmlDeviceGetCount()
        try:
            indices = [int(r) for r in rails] if rails else list(range(count))
        except ValueError as err:
            raise PowerSpecError(f"nvml rails are GPU indices (nvml:0,1), got {rails}") from err
        bad = [i for i in indices if not 0 <= i < count]
        if bad:
            raise PowerSpecError(f"nvml: no GPU {bad}; this machine has {count} (indices 0..{count - 1})")
        if not indices:
            raise PowerSourceUnavailable("NVML found no GPU")
        self._handles = [self._nvml.nvmlDeviceGetHandleByIndex(i) for i in indices]
        self._quantities = [_probe(self._nvml, h) for h in self._handles]
        infos = tuple(
            RailInfo(
                f"gpu{i}",
                q,
                1e-3,  # 1 mJ or 1 mW: the API's integer unit
                NVML_REFRESH_S,
                note="total energy counter (mJ)" if q is Quantity.ENERGY else "power usage (mW)",
            )
            for i, q in zip(indices, self._quantities, strict=True)
        )
        super().__init__(f"nvml:{','.join(map(str, indices))}", infos)

    def _read_values(self) -> tuple[float, ...]:
        out = []
        for handle, quantity in zip(self._handles, self._quantities, strict=True):
            if quantity is Quantity.ENERGY:
                out.append(self._nvml.nvmlDeviceGetTotalEnergyConsumption(handle) * 1e-3)  # mJ -> J
            else:
                out.append(self._nvml.nvmlDeviceGetPowerUsage(handle) * 1e-3)  # mW -> W
        return tuple(out)

    def close(self) -> None:
        if getattr(self, "_handles", None):
            self._handles = []
            try:
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError as err:  # already shut down elsewhere: nothing to release
                log.debug("nvmlShutdown: %s", err)


def describe_nvml() -> list[SourceInfo]:
    try:
        source = NvmlSource()
    except PowerSourceUnavailable as err:
        return [SourceInfo("nvml", "nvml", False, str(err))]
    with source:
        return [SourceInfo("nvml", f"nvml:{r.name[3:]}", True, r.note, (r,)) for r in source.rails]
