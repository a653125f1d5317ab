"""Chat-based code actions: Fix, Add docstring/comments, Simplify/refactor, Generate tests,
Explain, and the ``codestral.edit`` command.

Listing (``textDocument/codeAction``) is free: no network call, only the document and the
diagnostics the client sent.  The work happens later, in one of two ways:

* clients that resolve the ``edit`` property get it from ``codeAction/resolve``, which asks the
  chat model and returns a WorkspaceEdit;
* other clients get actions carrying the ``codestral.applyAction`` command, which computes the
  same edit and applies it with ``workspace/applyEdit``.

Explain never edits: it always runs through ``codestral.applyAction`` and shows Markdown.

Every edit is computed for the document version recorded when the action was listed; if the
document changed since, the action is refused with a message (and versioned
``documentChanges`` let the client refuse too).  Upstream failures are shown once with
``window/showMessage``; resolve then answers the action without an edit (not a JSON-RPC error,
which VS Code would report a second time), and the server stays up.

The feature is split in three: :mod:`.listing` (which actions a range gets), :mod:`.running`
(checks, the chat request, progress, failures) and :mod:`.edits` (the answer as an edit).

See docs/code-actions.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from .edits import Outcome
from .listing import (
    ACTION_KINDS,
    APPLY_COMMAND,
    EDIT_COMMAND,
    EXPLAIN_SCHEME,
    EXPLANATION_COMMAND,
    ActionRequest,
    ClientSupport,
    list_actions,
)
from .running import ActionRunner

if TYPE_CHECKING:
    from ...server import CodestralLanguageServer

__all__ = [
    "ACTION_KINDS",
    "APPLY_COMMAND",
    "EDIT_COMMAND",
    "EXPLAIN_SCHEME",
    "EXPLANATION_COMMAND",
    "ActionRequest",
    "ActionRunner",
    "Outcome",
    "register",
]


def register(ls: CodestralLanguageServer) -> None:
    support = ClientSupport(lambda: ls.client_capabilities)
    runner = ActionRunner(ls, support)

    @ls.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=ACTION_KINDS, resolve_provider=True),
    )
    def code_action(
        ls: CodestralLanguageServer, params: types.CodeActionParams
    ) -> list[types.CodeAction | types.Command] | None:
        document = ls.documents.get(params.text_document.uri)
        return list_actions(document, ls.settings.exclude, params, support)

    @ls.feature(types.CODE_ACTION_RESOLVE)
    async def code_action_resolve(
        ls: CodestralLanguageServer, params: types.CodeAction
    ) -> types.CodeAction:
        return await runner.resolve(params)

    @ls.command(APPLY_COMMAND)
    async def apply_action(ls: LanguageServer, *args: Any) -> dict[str, Any]:
        return await runner.apply_command(args[0] if args else None)

    @ls.command(EDIT_COMMAND)
    async def edit(ls: LanguageServer, *args: Any) -> dict[str, Any]:
        return await runner.edit_command(args[0] if args else None)

    @ls.command(EXPLANATION_COMMAND)
    def explanation(ls: LanguageServer, *args: Any) -> dict[str, Any]:
        return runner.explanation_command(args[0] if args else None)
