"""The tiny LISTA problem as a fixture (``lista_tiny.tiny_config`` for variants)."""

from __future__ import annotations

import pytest
from lista_tiny import tiny_config

from e2train.lista.config import ListaConfig


@pytest.fixture
def tiny() -> ListaConfig:
    return tiny_config()
