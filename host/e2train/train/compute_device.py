"""The torch device a run computes on, checked against this machine before anything is loaded."""

from __future__ import annotations

import torch

from e2train.config import ConfigError

SUPPORTED_TYPES = ("cpu", "cuda")


def torch_device(name: str) -> torch.device:
    """``--device`` as a ``torch.device``; a device this machine lacks is a ConfigError naming the fix,
    not a CUDA traceback from the first tensor moved there."""
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as err:
        raise ConfigError(f"device={name!r} is not a torch device ({err}); use cpu, cuda or cuda:N") from err
    if device.type not in SUPPORTED_TYPES:
        raise ConfigError(f"device={name!r}: runs compute on {' or '.join(SUPPORTED_TYPES)}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device={name!r}: this torch ({torch.__version__}) sees no CUDA GPU; "
                              "use --device cpu, or install a CUDA build of torch on a machine with a GPU")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device={name!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                              f"numbered from 0")
    return device
