"""LSP features.  Each module has a ``register(ls)`` that installs its handlers."""

from __future__ import annotations

from . import completion, lifecycle

ALL_FEATURES = (lifecycle, completion)

__all__ = ["ALL_FEATURES"]
