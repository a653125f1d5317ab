"""Line breaks, in one place: what counts as one, splitting on them, which one a text uses."""

from __future__ import annotations

import re
from collections.abc import Iterable

#: A line break as LSP counts them: ``\r\n``, ``\r`` or ``\n``.
LINE_BREAK = re.compile(r"\r\n|\r|\n")


def split_text(text: str) -> list[str]:
    """The lines of ``text`` without their breaks (at least one, possibly empty)."""
    return LINE_BREAK.split(text)


def detect_eol(texts: Iterable[str], prefer: str = "") -> str:
    """The line break a document uses, from pieces of it (``texts``: lines or larger parts).

    ``"\\r\\n"`` when any piece has one; else the break that ends ``prefer`` (usually the line
    being edited); else the first break found; else ``"\\n"``.
    """
    pieces = list(texts)
    if any("\r\n" in piece for piece in pieces):
        return "\r\n"
    for piece in (prefer, *pieces):
        found = LINE_BREAK.search(piece)
        if found is not None:
            return found.group()
    return "\n"
