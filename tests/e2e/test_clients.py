"""Clients other than ours: Helix, Zed, Sublime Text, Kate (replayed), eglot and lsp-mode.

Each test starts the real server with one client's ``initialize`` capabilities and request
shapes (codestral_ls.testing.clients) and checks what that client would see: completion items whose
label, filter text and edit agree, ``insertTextMode: asIs`` exactly where it is understood, no
``codestral/status`` to clients that did not ask for it, no warnings for the standard
notifications they send, and code actions that end in an edit by whichever path they support.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import converters, types
from pytest_lsp import ClientServerConfig, LanguageClient

from codestral_ls.actions import ACTIONS
from codestral_ls.testing.clients import ALL, EGLOT, STATUS_OPT_IN, SUBLIME, ZED, ClientProfile
from codestral_ls.testing.fake_mistral import FakeMistral
from tests.e2e.conftest import Session, server_env
from tests.e2e.test_code_actions import (
    SHAPES,
    SIMPLIFIED,
    by_task,
    list_actions,
    record_applied_edits,
)
from tests.edits import apply_workspace_edit

URI = "file:///work/calc.py"

Start = Callable[..., Awaitable[Session]]


@pytest_asyncio.fixture
async def start_as(
    fake: FakeMistral, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[Session]]]:
    """``await start_as(profile)``: the server, initialized by that client; its log file is
    ``tmp_path / "server.log"``."""
    clients: list[LanguageClient] = []

    async def starter(
        profile: ClientProfile,
        *,
        experimental: dict[str, Any] | None = None,
        initialization_options: dict[str, Any] | None = None,
    ) -> Session:
        config = ClientServerConfig(
            server_command=[
                sys.executable,
                "-m",
                "codestral_ls",
                "--log-file",
                str(tmp_path / "server.log"),
                "--log-level",
                "INFO",
            ],
            server_env=server_env(fake, CODESTRAL_LS_STATE_DIR=str(tmp_path / "state")),
        )
        client = await config.start()
        assert isinstance(client, LanguageClient)
        clients.append(client)
        client.set_configuration({"debounceMs": 0}, section="codestral")
        raw = dict(profile.capabilities)
        if experimental is not None:
            raw["experimental"] = {**raw.get("experimental", {}), **experimental}
        capabilities = converters.get_converter().structure(raw, types.ClientCapabilities)
        result = await client.initialize_session(
            types.InitializeParams(
                capabilities=capabilities,
                initialization_options=initialization_options or {"debounceMs": 0},
                client_info=types.ClientInfo(name=profile.name),
            )
        )
        return Session(client, profile.name, fake, result)

    yield starter

    for client in clients:
        try:
            await client.shutdown_session()
        finally:
            await client.stop()


def record_status(session: Session) -> list[Any]:
    seen: list[Any] = []

    @session.client.feature("codestral/status")
    def on_status(params: Any) -> None:
        seen.append(params._asdict() if hasattr(params, "_asdict") else dict(params))

    return seen


async def complete(
    session: Session, profile: ClientProfile, text: str, offset: int
) -> types.CompletionItem | None:
    """Ask for completions at ``offset`` the way ``profile`` does; the one item, or None."""
    position = session.position(text, offset)
    context = (
        converters.get_converter().structure(profile.completion_context, types.CompletionContext)
        if profile.completion_context is not None
        else None
    )
    result = await session.client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=URI), position=position, context=context
        )
    )
    assert isinstance(result, types.CompletionList) and result.is_incomplete
    if not result.items:
        return None
    [item] = result.items
    return item


def inserted(session: Session, text: str, item: types.CompletionItem) -> str:
    """The document after the client applies ``item``'s text edit."""
    edit = item.text_edit
    assert isinstance(edit, types.TextEdit), "a plain TextEdit, whatever insertReplaceSupport"
    change = types.TextDocumentEdit(
        text_document=types.OptionalVersionedTextDocumentIdentifier(uri=URI, version=None),
        edits=[edit],
    )
    files = apply_workspace_edit(
        {URI: text}, types.WorkspaceEdit(document_changes=[change]), session.encoding, {}
    )
    return files[URI]


