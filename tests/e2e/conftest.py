"""End-to-end fixtures: the real server over stdio, driven by pytest-lsp, against the fake API.

The fake and the client capability presets are the shipped ones (``codestral_ls.testing``, the
same the pytest plugin's ``codestral_fake``/``codestral_client`` use; tests/e2e/test_plugin.py
uses those fixtures directly).

Every test using ``start`` runs twice: with VS Code's client capabilities (UTF-16 positions,
inline completion as vscode-languageclient 10 advertises it) and with Neovim 0.11's (UTF-8
positions, no inline completion, so completion items).  Both carry the ``codestral/status``
opt-in (``experimental.codestral.statusNotification``) that our VS Code extension and Neovim
plugin send; tests/e2e/test_clients.py covers clients without it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from codestral_ls.testing import clients as presets
from codestral_ls.testing.fake_backends import FakeOllama
from codestral_ls.testing.fake_mistral import FakeMistral
from tests.helpers import column_of, position_at

TEST_KEY = "test-key-5f0c2d"
CLIENTS = ["visual-studio-code", "neovim"]


def capabilities_for(client: str) -> types.ClientCapabilities:
    """The shipped preset (``vscode``: inline completion; ``neovim``), with our
    integrations' ``codestral/status`` opt-in."""
    return presets.capabilities_for(client, status_opt_in=True)


def server_env(fake: FakeMistral, **overrides: str | None) -> dict[str, str]:
    """The server's environment: the test's, minus real keys, pointing at the fake."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CODESTRAL_API_KEY", "MISTRAL_API_KEY", "CODESTRAL_ENDPOINT")
    }
    env.update({"CODESTRAL_API_KEY": TEST_KEY, "CODESTRAL_ENDPOINT": fake.url})
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@dataclass
class Session:
    """A started server with its client and helpers for the common steps."""

    client: LanguageClient
    name: str
    fake: FakeMistral
    result: types.InitializeResult
    versions: dict[str, int] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    last_range: types.Range | None = None

    @property
    def encoding(self) -> str:
        return self.result.capabilities.position_encoding or "utf-16"

    @property
    def inline(self) -> bool:
        return self.name == "visual-studio-code"

    def open(self, uri: str, text: str, language_id: str = "python") -> None:
        self.versions[uri] = 1
        self.texts[uri] = text
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language_id, version=1, text=text
                )
            )
        )

    def replace(self, uri: str, start: int, end: int, text: str) -> None:
        """Send an incremental change replacing ``[start:end]`` (Python indices) by ``text``."""
        old = self.texts[uri]
        self.edit(uri, self.position(old, start), self.position(old, end), text)
        self.texts[uri] = old[:start] + text + old[end:]

    def edit(self, uri: str, start: types.Position, end: types.Position, text: str) -> None:
        self.versions[uri] += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=uri, version=self.versions[uri]
                ),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=start, end=end), text=text
                    )
                ],
            )
        )

    def position(self, text: str, offset: int) -> types.Position:
        """The client position of ``offset`` (a Python index into ``text``)."""
        return position_at(text, offset, self.encoding)

    async def complete_at(self, uri: str, offset: int) -> str | None:
        """Complete at ``offset`` (a Python index) in the tracked text of ``uri``."""
        return await self.complete(uri, self.position(self.texts[uri], offset), offset)

    async def complete(
        self, uri: str, position: types.Position, offset: int | None = None
    ) -> str | None:
        """Ask for a completion the way this client would; the text inserted at the cursor."""
        if self.inline:
            result = await self.client.text_document_inline_completion_async(
                types.InlineCompletionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=position,
                    context=types.InlineCompletionContext(
                        trigger_kind=types.InlineCompletionTriggerKind.Automatic
                    ),
                )
            )
            if result is None:
                return None
            items = result.items if isinstance(result, types.InlineCompletionList) else result
            if not items:
                return None
            assert len(items) == 1
            item = items[0]
            assert item.range is not None and item.range.start == item.range.end
            self.last_range = item.range
            assert isinstance(item.insert_text, str)
            return item.insert_text
        result = await self.client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri), position=position
            )
        )
        assert isinstance(result, types.CompletionList) and result.is_incomplete
        if not result.items:
            return None
        assert len(result.items) == 1
        edit = result.items[0].text_edit
        assert isinstance(edit, types.TextEdit)
        self.last_range = types.Range(start=edit.range.end, end=edit.range.end)
        # The edit re-types the word before the cursor, so the client's filter keeps the item.
        assert edit.range.start.line == edit.range.end.line == position.line
        assert result.items[0].filter_text == edit.new_text
        line = (self.texts[uri] + "\n").splitlines()[position.line] if uri in self.texts else ""
        typed = line[
            column_of(line, edit.range.start.character, self.encoding) : column_of(
                line, edit.range.end.character, self.encoding
            )
        ]
        assert edit.new_text.startswith(typed)
        return edit.new_text[len(typed) :]

    def request_at(self, uri: str, offset: int) -> tuple[str, asyncio.Future[Any]]:
        """Send this client's completion request without waiting: (request id, future)."""
        position = self.position(self.texts[uri], offset)
        document = types.TextDocumentIdentifier(uri=uri)
        params: Any
        if self.inline:
            method = types.TEXT_DOCUMENT_INLINE_COMPLETION
            params = types.InlineCompletionParams(
                text_document=document,
                position=position,
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Automatic
                ),
            )
        else:
            method = types.TEXT_DOCUMENT_COMPLETION
            params = types.CompletionParams(text_document=document, position=position)
        msg_id = str(uuid.uuid4())
        future = asyncio.ensure_future(
            self.client.protocol.send_request_async(method, params, msg_id=msg_id)
        )
        return msg_id, future

    def cancel(self, msg_id: str) -> None:
        """Send ``$/cancelRequest`` for ``msg_id`` (as VS Code does when you type on)."""
        self.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))

    @staticmethod
    def inserted(result: Any) -> str | None:
        """The text a completion/inline completion result would insert (None if empty)."""
        if result is None:
            return None
        if isinstance(result, types.InlineCompletionList):
            return str(result.items[0].insert_text) if result.items else None
        if isinstance(result, types.CompletionList):
            if not result.items:
                return None
            edit = result.items[0].text_edit
            assert isinstance(edit, types.TextEdit)
            return edit.new_text
        raise AssertionError(f"unexpected result {result!r}")

    @property
    def messages(self) -> list[str]:
        return [m.message for m in self.client.messages]


