"""Source 2: the regions edited lately in other files, with a few lines around them.

:class:`RecentEdits` is fed the line ranges of ``didChange`` edits; neighbouring edits in one
file merge into one region, and only the last ``limit`` regions are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..documents import Document
from .snippet import Snippet

#: Lines shown above and below an edited region.
AROUND = 3
#: Edits this close (in lines) to a kept region extend it.
MERGE_DISTANCE = 4
#: Longest region kept, in lines (a paste of a whole file is not "a recent edit").
MAX_REGION = 40


@dataclass
class Region:
    uri: str
    start: int
    end: int
    """Line after the last edited line."""


class RecentEdits:
    """The last edited regions, most recent last."""

    def __init__(self, limit: int = 12) -> None:
        self.limit = limit
        self._regions: list[Region] = []

    def record(self, uri: str, start: int, end: int) -> None:
        """Lines ``start`` to ``end`` (exclusive) of ``uri`` were just edited."""
        end = max(end, start + 1)
        for index in range(len(self._regions) - 1, -1, -1):
            region = self._regions[index]
            if region.uri != uri:
                continue
            if start <= region.end + MERGE_DISTANCE and region.start <= end + MERGE_DISTANCE:
                region.start = min(region.start, start)
                region.end = max(region.end, end)
                if region.end - region.start > MAX_REGION:
                    region.start, region.end = start, end
                del self._regions[index]
                self._regions.append(region)
                return
            break  # only the file's latest region merges
        self._regions.append(Region(uri, start, end))
        if len(self._regions) > self.limit:
            del self._regions[: len(self._regions) - self.limit]

    def forget(self, uri: str) -> None:
        self._regions = [region for region in self._regions if region.uri != uri]

    @property
    def regions(self) -> list[Region]:
        return list(self._regions)

    def snippets(
        self,
        current_uri: str,
        documents: Callable[[str], Document | None],
        relative: Callable[[str], str],
    ) -> list[Snippet]:
        """The recent regions of other open documents, newest scoring highest."""
        found: list[Snippet] = []
        for rank, region in enumerate(reversed(self._regions)):
            if region.uri == current_uri:
                continue
            document = documents(region.uri)
            if document is None or document.binary:
                continue
            count = document.line_count
            start = max(0, min(region.start, count - 1) - AROUND)
            end = min(count, region.end + AROUND)
            text = "".join(document.lines[start:end])
            if not text.strip():
                continue
            found.append(
                Snippet(
                    uri=region.uri,
                    path=relative(region.uri),
                    text=text,
                    score=0.5 * (0.85**rank),
                    source="recentEdits",
                    start=start,
                    end=end,
                )
            )
        return found


def edited_lines(changes: Iterable[tuple[int, int, str]]) -> Iterable[tuple[int, int]]:
    """The new line range of each (start line, end line, inserted text) change."""
    for start, _end, text in changes:
        yield start, start + text.count("\n") + 1
