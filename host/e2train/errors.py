"""The root of every error a user can cause or fix (a wrong value, a missing file or tool, a busy
folder): the CLI prints these as one line and exits 2; anything else is a bug and keeps its
traceback.  Each error class also keeps the built-in base that describes its kind (ValueError,
RuntimeError, ...), so callers that catch those still work."""

from __future__ import annotations


class E2TrainError(Exception):
    """A problem with the input or the environment, explained in its message."""
