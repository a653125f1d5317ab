"""LSP features.  Each module has a ``register(ls)`` that installs its handlers."""

from __future__ import annotations

from . import code_actions, completion, context, lifecycle, models, stats

ALL_FEATURES = (lifecycle, context, completion, models, code_actions, stats)

__all__ = ["ALL_FEATURES"]
