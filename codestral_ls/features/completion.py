"""Ghost text (``textDocument/inlineCompletion``) and, for clients without it, completion items."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from lsprotocol import types

from ..documents import Cursor, Document, PositionError
from ..engine import Suggestion

if TYPE_CHECKING:
    from ..server import CodestralLanguageServer

logger = logging.getLogger(__name__)

#: Characters that make clients without inline completion ask for completions.
#: The command a suggestion carries (docs/stats.md); ``features/stats.py`` handles it.
DID_ACCEPT = "codestral.didAccept"
TRIGGER_CHARACTERS = [".", "(", "[", "{", ",", ":", "=", " "]
_WORD_TAIL = re.compile(r"\w*$")


def register(ls: CodestralLanguageServer) -> None:
    @ls.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: CodestralLanguageServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList | None:
        # Asked for explicitly (Alt+\ in VS Code, the Neovim plugin's "request now" key): no
        # debounce, and never a cached empty answer.
        explicit = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
        found = await suggest(ls, params.text_document.uri, params.position, explicit=explicit)
        if found is None:
            return None
        document, cursor, suggestion = found
        return inline_items(document, cursor, suggestion)

    ls.initialize_hooks.append(_register_fallback)


def _register_fallback(ls: CodestralLanguageServer, params: types.InitializeParams) -> None:
    """Offer ``textDocument/completion`` only to clients that cannot show ghost text."""
    text_document = params.capabilities.text_document
    if text_document is not None and text_document.inline_completion is not None:
        return
    if types.TEXT_DOCUMENT_COMPLETION in ls.protocol.fm.features:
        return

    @ls.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=TRIGGER_CHARACTERS),
    )
    async def completion(
        ls: CodestralLanguageServer, params: types.CompletionParams
    ) -> types.CompletionList:
        found = await suggest(ls, params.text_document.uri, params.position)
        if found is None:
            return types.CompletionList(is_incomplete=True, items=[])
        document, cursor, suggestion = found
        capabilities = ls.client_capabilities
        item = completion_item(
            document,
            cursor,
            suggestion,
            as_is=supports_as_is(capabilities),
            markdown=supports_markdown(capabilities),
        )
        return types.CompletionList(is_incomplete=True, items=[item])


def supports_as_is(capabilities: types.ClientCapabilities) -> bool:
    """Whether the client honours ``insertTextMode: asIs`` on completion items (LSP 3.16)."""
    item = _completion_item_capabilities(capabilities)
    support = item.insert_text_mode_support if item is not None else None
    return support is not None and types.InsertTextMode.AsIs in support.value_set


def supports_markdown(capabilities: types.ClientCapabilities) -> bool:
    """Whether the client reads Markdown item documentation (else plain text, the default)."""
    item = _completion_item_capabilities(capabilities)
    formats = item.documentation_format if item is not None else None
    return formats is not None and types.MarkupKind.Markdown in formats


def _completion_item_capabilities(
    capabilities: types.ClientCapabilities,
) -> types.ClientCompletionItemOptions | None:
    text_document = capabilities.text_document
    completion = text_document.completion if text_document is not None else None
    return completion.completion_item if completion is not None else None


async def suggest(
    ls: CodestralLanguageServer, uri: str, position: types.Position, *, explicit: bool = False
) -> tuple[Document, Cursor, Suggestion] | None:
    """Run the engine for a request; unknown documents and impossible positions give None."""
    await ls.wait_for_settings()
    document = ls.documents.get(uri)
    if document is None:
        logger.info("completion asked for a document that is not open: %s", uri)
        return None
    try:
        cursor = document.cursor(position)
    except PositionError as error:
        logger.info("%s", error)
        return None
    suggestion = await ls.engine.complete(document, cursor, explicit=explicit)
    if suggestion is None:
        return None
    for listener in ls.suggestion_listeners:
        try:
            listener(document, suggestion)
        except Exception:  # statistics must never cost a completion
            logger.exception("suggestion listener failed")
    return document, cursor, suggestion


def inline_items(
    document: Document, cursor: Cursor, suggestion: Suggestion
) -> types.InlineCompletionList:
    """The ghost text at ``cursor``; text typed there meanwhile is covered by its range."""
    position = document.position(cursor)
    end = document.position(Cursor(cursor.line, cursor.column + len(suggestion.typed)))
    return types.InlineCompletionList(
        items=[
            types.InlineCompletionItem(
                insert_text=suggestion.text,
                range=types.Range(start=position, end=end),
                command=accept_command(suggestion),
            )
        ]
    )


def completion_item(
    document: Document,
    cursor: Cursor,
    suggestion: Suggestion,
    *,
    as_is: bool = False,
    markdown: bool = True,
) -> types.CompletionItem:
    """One item that inserts the suggestion and survives the client's filtering.

    Clients filter items by the word typed before the cursor, so the edit starts at that word
    and repeats it: typing ``pri`` and getting ``nt(x)`` yields the edit ``print(x)`` over
    ``pri``, which still matches what was typed.  The label reads the same way (``print(x)``,
    not ``nt(x)``): clients that insert the label instead of the edit (some completion-at-point
    front ends) then still produce the right line.

    The edit is a plain ``TextEdit`` ending at the cursor (past what was typed while the answer
    was computed), never an ``InsertReplaceEdit``: the suggestion already leaves out what
    follows the cursor, so there is nothing more to replace, and every client understands a
    ``TextEdit`` whatever its ``insertReplaceSupport``.

    The text of a multi-line suggestion is already indented for where it goes; with ``as_is``
    (the client supports ``insertTextMode``) the item asks the client not to indent it again.
    Its documentation shows the whole text, as a Markdown code block where the client reads
    Markdown (``markdown``), else as a plain string.
    """
    word = _WORD_TAIL.search(suggestion.line_before)
    typed = word.group(0) if word else ""
    start = document.position(Cursor(cursor.line, cursor.column - len(typed)))
    end = document.position(Cursor(cursor.line, cursor.column + len(suggestion.typed)))
    new_text = typed + suggestion.text
    multi_line = "\n" in suggestion.text
    return types.CompletionItem(
        label=item_label(new_text),
        kind=types.CompletionItemKind.Text,
        detail="Codestral",
        documentation=_documentation(document.language_id, new_text, markdown)
        if multi_line
        else None,
        sort_text="0",
        filter_text=new_text,
        preselect=True,
        insert_text_format=types.InsertTextFormat.PlainText,
        insert_text_mode=types.InsertTextMode.AsIs if as_is and multi_line else None,
        text_edit=types.TextEdit(range=types.Range(start=start, end=end), new_text=new_text),
        command=accept_command(suggestion),
    )


def accept_command(suggestion: Suggestion) -> types.Command | None:
    """The ``codestral.didAccept`` command an editor runs when it accepts ``suggestion``: its
    id and its length (never any of its text)."""
    if not suggestion.id:
        return None
    return types.Command(
        title="Codestral: accepted",
        command=DID_ACCEPT,
        arguments=[{"id": suggestion.id, "chars": len(suggestion.text)}],
    )


def _documentation(language_id: str, text: str, markdown: bool) -> types.MarkupContent | str:
    if markdown:
        return types.MarkupContent(
            kind=types.MarkupKind.Markdown, value=f"```{language_id}\n{text}\n```"
        )
    return text  # a plain string: every client reads it


def item_label(new_text: str) -> str:
    """The label of an item inserting ``new_text`` over the typed word: how the line reads
    from that word on (``return a * b`` after typing ``ret``).  When that first line is blank
    (the suggestion starts on the next line), the first non-blank line, stripped."""
    line = new_text.split("\n", 1)[0].rstrip()
    return line if line.strip() else first_line(new_text)


def first_line(text: str) -> str:
    """The first non-blank line of ``text``, stripped."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return text.strip()