# --------------------------------------------------------------------------------------------
# Start-up, completion items (items 1 and 2) and status (item 3), one session per client

HALF_TYPED = "def mul(a, b):\n    ret\n"
NESTED = "def find(xs, t):\n    for x in xs:\n        \n"


def fim_by_prompt(body: dict[str, Any]) -> str:
    prompt: str = body["prompt"]
    if prompt.endswith("    ret"):
        return "urn a * b"
    if prompt.endswith("for x in xs:\n        "):
        return "if x == t:\n            return x"
    return ""


@pytest.mark.parametrize("profile", ALL, ids=lambda p: p.name)
async def test_completion_items_and_status_for_each_client(
    start_as: Start, fake: FakeMistral, profile: ClientProfile
) -> None:
    fake.fim_text = fim_by_prompt
    session = await start_as(profile)
    seen = record_status(session)
    capabilities = session.result.capabilities
    assert capabilities.completion_provider is not None
    assert capabilities.code_action_provider is not None
    # The first encoding the client lists that the server speaks (UTF-8 first for Helix).
    expected = next(e for e in profile.encodings if e in ("utf-8", "utf-16"))
    assert session.encoding == expected

    # A half-typed word: the label reads as the line will, and a client that inserts the
    # label over the typed word gets the same line as one applying the edit.
    session.open(URI, HALF_TYPED)
    item = await complete(session, profile, HALF_TYPED, HALF_TYPED.index("ret") + 3)
    assert item is not None
    assert item.label == "return a * b"
    assert item.filter_text == "return a * b"
    assert inserted(session, HALF_TYPED, item) == "def mul(a, b):\n    return a * b\n"
    assert item.insert_text_mode is None  # one line: nothing to indent

    # Multi-line: already indented, so asIs wherever the client understands it.
    session.client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=URI))
    )
    session.open(URI, NESTED)
    item = await complete(session, profile, NESTED, NESTED.index("        \n") + 8)
    assert item is not None
    assert item.label == "if x == t:"
    assert item.text_edit is not None and item.filter_text == item.text_edit.new_text
    assert item.insert_text_mode == (types.InsertTextMode.AsIs if profile.as_is else None)
    assert inserted(session, NESTED, item) == (
        "def find(xs, t):\n    for x in xs:\n        if x == t:\n            return x\n"
    )
    # Documentation in a format the client reads (Markdown only where it is listed).
    documentation = item.documentation
    if isinstance(documentation, types.MarkupContent):
        assert documentation.kind == types.MarkupKind.Markdown
        documentation = documentation.value
    assert isinstance(documentation, str) and "return x" in documentation

    # No codestral/status for a client that did not ask: the state reaches its log instead,
    # once, as a standard message.
    assert await fake.await_until(
        lambda: any("codestral: ready" in m.message for m in session.client.log_messages),
        timeout=30,
    )
    assert seen == []
    ready = [m for m in session.client.log_messages if m.message.startswith("codestral: ready")]
    assert len(ready) == 1
    assert ready[0].type == types.MessageType.Log


# --------------------------------------------------------------------------------------------
# Item 3: codestral/status only to clients that ask


async def test_status_notification_with_the_opt_in(start_as: Start, fake: FakeMistral) -> None:
    session = await start_as(EGLOT, experimental=STATUS_OPT_IN)
    seen = record_status(session)
    assert await fake.await_until(lambda: bool(seen), timeout=30)
    assert seen[0]["state"] == "ready"
    assert not any(m.message.startswith("codestral: ") for m in session.client.log_messages)


# --------------------------------------------------------------------------------------------
# Item 4: standard notifications are accepted quietly

