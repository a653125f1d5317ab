"""Open documents, stored as lists of lines so a keystroke costs the same in any file size.

pygls keeps a document as one flat string and splits it into lines on every access, which makes
each keystroke in a 5 MB file cost whole-file work.  Here a document is a list of lines, each with
its own line terminator, split only on the line breaks the LSP specification counts (``\\n``,
``\\r\\n`` and ``\\r``; not form feeds or U+2028 as :meth:`str.splitlines` would).  An incremental
edit touches only the lines in its range.

Columns sent by clients are in the negotiated position encoding (UTF-16 by default, UTF-8 for
Neovim, or UTF-32); :class:`Document` converts them to Python string indices per line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from lsprotocol import types

from .lines import LINE_BREAK

#: Characters that str.splitlines treats as line breaks but LSP does not.
_NON_LSP_BREAKS = re.compile("[\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


class PositionError(ValueError):
    """A position that does not exist in the document (line past the end)."""


def split_lines(text: str) -> list[str]:
    """Split ``text`` into lines that keep their terminators; the last one has none.

    ``"a\\nb\\n"`` gives ``["a\\n", "b\\n", ""]``, so the list length is the LSP line count.
    """
    if _NON_LSP_BREAKS.search(text) is None:
        lines = text.splitlines(keepends=True)
    else:
        lines = []
        start = 0
        for match in LINE_BREAK.finditer(text):
            lines.append(text[start : match.end()])
            start = match.end()
        if start < len(text):
            lines.append(text[start:])
    if not lines or lines[-1].endswith(("\n", "\r")):
        lines.append("")
    return lines


def line_content(line: str) -> str:
    """``line`` without its terminator."""
    if line.endswith("\r\n"):
        return line[:-2]
    if line.endswith(("\n", "\r")):
        return line[:-1]
    return line


@dataclass(frozen=True, order=True)
class Cursor:
    """A position in Python string indices: ``line`` and ``column`` (code points)."""

    line: int
    column: int


def _column_from_utf16(content: str, units: int) -> int:
    if content.isascii():
        return min(units, len(content))
    seen = 0
    for index, char in enumerate(content):
        width = 2 if ord(char) > 0xFFFF else 1
        if seen + width > units:
            return index  # inside a surrogate pair: round down to the character's start
        seen += width
    return len(content)


def _utf8_width(char: str) -> int:
    code = ord(char)
    return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4


def _column_from_utf8(content: str, units: int) -> int:
    if content.isascii():
        return min(units, len(content))
    try:
        encoded = content.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (3 bytes, as WTF-8 counts it)
        seen = 0
        for index, char in enumerate(content):
            seen += _utf8_width(char)
            if seen > units:
                return index
        return len(content)
    if units >= len(encoded):
        return len(content)
    # Round down to the start of a character when the offset falls inside one.
    return len(encoded[:units].decode("utf-8", errors="ignore"))


def _units_utf16(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def _units_utf8(text: str) -> int:
    if text.isascii():
        return len(text)
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate
        return sum(map(_utf8_width, text))


class Document:
    """One open text document."""

    __slots__ = (
        "_above",
        "_below",
        "_lines",
        "binary",
        "encoding",
        "language_id",
        "size",
        "uri",
        "version",
    )

    def __init__(
        self,
        uri: str,
        text: str,
        *,
        version: int | None = None,
        language_id: str = "",
        encoding: str = types.PositionEncodingKind.Utf16,
    ) -> None:
        self.uri = uri
        self.version = version
        self.language_id = language_id
        self.encoding = encoding
        self._lines = split_lines(text)
        #: Characters in the document, kept up to date by every edit.
        self.size = len(text)
        #: Whether a NUL character was ever seen: the file is probably not text.
        self.binary = "\x00" in text
        # Joined text above / below one line, kept while edits leave those lines alone, so
        # that keys on the full text cost nothing per keystroke on the cursor's line.
        self._above: tuple[int, str] | None = None
        self._below: tuple[int, str] | None = None

    # --- reading -------------------------------------------------------------------------

    @property
    def lines(self) -> Sequence[str]:
        """The lines, each with its terminator (the last has none)."""
        return self._lines

    @property
    def line_count(self) -> int:
        return len(self._lines)

    @property
    def text(self) -> str:
        """The whole text.  Costs a join of every line: not for the per-keystroke path."""
        return "".join(self._lines)

    def __len__(self) -> int:
        return sum(map(len, self._lines))

    def line(self, index: int) -> str:
        """The content of line ``index``, without its terminator."""
        return line_content(self._lines[index])

    def text_above(self, line: int) -> str:
        """All text before line ``line`` (joined once, then kept until an edit touches it)."""
        cached = self._above
        if cached is None or cached[0] != line:
            cached = (line, "".join(self._lines[:line]))
            self._above = cached
        return cached[1]

    def text_below(self, line: int) -> str:
        """All text after line ``line`` (joined once, then kept until an edit touches it)."""
        cached = self._below
        if cached is None or cached[0] != line:
            cached = (line, "".join(self._lines[line + 1 :]))
            self._below = cached
        return cached[1]

    def lines_before(self, line: int) -> Iterator[str]:
        """Lines before ``line``, nearest first, with terminators."""
        for index in range(line - 1, -1, -1):
            yield self._lines[index]

    def lines_after(self, line: int) -> Iterator[str]:
        """Lines after ``line``, nearest first, with terminators."""
        for index in range(line + 1, len(self._lines)):
            yield self._lines[index]

    # --- positions -----------------------------------------------------------------------

    def cursor(self, position: types.Position, *, strict: bool = True) -> Cursor:
        """Convert a client position to a :class:`Cursor`.

        A column past the end of its line means the end of the line (as the LSP specification
        says); a column inside a multi-unit character is rounded down to that character's
        start.  A line past the end raises :class:`PositionError` when ``strict``, else means the
        end of the document.
        """
        if position.line >= len(self._lines):
            if strict:
                raise PositionError(
                    f"line {position.line} is past the end of {self.uri} ({len(self._lines)} lines)"
                )
            last = len(self._lines) - 1
            return Cursor(last, len(line_content(self._lines[last])))
        content = line_content(self._lines[position.line])
        return Cursor(position.line, self._column(content, position.character))

    def _column(self, content: str, units: int) -> int:
        if self.encoding == types.PositionEncodingKind.Utf8:
            return _column_from_utf8(content, units)
        if self.encoding == types.PositionEncodingKind.Utf32:
            return min(units, len(content))
        return _column_from_utf16(content, units)

    def position(self, cursor: Cursor) -> types.Position:
        """Convert a :class:`Cursor` back to a client position."""
        before = line_content(self._lines[cursor.line])[: cursor.column]
        return types.Position(line=cursor.line, character=self.units(before))

    def units(self, text: str) -> int:
        """Length of ``text`` in the client's position units."""
        if self.encoding == types.PositionEncodingKind.Utf8:
            return _units_utf8(text)
        if self.encoding == types.PositionEncodingKind.Utf32:
            return len(text)
        return _units_utf16(text)

    # --- editing -------------------------------------------------------------------------

    def replace_all(self, text: str, version: int | None = None) -> None:
        """Replace the whole text (a full-sync change)."""
        self._lines = split_lines(text)
        self.size = len(text)
        self.binary = "\x00" in text
        self._above = self._below = None
        self.version = version

    def apply_edit(self, edit_range: types.Range, text: str, version: int | None = None) -> None:
        """Apply an incremental change, touching only the lines of its range."""
        start = self.cursor(edit_range.start, strict=False)
        end = self.cursor(edit_range.end, strict=False)
        if end < start:
            start, end = end, start
        lines = self._lines
        first, last = start.line, end.line
        head = lines[first][: start.column]
        tail = lines[last][end.column :]
        # A lone "\r" followed by a "\n" becomes one line break: re-split across the seam.
        if not head and first > 0 and lines[first - 1].endswith("\r") and (text + tail)[:1] == "\n":
            first -= 1
            head = lines[first] + head
        joined = head + text + tail
        if joined.endswith("\r") and last + 1 < len(lines) and lines[last + 1].startswith("\n"):
            last += 1
            joined += lines[last]
        removed = sum(map(len, lines[first : last + 1]))
        replacement = split_lines(joined)
        if last + 1 < len(lines) and replacement[-1] == "":
            # split_lines adds an empty last line when the text ends with a break; that empty
            # line is really the start of the line that follows the edited range.
            replacement.pop()
        lines[first : last + 1] = replacement
        self.size += sum(map(len, replacement)) - removed
        self.binary = self.binary or "\x00" in text
        self._keep_joined(first, last, len(replacement) - (last - first + 1))
        if version is not None:
            self.version = version

    def _keep_joined(self, first: int, last: int, delta: int) -> None:
        """Keep the joined text above/below when the edit of lines first..last left it alone."""
        if self._above is not None and first < self._above[0]:
            self._above = None
        if self._below is not None:
            line, text = self._below
            self._below = (line + delta, text) if last <= line else None

    def apply_change(
        self, change: types.TextDocumentContentChangeEvent, version: int | None = None
    ) -> None:
        """Apply one ``contentChanges`` entry of ``textDocument/didChange``."""
        if isinstance(change, types.TextDocumentContentChangePartial):
            self.apply_edit(change.range, change.text, version)
        else:
            self.replace_all(change.text, version)


class DocumentStore:
    """The open documents of one server, keyed by URI."""

    def __init__(self, encoding: str = types.PositionEncodingKind.Utf16) -> None:
        self.encoding = encoding
        self._documents: dict[str, Document] = {}

    def __contains__(self, uri: str) -> bool:
        return uri in self._documents

    def __len__(self) -> int:
        return len(self._documents)

    def get(self, uri: str) -> Document | None:
        return self._documents.get(uri)

    def all(self) -> list[Document]:
        """The open documents."""
        return list(self._documents.values())

    def open(self, item: types.TextDocumentItem) -> Document:
        document = Document(
            item.uri,
            item.text,
            version=item.version,
            language_id=item.language_id,
            encoding=self.encoding,
        )
        self._documents[item.uri] = document
        return document

    def change(self, params: types.DidChangeTextDocumentParams) -> Document | None:
        document = self._documents.get(params.text_document.uri)
        if document is None:
            return None
        for change in params.content_changes:
            document.apply_change(change)
        document.version = params.text_document.version
        return document

    def close(self, uri: str) -> None:
        self._documents.pop(uri, None)
