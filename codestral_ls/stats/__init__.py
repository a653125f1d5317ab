"""Acceptance statistics, kept on this machine only (docs/stats.md).

- :mod:`.trial`: trial variants (which model a request goes to) and the pure picker;
- :mod:`.recorder`: suggestions shown, accepted, typed through → records (no code, no names);
- :mod:`.store`: the append-only JSON Lines file, rotated and bounded;
- :mod:`.summary`: the figures ``codestral-ls stats`` prints.

Nothing here imports LSP types; the LSP glue is :mod:`codestral_ls.features.stats`.
"""

from __future__ import annotations

from .recorder import Recorder
from .store import StatsStore
from .summary import GroupSummary, summarise
from .trial import Variant, parse_trial_entry, pick_variant

__all__ = [
    "GroupSummary",
    "Recorder",
    "StatsStore",
    "Variant",
    "parse_trial_entry",
    "pick_variant",
    "summarise",
]
