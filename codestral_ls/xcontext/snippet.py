"""A candidate piece of another file, before assembly picks and trims what fits."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Snippet:
    """Text from another file, with where it comes from and how relevant it looks."""

    uri: str
    path: str
    """Workspace-relative path: the header of its block in the prompt."""
    text: str
    score: float
    """0 to 1; higher is more relevant."""
    source: str
    """Which source found it: ``openFiles``, ``recentEdits``, ``imports`` or ``embeddings``."""
    start: int = 0
    """First line (0-based) of ``text`` in the file, for deduplication."""
    end: int = 0
    """Line after the last one; ``start == end`` when not known (outlines)."""

    def overlaps(self, other: Snippet) -> bool:
        """Same file and overlapping line ranges (both known)."""
        if self.uri != other.uri or self.start == self.end or other.start == other.end:
            return False
        return self.start < other.end and other.start < self.end
