"""The figures ``codestral-ls stats`` prints, computed from the records (pure).

Per group (model, endpoint host, trial variant):

- **shown**: suggestions returned to the editor (each answer once);
- **accepted**: suggestions accepted at least once (fully or a word/line of them);
  **acceptance rate** = accepted / shown;
- **chars accepted**: characters inserted by accepts (full and partial);
- **hours of use**: time in sessions of activity, where a session is a run of records less
  than :data:`SESSION_GAP` seconds apart, each counting from its first to its last record plus
  :data:`SESSION_FLOOR` seconds (so a single suggestion still counts as a minute of use);
  **chars per hour** = chars accepted / hours of use;
- **latency p50/p95**: of the ``shown`` records (from the request's arrival to the answer),
  nearest-rank percentiles;
- **typed through**: suggestions the person typed (part of) instead of accepting.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Records further apart than this (seconds) belong to different sessions of use.
SESSION_GAP = 300.0
#: Seconds each session counts on top of its span.
SESSION_FLOOR = 60.0

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 86400.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str) -> float:
    """Seconds in ``7d``, ``12h``, ``30m``, ``2w`` (a bare number is days); ValueError else."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 7d, 12h, 30m)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank ``q`` percentile (0 < q <= 100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def active_seconds(timestamps: Iterable[float]) -> float:
    """Time of use covered by ``timestamps`` (see the module docstring)."""
    ordered = sorted(timestamps)
    if not ordered:
        return 0.0
    total = 0.0
    start = previous = ordered[0]
    for ts in ordered[1:]:
        if ts - previous > SESSION_GAP:
            total += previous - start + SESSION_FLOOR
            start = ts
        previous = ts
    return total + previous - start + SESSION_FLOOR


@dataclass
class GroupSummary:
    """The figures of one model on one endpoint (and one trial variant)."""

    model: str
    endpoint: str
    variant: str
    shown: int = 0
    accepted: int = 0
    partial_accepts: int = 0
    chars_accepted: int = 0
    typed_through: int = 0
    latencies: list[float] = field(default_factory=list)
    timestamps: list[float] = field(default_factory=list)

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.shown if self.shown else None

    @property
    def hours(self) -> float:
        return active_seconds(self.timestamps) / 3600.0

    @property
    def chars_per_hour(self) -> float | None:
        hours = self.hours
        return self.chars_accepted / hours if hours > 0 else None

    @property
    def latency_p50(self) -> float | None:
        return percentile(self.latencies, 50)

    @property
    def latency_p95(self) -> float | None:
        return percentile(self.latencies, 95)

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "endpoint": self.endpoint,
            "variant": self.variant,
            "shown": self.shown,
            "accepted": self.accepted,
            "partialAccepts": self.partial_accepts,
            "acceptanceRate": _round(self.acceptance_rate, 4),
            "charsAccepted": self.chars_accepted,
            "hoursOfUse": round(self.hours, 3),
            "charsPerHour": _round(self.chars_per_hour, 1),
            "typedThrough": self.typed_through,
            "latencyMs": {
                "p50": _round(self.latency_p50, 1),
                "p95": _round(self.latency_p95, 1),
                "samples": len(self.latencies),
            },
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def summarise(
    records: Iterable[Mapping[str, Any]], *, since: float | None = None
) -> list[GroupSummary]:
    """The groups of ``records`` (those at or after ``since``, a Unix time), ordered by model,
    endpoint and variant.  Records of unknown shape are skipped."""
    groups: dict[tuple[str, str, str], GroupSummary] = {}
    for record in records:
        ts = _number(record.get("ts"))
        event = record.get("event")
        if ts is None or (since is not None and ts < since):
            continue
        key = (
            str(record.get("model", "")),
            str(record.get("endpoint", "")),
            str(record.get("variant", "")),
        )
        group = groups.get(key)
        if group is None:
            group = groups[key] = GroupSummary(*key)
        group.timestamps.append(ts)
        if event == "shown":
            group.shown += 1
            latency = _number(record.get("latencyMs"))
            if latency is not None:
                group.latencies.append(latency)
        elif event == "accepted":
            chars = _number(record.get("chars"))
            group.chars_accepted += int(chars) if chars and chars > 0 else 0
            if record.get("first") is True:
                group.accepted += 1
            if record.get("partial") is True:
                group.partial_accepts += 1
        elif event == "typedThrough":
            group.typed_through += 1
    return [groups[key] for key in sorted(groups)]


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def format_table(groups: list[GroupSummary]) -> str:
    """The text ``codestral-ls stats`` prints."""
    if not groups:
        return "No statistics recorded yet."
    header = (
        "model",
        "endpoint",
        "variant",
        "shown",
        "accepted",
        "rate",
        "chars",
        "chars/h",
        "hours",
        "typed-through",
        "p50 ms",
        "p95 ms",
        "latency n",
    )
    rows = [header]
    for g in groups:
        rows.append(
            (
                g.model or "?",
                g.endpoint or "?",
                g.variant or "-",
                str(g.shown),
                str(g.accepted),
                _percent(g.acceptance_rate),
                str(g.chars_accepted),
                "-" if g.chars_per_hour is None else f"{g.chars_per_hour:.0f}",
                f"{g.hours:.2f}",
                str(g.typed_through),
                _ms(g.latency_p50),
                _ms(g.latency_p95),
                str(len(g.latencies)),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def one_line(groups: list[GroupSummary]) -> str:
    """A one-line summary for the editors (the best-used group first)."""
    if not groups:
        return "Codestral: no statistics recorded yet."
    parts = []
    for g in sorted(groups, key=lambda g: -g.shown):
        name = g.variant or g.model
        parts.append(
            f"{name}: {_percent(g.acceptance_rate)} of {g.shown} accepted, "
            f"{'-' if g.chars_per_hour is None else f'{g.chars_per_hour:.0f}'} chars/h, "
            f"p50 {_ms(g.latency_p50)} ms"
        )
    return "Codestral: " + "; ".join(parts)
