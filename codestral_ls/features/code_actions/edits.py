"""Building the edit of a code action from the model's answer: the rewrite of the selected
lines, or tests below the code or in the companion test file.  A suggestion that might be wrong
(no code block, a redaction marker written over a hidden secret, no change) gives no edit."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from lsprotocol import types
from pygls.uris import to_fs_path

from ...actions import (
    ActionSpec,
    Destination,
    Hunk,
    Region,
    companion_test_file,
    fit_answer,
    keeps_code,
    line_hunks,
    pick_block,
)
from ...actions.prompts import REDACTED, file_name
from ...documents import Cursor, Document, DocumentStore
from ...lines import detect_eol
from .listing import ClientSupport

logger = logging.getLogger(__name__)

DROPPED_CODE_MESSAGE = (
    "codestral-ls: Codestral's answer leaves out lines of the code it was asked to document, "
    "so it was not applied; nothing was changed."
)

#: Tells the user why nothing was changed, once: ``fail(key, message[, kind])``.
Fail = Callable[..., "Outcome"]

#: Where generated tests go: (destination, test file URI, its current content).
TestsDestination = tuple[Destination, "str | None", "Document | None"]


@dataclass
class Outcome:
    """The result of running an action: an edit to apply, or a message (already shown)."""

    edit: types.WorkspaceEdit | None = None
    message: str | None = None
    shown: bool = False

    def result(self) -> dict[str, Any]:
        if self.shown:
            return {"applied": True}
        return {"applied": False, "message": self.message or "Nothing was changed."}


class EditBuilder:
    """Turns an answer into a ``WorkspaceEdit`` the client can apply."""

    def __init__(self, support: ClientSupport, documents: DocumentStore, fail: Fail) -> None:
        self.support = support
        self.documents = documents
        self._fail = fail

    def overwrites_secret(
        self, new: Sequence[str], old: Sequence[str], hidden: bool
    ) -> Outcome | None:
        """Refuse new lines that would write a redaction marker over a hidden secret."""
        kept = set(old)
        if hidden and any(REDACTED[:-1] in line and line not in kept for line in new):
            return self._fail(
                "redacted",
                "codestral-ls: the selection holds a secret that was hidden from Codestral, and "
                "its answer would replace it with [REDACTED]; nothing was changed.",
            )
        return None

    def text_edits(self, document: Document, hunks: Sequence[Hunk]) -> list[types.TextEdit]:
        return [
            types.TextEdit(
                range=types.Range(
                    start=document.position(hunk.start), end=document.position(hunk.end)
                ),
                new_text=hunk.text,
            )
            for hunk in hunks
        ]

    def workspace_edit(
        self, document: Document, edits: list[types.TextEdit]
    ) -> types.WorkspaceEdit:
        if self.support.document_changes():
            return types.WorkspaceEdit(
                document_changes=[
                    types.TextDocumentEdit(
                        text_document=types.OptionalVersionedTextDocumentIdentifier(
                            uri=document.uri, version=document.version
                        ),
                        edits=list(edits),
                    )
                ]
            )
        return types.WorkspaceEdit(changes={document.uri: list(edits)})

    def rewrite_edit(
        self,
        document: Document,
        region: Region,
        old: list[str],
        answer: str,
        hidden: bool,
        spec: ActionSpec,
    ) -> Outcome:
        code = pick_block(answer, document.language_id, "\n".join(old))
        new = fit_answer(code, old) if code is not None else []
        if not new:
            return self._fail(
                "empty", "codestral-ls: Codestral's answer held no code block; nothing was changed."
            )
        if spec.keeps_code and not keeps_code(old, new):
            return self._fail("dropped-code", DROPPED_CODE_MESSAGE)
        if (refused := self.overwrites_secret(new, old, hidden)) is not None:
            return refused
        eol = detect_eol(document.lines, document.lines[region.first])
        ends_document = region.last == document.line_count - 1
        hunks = line_hunks(old, new, region.first, eol, ends_document=ends_document)
        if not hunks:
            return self._fail(
                "no-change",
                "codestral-ls: Codestral suggested no change.",
                types.MessageType.Info,
            )
        return Outcome(edit=self.workspace_edit(document, self.text_edits(document, hunks)))

    def tests_destination(self, document: Document) -> TestsDestination:
        """Where tests go: (destination, test file URI, its current content as a Document)."""
        below: TestsDestination = (Destination("below"), None, None)
        if not self.support.creates_files() or not document.uri.startswith("file:"):
            return below
        name = companion_test_file(file_name(document.uri), document.language_id)
        if name is None:
            return below
        target = document.uri.rpartition("/")[0] + "/" + quote(name)
        encoding = self.documents.encoding
        opened = self.documents.get(target)
        if opened is not None:
            return Destination("append", name), target, opened
        path = to_fs_path(target)
        if path is not None and Path(path).is_file():
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                logger.info("cannot read %s (%s); tests go below the code", path, error)
                return below
            existing = Document(target, text, version=None, encoding=encoding)
            return Destination("append", name), target, existing
        return Destination("new", name), target, None

    def tests_edit(
        self,
        document: Document,
        region: Region,
        old: list[str],
        answer: str,
        destination: TestsDestination,
        hidden: bool,
    ) -> Outcome:
        where, target, existing = destination
        code = pick_block(answer, document.language_id, None)
        eol = detect_eol(document.lines, document.lines[region.first])
        if where.mode == "below" or target is None:
            code_lines = [line for line in old if line.strip()]
            tests = fit_answer(code, code_lines) if code is not None else []
        else:
            tests = fit_answer(code, ()) if code is not None else []
        if not tests:
            return self._fail(
                "empty",
                "codestral-ls: Codestral's answer held no code block with tests; nothing was "
                "changed.",
            )
        if (refused := self.overwrites_secret(tests, old, hidden)) is not None:
            return refused

        if where.mode == "below" or target is None:
            if region.last < document.line_count - 1:
                at = Cursor(region.last + 1, 0)
                text = eol + "".join(line + eol for line in tests)
            else:
                at = Cursor(region.last, len(document.line(region.last)))
                text = eol + eol + eol.join(tests)
            position = document.position(at)
            edit = types.TextEdit(range=types.Range(start=position, end=position), new_text=text)
            return Outcome(edit=self.workspace_edit(document, [edit]))

        body = "".join(line + eol for line in tests)
        changes: list[
            types.TextDocumentEdit | types.CreateFile | types.RenameFile | types.DeleteFile
        ] = []
        if existing is None:
            changes.append(
                types.CreateFile(
                    uri=target,
                    options=types.CreateFileOptions(overwrite=False, ignore_if_exists=True),
                )
            )
            start = types.Position(line=0, character=0)
            version: int | None = None
        else:
            last = existing.line_count - 1
            start = existing.position(Cursor(last, len(existing.line(last))))
            content = existing.lines
            if existing.line_count == 1 and not content[0]:
                separator = ""
            elif not content[-1]:  # ends with a line break
                separator = eol
            else:
                separator = eol + eol
            body = separator + body
            version = existing.version
        changes.append(
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(
                    uri=target, version=version
                ),
                edits=[types.TextEdit(range=types.Range(start=start, end=start), new_text=body)],
            )
        )
        return Outcome(edit=types.WorkspaceEdit(document_changes=changes))
