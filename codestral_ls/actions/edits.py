"""From the model's code to minimal edits: indentation, line endings, a line diff.

Pure: positions are :class:`~codestral_ls.documents.Cursor` (line, code-point column); the
feature converts them to client units with the document.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..documents import Cursor

__all__ = [
    "Hunk",
    "detect_eol",
    "fit_answer",
    "is_fence",
    "keeps_code",
    "line_hunks",
    "rebase_indent",
    "split_answer",
]

_BREAK = re.compile(r"\r\n|\r|\n")
_FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


@dataclass(frozen=True)
class Hunk:
    """Replace the text from ``start`` to ``end`` with ``text``."""

    start: Cursor
    end: Cursor
    text: str


def split_answer(text: str) -> list[str]:
    """Lines of the model's text, on any line break."""
    return _BREAK.split(text)


def detect_eol(lines: Sequence[str], prefer: int = 0) -> str:
    """The line break the document uses: that of line ``prefer`` if it has one, else the first
    one found, else ``"\\n"``.  ``lines`` keep their terminators."""
    candidates = [lines[prefer]] if 0 <= prefer < len(lines) else []
    candidates.extend(lines)
    for line in candidates:
        if line.endswith("\r\n"):
            return "\r\n"
        if line.endswith("\n"):
            return "\n"
        if line.endswith("\r"):
            return "\r"
    return "\n"


def is_fence(line: str) -> bool:
    """Whether ``line`` is a Markdown code fence."""
    return _FENCE_LINE.match(line) is not None


def _leading(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _common_indent(lines: Sequence[str]) -> str:
    indents = [_leading(line) for line in lines if line.strip()]
    if not indents:
        return ""
    common = indents[0]
    for indent in indents[1:]:
        size = 0
        while size < min(len(common), len(indent)) and common[size] == indent[size]:
            size += 1
        common = common[:size]
    return common


def rebase_indent(new: Sequence[str], original: Sequence[str]) -> list[str]:
    """``new`` moved so its common indentation is that of ``original``.

    Models often answer with the code dedented (or indented differently); the relative
    indentation inside the answer is kept, only the base changes.  Blank lines become empty.
    """
    target = _common_indent(original)
    current = _common_indent(new)
    if current == target:
        return [line if line.strip() else "" for line in new]
    return [target + line[len(current) :] if line.strip() else "" for line in new]


def _trim_blank_edges(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def fit_answer(code: str, original: Sequence[str], *, rebase: bool = True) -> list[str]:
    """The model's code as lines ready to replace ``original`` (line contents, no breaks).

    Blank lines around the answer are dropped and the original's own leading and trailing
    blank lines put back; trailing whitespace is removed; the indentation is re-based on the
    original's (unless ``rebase`` is false); stray fence lines at the edges are dropped.
    Returns ``[]`` when the answer holds no code.
    """
    lines = [line.rstrip() for line in split_answer(code)]
    lines = _trim_blank_edges(lines)
    while lines and is_fence(lines[0]):
        lines = _trim_blank_edges(lines[1:])
    while lines and is_fence(lines[-1]):
        lines = _trim_blank_edges(lines[:-1])
    if not lines:
        return []
    if rebase:
        lines = rebase_indent(lines, original)
    lead = 0
    while lead < len(original) and not original[lead].strip():
        lead += 1
    if lead == len(original):
        return lines
    trail = 0
    while not original[len(original) - 1 - trail].strip():
        trail += 1
    return [""] * lead + lines + [""] * trail


def line_hunks(
    old: Sequence[str],
    new: Sequence[str],
    first_line: int,
    eol: str,
    *,
    ends_document: bool,
) -> list[Hunk]:
    """Minimal edits turning lines ``old`` (starting at document line ``first_line``) into
    ``new``: one hunk per changed run of lines, found with :mod:`difflib`.

    ``old`` and ``new`` are line contents without breaks; inserted lines end with ``eol``.
    ``ends_document`` says that the last old line is the document's last line and so has no
    line break after it: hunks touching it are expressed without one.
    """
    matcher = difflib.SequenceMatcher(None, list(old), list(new), autojunk=False)
    hunks: list[Hunk] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        inserted = list(new[j1:j2])
        if not ends_document or i2 < len(old):
            hunks.append(
                Hunk(
                    Cursor(first_line + i1, 0),
                    Cursor(first_line + i2, 0),
                    "".join(line + eol for line in inserted),
                )
            )
            continue
        # The hunk reaches the document's last line, which has no line break after it.
        end = Cursor(first_line + len(old) - 1, len(old[-1]))
        if inserted and i1 < i2:
            hunks.append(Hunk(Cursor(first_line + i1, 0), end, eol.join(inserted)))
        elif inserted:  # appended after the last line
            hunks.append(Hunk(end, end, "".join(eol + line for line in inserted)))
        elif i1 > 0:  # the last lines deleted: the break before them goes too
            start = Cursor(first_line + i1 - 1, len(old[i1 - 1]))
            hunks.append(Hunk(start, end, ""))
        else:  # everything deleted
            hunks.append(Hunk(Cursor(first_line, 0), end, ""))
    return hunks


#: Lines that are comments (or a docstring's quotes) in common languages: a documenting answer
#: may rewrite them.
_COMMENT_LINE = re.compile(r"""^(?:#|//|/\*|\*|--|;|%|'''|\"\"\"|<!--)""")
#: Share of the original code lines a documenting answer must keep.
KEPT_CODE_SHARE = 0.9


def _code_lines(lines: Sequence[str]) -> list[str]:
    """The stripped non-blank lines of ``lines`` that are code: not comments, not inside a
    triple-quoted docstring."""
    code: list[str] = []
    in_docstring = False
    for line in lines:
        stripped = line.strip()
        quotes = stripped.count('"""') + stripped.count("'''")
        if in_docstring or quotes:
            if quotes % 2:
                in_docstring = not in_docstring
            continue
        if stripped and not _COMMENT_LINE.match(stripped):
            code.append(stripped)
    return code


def keeps_code(old: Sequence[str], new: Sequence[str]) -> bool:
    """Whether ``new`` keeps the code lines of ``old`` (at least :data:`KEPT_CODE_SHARE` of
    them, in order; a comment added at the end of a line is fine): the sanity check of a task
    that documents code without changing it."""
    wanted = _code_lines(old)
    if not wanted:
        return True
    have = [line.strip() for line in new]
    kept = 0
    position = 0
    for line in wanted:
        for index in range(position, len(have)):
            if have[index] == line or have[index].startswith(line + " "):
                kept += 1
                position = index + 1
                break
    return kept >= KEPT_CODE_SHARE * len(wanted)