STANDARD_NOTIFICATIONS: list[tuple[str, Any]] = [
    (
        types.TEXT_DOCUMENT_DID_SAVE,
        types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=URI)),
    ),
    (
        types.TEXT_DOCUMENT_WILL_SAVE,
        types.WillSaveTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            reason=types.TextDocumentSaveReason.Manual,
        ),
    ),
    (
        types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=URI, type=types.FileChangeType.Changed)]
        ),
    ),
    (
        types.WORKSPACE_DID_RENAME_FILES,
        types.RenameFilesParams(
            files=[types.FileRename(old_uri=URI, new_uri="file:///work/calc2.py")]
        ),
    ),
    (
        types.WORKSPACE_DID_CREATE_FILES,
        types.CreateFilesParams(files=[types.FileCreate(uri="file:///work/new.py")]),
    ),
    (
        types.WORKSPACE_DID_DELETE_FILES,
        types.DeleteFilesParams(files=[types.FileDelete(uri="file:///work/new.py")]),
    ),
    (types.SET_TRACE, types.SetTraceParams(value=types.TraceValue.Off)),
    ("$/someClientExtension", {"x": 1}),
]


async def test_standard_notifications_are_accepted_quietly(
    start_as: Start, fake: FakeMistral, tmp_path: Path
) -> None:
    profile = EGLOT
    fake.fim_text = "1"
    session = await start_as(profile)
    session.open(URI, "x = ")
    for method, params in STANDARD_NOTIFICATIONS:
        session.client.protocol.notify(method, params)
    # Messages are handled in order: once this answer arrives, every notification was read.
    assert await complete(session, profile, "x = ", 4) is not None
    log = (tmp_path / "server.log").read_text(encoding="utf-8")
    assert "Ignoring notification" not in log
    assert "WARNING" not in log and "ERROR" not in log
    assert not any("codestral-ls" in m.message for m in session.client.messages)


# --------------------------------------------------------------------------------------------
# Code actions by each client's path


@pytest.mark.parametrize("profile", ALL, ids=lambda p: p.name)
async def test_a_code_action_ends_in_an_edit(
    start_as: Start, fake: FakeMistral, profile: ClientProfile
) -> None:
    fake.chat_text = by_task({ACTIONS["simplify"].task: SIMPLIFIED})
    session = await start_as(profile)
    applied = record_applied_edits(session)
    session.open(URI, SHAPES)
    start = SHAPES.index("    def area")
    end = SHAPES.index("\n\n    def name")
    actions = await list_actions(session, URI, start, end)
    [simplify] = [a for a in actions if a.title.startswith(ACTIONS["simplify"].title)]
    if profile.resolves_edits:
        resolved = await session.client.code_action_resolve_async(simplify)
        assert resolved.edit is not None
        edit = resolved.edit
    else:
        # No resolveSupport for edit (eglot, Kate): the action carries our command, which
        # applies the edit through workspace/applyEdit.
        assert simplify.edit is None and simplify.command is not None
        result = await session.client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command=simplify.command.command, arguments=simplify.command.arguments
            )
        )
        assert result == {"applied": True}
        [request] = applied
        edit = request.edit
    after = apply_workspace_edit({URI: SHAPES}, edit, session.encoding, session.versions)[URI]
    assert "return math.pi * r ** 2" in after
    assert "result = math.pi" not in after


@pytest.mark.parametrize("profile", [SUBLIME, ZED], ids=lambda p: p.name)
async def test_explain_reaches_every_client_whole(
    start_as: Start, fake: FakeMistral, profile: ClientProfile
) -> None:
    explanation = "Line one of the explanation.\n\n" + "More text.\n" * 30 + "The last line."
    fake.chat_text = by_task({ACTIONS["explain"].task: explanation})
    session = await start_as(profile)
    session.open(URI, SHAPES)
    actions = await list_actions(session, URI, SHAPES.index("area"))
    [explain] = [a for a in actions if a.title.startswith(ACTIONS["explain"].title)]
    assert explain.command is not None
    await session.client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command=explain.command.command, arguments=explain.command.arguments
        )
    )
    if profile.shows_documents:
        [shown] = session.client.shown_documents
        assert shown.uri.endswith(".md")
    else:
        # The whole text in one message: clients keep it in their message log (*Messages*).
        [message] = [m.message for m in session.client.messages if "Explanation" in m.message]
        assert "Line one of the explanation." in message and "The last line." in message
