"""Applying LSP edits to strings, the way a client does (positions in the client's units)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping

from lsprotocol import types

_BREAK = re.compile(r"\r\n|\r|\n")


class StaleEdit(AssertionError):
    """A versioned edit for a version the document does not have (a client refuses it)."""


def _line_starts(text: str) -> list[int]:
    return [0] + [match.end() for match in _BREAK.finditer(text)]


def _width(char: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(char.encode("utf-8"))
    if encoding == "utf-32":
        return 1
    return 2 if ord(char) > 0xFFFF else 1


def offset_of(text: str, position: types.Position, encoding: str) -> int:
    """The Python index of an LSP ``position`` (in ``encoding`` units) in ``text``.

    Strict, unlike a forgiving client: a line past the end, or a column past the end of its
    line or inside a character, fails the test.
    """
    starts = _line_starts(text)
    assert 0 <= position.line < len(starts), f"line {position.line} is past the end"
    start = starts[position.line]
    if position.line + 1 < len(starts):
        content = _BREAK.sub("", text[start : starts[position.line + 1]])
    else:
        content = text[start:]
    units = 0
    for index, char in enumerate(content):
        if units == position.character:
            return start + index
        assert units < position.character, "position inside a character"
        units += _width(char, encoding)
    assert units == position.character, (
        f"column {position.character} is past the end of line {position.line} ({units} units)"
    )
    return start + len(content)


def apply_text_edits(text: str, edits: Iterable[types.TextEdit], encoding: str) -> str:
    """``text`` with ``edits`` applied (all relative to the original text, non-overlapping)."""
    spans = []
    for edit in edits:
        start = offset_of(text, edit.range.start, encoding)
        end = offset_of(text, edit.range.end, encoding)
        assert start <= end, "edit range ends before it starts"
        spans.append((start, end, edit.new_text))
    spans.sort(key=lambda span: (span[0], span[1]))
    for (_, end, _), (start, _, _) in itertools.pairwise(spans):
        assert end <= start, "overlapping edits"
    for start, end, new_text in reversed(spans):
        text = text[:start] + new_text + text[end:]
    return text


def apply_workspace_edit(
    files: Mapping[str, str],
    edit: types.WorkspaceEdit,
    encoding: str,
    versions: Mapping[str, int] | None = None,
) -> dict[str, str]:
    """The files (URI → text) after ``edit``, as a client applies it.

    ``versions`` are the documents' current versions: a ``TextDocumentEdit`` for another
    version raises :class:`StaleEdit`.  ``CreateFile`` adds an empty file (unless it exists).
    """
    result = dict(files)
    versions = versions or {}
    if edit.document_changes is not None:
        assert edit.changes is None, "a client uses documentChanges and ignores changes"
        for change in edit.document_changes:
            if isinstance(change, types.CreateFile):
                exists = change.uri in result
                options = change.options
                if exists and not (options and (options.overwrite or options.ignore_if_exists)):
                    raise AssertionError(f"{change.uri} exists")
                if not exists or (options and options.overwrite):
                    result[change.uri] = ""
            elif isinstance(change, types.TextDocumentEdit):
                uri = change.text_document.uri
                version = change.text_document.version
                if version is not None and versions.get(uri) != version:
                    raise StaleEdit(f"{uri}: edit for version {version}, have {versions.get(uri)}")
                assert uri in result, f"edit for unknown document {uri}"
                text_edits = [e for e in change.edits if isinstance(e, types.TextEdit)]
                assert len(text_edits) == len(change.edits)
                result[uri] = apply_text_edits(result[uri], text_edits, encoding)
            else:
                raise AssertionError(f"unexpected resource operation {change!r}")
        return result
    for uri, edits in (edit.changes or {}).items():
        assert uri in result, f"edit for unknown document {uri}"
        result[uri] = apply_text_edits(result[uri], edits, encoding)
    return result


def edited_uris(edit: types.WorkspaceEdit) -> list[str]:
    """The documents an edit touches (or creates)."""
    if edit.document_changes is not None:
        uris = []
        for change in edit.document_changes:
            if isinstance(change, types.TextDocumentEdit):
                uris.append(change.text_document.uri)
            elif isinstance(change, types.CreateFile):
                uris.append(change.uri)
        return uris
    return list((edit.changes or {}).keys())


def text_edits(edit: types.WorkspaceEdit, uri: str) -> list[types.TextEdit]:
    """The TextEdits of ``edit`` for ``uri``."""
    if edit.document_changes is not None:
        found: list[types.TextEdit] = []
        for change in edit.document_changes:
            if isinstance(change, types.TextDocumentEdit) and change.text_document.uri == uri:
                found.extend(e for e in change.edits if isinstance(e, types.TextEdit))
        return found
    return list((edit.changes or {}).get(uri, []))
