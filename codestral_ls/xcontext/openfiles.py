"""Source 1: the windows of open files most similar to the lines before the cursor.

Each open document's windows (about 40 lines, every 20 lines) and their token sets are computed
once per version of the document and kept; typing in one file re-tokenises only its edited
line (the query), so a keystroke costs the same however many files are open.  At most
``MAX_FILES`` documents, most recently used first, are compared.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..documents import Document
from .snippet import Snippet
from .tokens import jaccard, line_tokens, tokens_of, windows

WINDOW_LINES = 40
WINDOW_STEP = 20
#: Lines before the cursor that make the query.
QUERY_LINES = 20
#: Documents compared per request (the most recently used).
MAX_FILES = 24
#: Windows below this similarity are noise.
MIN_SCORE = 0.05
#: Windows kept per file (the best ones, not overlapping).
PER_FILE = 2


@dataclass
class _Windows:
    key: tuple[int | None, int, int]
    windows: list[tuple[int, int, frozenset[str]]]


class OpenFiles:
    """Window token sets per open document, kept until the document changes."""

    def __init__(self) -> None:
        self._cache: dict[str, _Windows] = {}
        #: The last answer, reused while the query and the candidate documents are the same
        #: (typing a word on one line changes neither).
        self._last: tuple[object, list[Snippet]] | None = None

    def forget(self, uri: str) -> None:
        self._cache.pop(uri, None)

    def windows_of(self, document: Document) -> list[tuple[int, int, frozenset[str]]]:
        key = (document.version, document.size, document.line_count)
        cached = self._cache.get(document.uri)
        if cached is None or cached.key != key:
            cached = _Windows(key, windows(document.lines, WINDOW_LINES, WINDOW_STEP))
            self._cache[document.uri] = cached
        return cached.windows

    def snippets(
        self,
        query: frozenset[str],
        current: Document,
        documents: Iterable[Document],
        relative: Callable[[str], str],
        limit: int = 8,
    ) -> list[Snippet]:
        """The ``limit`` best windows of ``documents`` (same language first) for ``query``."""
        if not query:
            return []
        same: list[Document] = []
        other: list[Document] = []
        for document in documents:
            if document.uri == current.uri or document.binary:
                continue
            (same if document.language_id == current.language_id else other).append(document)
        candidates = (same + other)[:MAX_FILES]
        key = (
            query,
            current.language_id,
            limit,
            tuple((d.uri, d.version, d.size) for d in candidates),
        )
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        found: list[tuple[float, int, int, Document]] = []
        for document in candidates:
            boost = 1.0 if document.language_id == current.language_id else 0.8
            scored = sorted(
                (
                    (jaccard(query, tokens), start, end)
                    for start, end, tokens in self.windows_of(document)
                ),
                reverse=True,
            )
            kept: list[tuple[int, int]] = []
            for score, start, end in scored:
                if score < MIN_SCORE or len(kept) >= PER_FILE:
                    break
                if any(start < e and s < end for s, e in kept):
                    continue
                kept.append((start, end))
                # Similarities run low (0.05-0.4): lifted to rank with recent edits and imports.
                found.append((min(1.0, (0.3 + score) * boost), start, end, document))
        found.sort(key=lambda item: -item[0])
        result = [
            Snippet(
                uri=document.uri,
                path=relative(document.uri),
                text="".join(document.lines[start:end]),
                score=score,
                source="openFiles",
                start=start,
                end=end,
            )
            for score, start, end, document in found[:limit]
        ]
        self._last = (key, result)
        return result


_PARTIAL_WORD = re.compile(r"[A-Za-z0-9_$]*$")


def query_tokens(lines: Sequence[str], line: int, before: str) -> frozenset[str]:
    """Tokens of the ``QUERY_LINES`` lines above the cursor and its line up to the cursor,
    without the word being typed (so the query holds still while a word is typed)."""
    head = _PARTIAL_WORD.sub("", before)
    return tokens_of(lines[max(0, line - QUERY_LINES) : line]) | line_tokens(head)
