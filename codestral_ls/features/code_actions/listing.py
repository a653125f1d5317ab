"""Listing code actions (``textDocument/codeAction``): which actions a range gets, and the
``data`` each carries so that running it later finds the same document version and range.

Free: no network call, only the document and the diagnostics the client sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lsprotocol import types

from ...actions import ACTIONS, ActionSpec, kind_matches, region_for
from ...documents import Document
from ...privacy import is_excluded

APPLY_COMMAND = "codestral.applyAction"
EDIT_COMMAND = "codestral.edit"
#: Returns the Markdown of an explanation shown as a virtual document.
EXPLANATION_COMMAND = "codestral.explanation"
#: URI scheme of explanations shown as read-only virtual documents.
EXPLAIN_SCHEME = "codestral-explain"
#: Marks ``data`` written by this feature (other features may list actions too).
DATA_TAG = "codestral.action"
#: Kinds advertised in ``codeActionProvider.codeActionKinds``.
ACTION_KINDS = sorted({spec.kind for spec in ACTIONS.values() if spec.kind})


@dataclass(frozen=True)
class ActionRequest:
    """What to run: an action on a range of a document version."""

    spec: ActionSpec
    uri: str
    version: int | None
    range: types.Range
    diagnostics: tuple[str, ...] = ()
    instruction: str | None = None

    def to_data(self) -> dict[str, Any]:
        return {
            "kind": DATA_TAG,
            "action": self.spec.id,
            "uri": self.uri,
            "version": self.version,
            "range": range_to_json(self.range),
            "diagnostics": list(self.diagnostics),
        }


# --------------------------------------------------------------------------------------------
# (De)serialising ``data`` and command arguments


def range_to_json(value: types.Range) -> dict[str, Any]:
    return {
        "start": {"line": value.start.line, "character": value.start.character},
        "end": {"line": value.end.line, "character": value.end.character},
    }


def _position(value: Any) -> types.Position | None:
    if not isinstance(value, dict):
        return None
    line, character = value.get("line"), value.get("character")
    if not isinstance(line, int) or not isinstance(character, int) or line < 0 or character < 0:
        return None
    return types.Position(line=line, character=character)


def range_from_json(value: Any) -> types.Range | None:
    if isinstance(value, types.Range):
        return value
    if not isinstance(value, dict):
        return None
    start, end = _position(value.get("start")), _position(value.get("end"))
    if start is None or end is None:
        return None
    return types.Range(start=start, end=end)


def request_from_data(data: Any) -> ActionRequest | None:
    """The request recorded in a code action's ``data``; None if it is not ours or broken."""
    if not isinstance(data, dict) or data.get("kind") != DATA_TAG:
        return None
    spec = ACTIONS.get(str(data.get("action")))
    uri = data.get("uri")
    version = data.get("version")
    selection = range_from_json(data.get("range"))
    diagnostics = data.get("diagnostics") or []
    if (
        spec is None
        or not isinstance(uri, str)
        or not (version is None or isinstance(version, int))
        or selection is None
        or not isinstance(diagnostics, list)
    ):
        return None
    return ActionRequest(
        spec, uri, version, selection, tuple(str(d) for d in diagnostics if isinstance(d, str))
    )


class Contents:
    """The line contents of a document as a read-only sequence, without copying them."""

    def __init__(self, document: Document) -> None:
        self._document = document

    def __len__(self) -> int:
        return self._document.line_count

    def __getitem__(self, index: int) -> str:
        return self._document.line(index)


def _format_diagnostic(diagnostic: types.Diagnostic) -> str:
    message = " ".join(diagnostic.message.split())
    source = f" [{diagnostic.source}]" if diagnostic.source else ""
    return f"line {diagnostic.range.start.line + 1}: {message}{source}"


class ClientSupport:
    """What the client can do with code actions and edits (from its capabilities)."""

    def __init__(self, capabilities: Callable[[], types.ClientCapabilities]) -> None:
        self._capabilities = capabilities

    @property
    def _code_action_capabilities(self) -> types.CodeActionClientCapabilities | None:
        text_document = self._capabilities().text_document
        return text_document.code_action if text_document is not None else None

    def resolves_edits(self) -> bool:
        capabilities = self._code_action_capabilities
        support = capabilities.resolve_support if capabilities is not None else None
        return support is not None and "edit" in support.properties

    def literal_actions(self) -> bool:
        capabilities = self._code_action_capabilities
        return capabilities is not None and capabilities.code_action_literal_support is not None

    def _workspace_edit_capabilities(self) -> types.WorkspaceEditClientCapabilities | None:
        workspace = self._capabilities().workspace
        return workspace.workspace_edit if workspace is not None else None

    def document_changes(self) -> bool:
        capabilities = self._workspace_edit_capabilities()
        return bool(capabilities and capabilities.document_changes)

    def creates_files(self) -> bool:
        capabilities = self._workspace_edit_capabilities()
        operations = capabilities.resource_operations if capabilities is not None else None
        return bool(operations) and types.ResourceOperationKind.Create in (operations or ())

    def shows_documents(self) -> bool:
        window = self._capabilities().window
        return bool(window and window.show_document and window.show_document.support)

    def shows_virtual_documents(self) -> bool:
        """Whether the client opens ``codestral-explain:`` documents (our VS Code extension)."""
        experimental = self._capabilities().experimental
        codestral = experimental.get("codestral") if isinstance(experimental, dict) else None
        return isinstance(codestral, dict) and codestral.get("explainDocuments") is True


def list_actions(
    document: Document | None,
    exclude: tuple[str, ...],
    params: types.CodeActionParams,
    support: ClientSupport,
) -> list[types.CodeAction | types.Command] | None:
    """The actions for a range: no network, no waiting."""
    if document is None or is_excluded(document.uri, exclude):
        return None  # unknown, or a file that is never sent (secrets)
    selection = params.range
    region = region_for(
        Contents(document),
        selection.start.line,
        selection.start.character,
        selection.end.line,
        selection.end.character,
    )
    touching = [
        d
        for d in params.context.diagnostics
        if d.range.start.line <= region.last and d.range.end.line >= region.first
    ]
    only = params.context.only
    # Editors ask automatically on every cursor move (VS Code's light bulb); with nothing
    # selected, only Fix is worth a light bulb there.  Asked explicitly, all are listed.
    quiet = (
        params.context.trigger_kind == types.CodeActionTriggerKind.Automatic
        and selection.start == selection.end
    )
    resolves = support.resolves_edits()
    actions: list[types.CodeAction | types.Command] = []
    for spec in ACTIONS.values():
        if spec.id == "fix" and not touching:
            continue
        if quiet and spec.id != "fix":
            continue
        if not kind_matches(spec.kind, only):
            continue
        request = ActionRequest(
            spec,
            document.uri,
            document.version,
            selection,
            tuple(_format_diagnostic(d) for d in touching) if spec.id == "fix" else (),
        )
        title = spec.title
        if spec.id == "fix" and len(touching) == 1:
            message = " ".join(touching[0].message.split())
            title = f"{title}: {message if len(message) <= 60 else message[:59] + '…'}"
        data = request.to_data()
        command = types.Command(title=title, command=APPLY_COMMAND, arguments=[data])
        if not support.literal_actions():
            actions.append(command)
            continue
        action = types.CodeAction(
            title=title,
            kind=spec.kind,
            diagnostics=touching if spec.id == "fix" else None,
            data=data,
        )
        if spec.id == "explain" or not resolves:
            action.command = command
        actions.append(action)
    return actions
