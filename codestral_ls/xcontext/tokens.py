"""Identifier tokens of code lines and the Jaccard similarity of token sets.

Pure functions.  A line's token set is cached by the line's text, so between two keystrokes
only the edited line is tokenised again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")

#: Words of most languages' syntax: they say nothing about what a window is about.
STOPWORDS = frozenset(
    """
    and as assert async await break case catch class const continue def default del delete do
    elif else enum except export extends false final finally for from func function go if
    implements import in interface is let new nil none not null of or package pass private
    protected public raise return self static struct super switch this throw true try type
    typeof undefined var void while with yield int str bool float string number any
    """.split()  # noqa: SIM905 (a word list reads better as text)
)


@lru_cache(maxsize=65_536)
def line_tokens(line: str) -> frozenset[str]:
    """The identifiers of ``line`` (two characters or more, minus syntax words)."""
    return frozenset(
        word
        for word in _IDENTIFIER.findall(line)
        if len(word) > 1 and word.lower() not in STOPWORDS
    )


def tokens_of(lines: Iterable[str]) -> frozenset[str]:
    """The union of the token sets of ``lines``."""
    result: set[str] = set()
    for line in lines:
        result.update(line_tokens(line))
    return frozenset(result)


def jaccard(a: frozenset[str] | set[str], b: frozenset[str] | set[str]) -> float:
    """``|a & b| / |a | b|`` (0 for two empty sets)."""
    if not a or not b:
        return 0.0
    common = len(a & b) if len(a) < len(b) else len(b & a)
    return common / (len(a) + len(b) - common)


def windows(lines: Sequence[str], size: int, step: int) -> list[tuple[int, int, frozenset[str]]]:
    """Sliding windows of ``size`` lines every ``step`` lines: (start, end, tokens).

    Each window's set is the union of its lines' cached sets; a short file is one window.
    """
    count = len(lines)
    result = []
    start = 0
    while True:
        end = min(count, start + size)
        tokens = tokens_of(lines[start:end])
        if tokens:
            result.append((start, end, tokens))
        if end >= count:
            break
        start += step
    return result