@pytest.fixture(scope="session")
def fake_server() -> AsyncIterator[FakeMistral]:
    with FakeMistral() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def fake(fake_server: FakeMistral) -> FakeMistral:
    fake_server.reset()
    return fake_server


Starter = Callable[..., Awaitable[Session]]


@pytest_asyncio.fixture(params=CLIENTS)
async def start(
    request: pytest.FixtureRequest, fake: FakeMistral, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Starter]:
    """Start a server for this test's client: ``await start(init_options, env=..., config=...)``."""
    name: str = request.param
    clients: list[LanguageClient] = []

    async def starter(
        initialization_options: dict[str, Any] | None = None,
        *,
        env: dict[str, str | None] | None = None,
        configuration: dict[str, Any] | None = None,
        args: list[str] | None = None,
        capabilities_patch: Callable[[types.ClientCapabilities], None] | None = None,
        root: Path | None = None,
        state_dir: Path | None = None,
    ) -> Session:
        options = {"debounceMs": 0, **(initialization_options or {})}
        config = ClientServerConfig(
            server_command=[sys.executable, "-m", "codestral_ls", *(args or [])],
            server_env=server_env(
                fake,
                # a state file of its own, so a developer's model choice never leaks in
                **{
                    "CODESTRAL_LS_STATE_DIR": str(state_dir or tmp_path_factory.mktemp("state")),
                    **(env or {}),
                },
            ),
        )
        client = await config.start()
        assert isinstance(client, LanguageClient)
        clients.append(client)
        if configuration is not None:
            client.set_configuration(configuration, section="codestral")
        capabilities = capabilities_for(name)
        if capabilities_patch is not None:
            capabilities_patch(capabilities)
        result = await client.initialize_session(
            types.InitializeParams(
                capabilities=capabilities,
                initialization_options=options,
                client_info=types.ClientInfo(name=name),
                root_uri=root.as_uri() if root is not None else None,
                workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)]
                if root is not None
                else None,
            )
        )
        return Session(client, name, fake, result)

    yield starter

    for client in clients:
        if client.stopped:  # the test stopped it (a restart)
            continue
        try:
            await client.shutdown_session()
        finally:
            await client.stop()


@pytest.fixture(scope="module")
def ollama_server() -> Iterator[FakeOllama]:
    """A fake Ollama for the tests of a module."""
    with FakeOllama() as fake:
        yield fake


@pytest.fixture
def ollama(ollama_server: FakeOllama) -> FakeOllama:
    """The module's fake Ollama, reset for each test."""
    ollama_server.reset()
    return ollama_server
