"""What is recorded about suggestions: shown, typed through, accepted.

The recorder remembers the suggestions it saw recently (by id, bounded) so that an accept,
which names only the id, is attributed to the right model, endpoint and variant, and so that a
suggestion served again (from the cache while typing through it) is counted once.

A record holds only counts, sizes, timings, the language id, the model, the endpoint's host
and the trial variant (docs/stats.md lists every field); never any text or file name.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cachetools import LRUCache

#: Version of the record format.
VERSION = 1
#: Suggestions remembered for attributing accepts.
MEMORY = 1024

Sink = Callable[[dict[str, Any]], None]


def endpoint_host(endpoint: str) -> str:
    """The host (and port) of an endpoint URL: never its path, query or credentials."""
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if not host:
        return ""
    try:
        port = parts.port
    except ValueError:
        port = None
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port else host


@dataclass
class _Shown:
    model: str
    endpoint: str
    variant: str
    language: str
    chars: int
    typed_through: bool = False
    accepted: bool = False


class Recorder:
    """Turns suggestion events into records for ``sink`` (the store's ``append``)."""

    def __init__(
        self,
        sink: Sink,
        *,
        clock: Callable[[], float] = time.time,
        memory: int = MEMORY,
    ) -> None:
        self.sink = sink
        self.enabled = True
        self._clock = clock
        self._memory: LRUCache[str, _Shown] = LRUCache(maxsize=max(1, memory))

    def _write(self, event: str, shown: _Shown, **fields: Any) -> None:
        record = {
            "v": VERSION,
            "ts": round(self._clock(), 3),
            "event": event,
            "model": shown.model,
            "endpoint": endpoint_host(shown.endpoint),
            "variant": shown.variant,
            "language": shown.language,
            **fields,
        }
        self.sink(record)

    def shown(
        self,
        suggestion_id: str,
        *,
        chars: int,
        model: str,
        endpoint: str,
        variant: str,
        language: str,
        latency_ms: float,
        source: str,
        typed: int = 0,
    ) -> None:
        """A suggestion of ``chars`` characters was returned to the editor.

        The first time an id is seen, a ``shown`` record; later ones are the same answer
        served again: the first of them that is shorter than what was shown (or that covers
        ``typed`` characters typed meanwhile) is a ``typedThrough`` record, the rest nothing.
        """
        if not self.enabled or not suggestion_id or chars <= 0:
            return
        known = self._memory.get(suggestion_id)
        if known is None:
            known = _Shown(model, endpoint, variant, language, chars)
            self._memory[suggestion_id] = known
            self._write(
                "shown",
                known,
                chars=chars,
                latencyMs=round(max(0.0, latency_ms), 1),
                source=source,
            )
            if typed > 0:
                known.typed_through = True
                self._write("typedThrough", known)
            return
        if not known.typed_through and (chars < known.chars or typed > 0):
            known.typed_through = True
            self._write("typedThrough", known)

    def accepted(self, suggestion_id: str, chars: int, *, partial: bool) -> bool:
        """The editor inserted ``chars`` characters of a suggestion (all of what it showed,
        or a word or line of it when ``partial``).  False when the id is unknown (shown
        before a restart, or forgotten)."""
        known = self._memory.get(suggestion_id)
        if known is None:
            return False
        if not self.enabled:
            return True
        first = not known.accepted
        known.accepted = True
        self._write("accepted", known, chars=max(0, chars), partial=partial, first=first)
        return True
