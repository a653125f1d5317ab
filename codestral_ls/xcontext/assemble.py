"""Prompt assembly: rank, deduplicate and trim snippets into a character budget.

Pure.  The most relevant snippet is placed last, next to the current file's header, where the
model pays it the most attention.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..snippets import FILE_MARKER, ContextFile
from .snippet import Snippet

#: A trimmed snippet shorter than this is not worth its header.
MIN_SNIPPET_CHARS = 80


def block_cost(path: str, text: str) -> int:
    """Characters the block of ``text`` under ``path`` takes in the multi-file layout."""
    return len(FILE_MARKER) + len(path) + 1 + len(text.rstrip("\n")) + 1


def trim_to(text: str, room: int) -> str:
    """The first whole lines of ``text`` that fit in ``room`` characters."""
    if len(text) <= room:
        return text
    cut = text.rfind("\n", 0, room)
    return text[: cut + 1] if cut >= 0 else ""


def assemble(
    snippets: Iterable[Snippet],
    budget: int,
    *,
    max_snippets: int = 8,
    clean: Callable[[str], str] = lambda text: text,
) -> tuple[ContextFile, ...]:
    """The snippets that fit in ``budget`` characters, best first in, best last out.

    Overlapping windows of one file and repeated texts are dropped; a snippet that does not
    fit whole is cut to its first lines (if enough is left); ``clean`` (secret redaction)
    runs on each kept text.
    """
    if budget <= 0 or max_snippets <= 0:
        return ()
    ranked = sorted(snippets, key=lambda s: (-s.score, s.path, s.start))
    kept: list[Snippet] = []
    texts: set[str] = set()
    left = budget
    for snippet in ranked:
        if len(kept) >= max_snippets or left <= 0:
            break
        text = clean(snippet.text)
        key = text.strip()
        if not key or key in texts or any(snippet.overlaps(other) for other in kept):
            continue
        cost = block_cost(snippet.path, text)
        if cost > left:
            text = trim_to(text, left - block_cost(snippet.path, ""))
            if len(text.strip()) < MIN_SNIPPET_CHARS:
                continue
            cost = block_cost(snippet.path, text)
        texts.add(key)
        left -= cost
        kept.append(
            Snippet(
                snippet.uri,
                snippet.path,
                text,
                snippet.score,
                snippet.source,
                snippet.start,
                snippet.end,
            )
        )
    kept.reverse()
    return tuple(ContextFile(s.path, s.text) for s in kept)
