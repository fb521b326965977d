"""A problem small enough that stage-wise training of a few layers takes a second or two."""

from __future__ import annotations

from e2train.lista.config import ListaConfig


def tiny_config(**overrides: object) -> ListaConfig:
    values: dict[str, object] = {
        "m": 16, "n": 32, "layers": 3, "val_size": 128, "test_size": 128, "batch_size": 32,
        "patience_steps": 20, "max_steps": 40, "val_every": 5, "checkpoint_every": 7, "ss_p_max": 0.13,
        "ss_p_step": 0.05, "seed": 3, "methods": ("ista", "fista", "lista-cp", "lista-cpss"),
    }
    values.update(overrides)
    return ListaConfig(**values).validate()  # type: ignore[arg-type]
