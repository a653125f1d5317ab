"""The benchmark's editor: a pygls 2 client driving a real server process over stdio.

It answers what a server may ask of an editor (``workspace/configuration``, progress tokens,
``window/showDocument``), keeps the messages the server shows, drains the server's stderr so a
chatty log can never block it, and tracks the text of each document it opened so that edits and
positions are computed like an editor does (ASCII text: UTF-16 columns are string indices).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import time
import uuid
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.client import LanguageClient

#: Seconds any single answer may take before the bench calls the server stuck.
ANSWER_TIMEOUT = 30.0
API_KEY = "bench-key-0d9a41"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parents[1]


def vscode_capabilities() -> types.ClientCapabilities:
    """VS Code's capabilities as recorded by pytest-lsp, plus inline completion (LSP 3.18) and
    the ``codestral/status`` opt-in our extension sends.

    The recording is read from pytest-lsp's data files without importing pytest-lsp (which
    imports pytest); when it is not installed a hand-made equivalent is used.
    """
    capabilities = _recorded("visual_studio_code")
    if capabilities is None:
        capabilities = types.ClientCapabilities(
            workspace=types.WorkspaceClientCapabilities(
                configuration=True,
                did_change_configuration=types.DidChangeConfigurationClientCapabilities(
                    dynamic_registration=True
                ),
                workspace_folders=True,
            ),
            text_document=types.TextDocumentClientCapabilities(
                synchronization=types.TextDocumentSyncClientCapabilities(
                    dynamic_registration=True, will_save=True, did_save=True
                ),
                completion=types.CompletionClientCapabilities(
                    completion_item=types.ClientCompletionItemOptions(snippet_support=True)
                ),
            ),
            window=types.WindowClientCapabilities(work_done_progress=True),
            general=types.GeneralClientCapabilities(
                position_encodings=[types.PositionEncodingKind.Utf16]
            ),
        )
    assert capabilities.text_document is not None
    capabilities.text_document.inline_completion = types.InlineCompletionClientCapabilities(
        dynamic_registration=True
    )
    capabilities.experimental = {"codestral": {"statusNotification": True}}
    return capabilities


def _recorded(stem: str) -> types.ClientCapabilities | None:
    spec = importlib.util.find_spec("pytest_lsp")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "clients"
    files = sorted(folder.glob(f"{stem}_v*.json"))
    if not files:
        return None
    data = json.loads(files[-1].read_text(encoding="utf-8"))
    client = LanguageClient("capabilities", "0")
    params = client.protocol._converter.structure(data, types.InitializeParams)
    return params.capabilities


def server_env(endpoint: str, state_dir: str) -> dict[str, str]:
    """The server's environment: this one minus real keys, pointing at the fake."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("CODESTRAL_API_KEY", "MISTRAL_API_KEY", "CODESTRAL_ENDPOINT")
    }
    env.update(
        {
            "CODESTRAL_API_KEY": API_KEY,
            "CODESTRAL_ENDPOINT": endpoint,
            "CODESTRAL_LS_STATE_DIR": state_dir,
            "XDG_STATE_HOME": state_dir,
        }
    )
    return env


class BenchClient(LanguageClient):
    """A client with an editor's bookkeeping (see module docstring)."""

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        super().__init__("codestral-ls-bench", "1")
        self.settings: dict[str, Any] = dict(settings or {})
        self.shown: list[str] = []
        self.stderr_tail: deque[str] = deque(maxlen=40)
        self.texts: dict[str, list[str]] = {}  # uri -> lines (without terminators)
        self.versions: dict[str, int] = {}
        self._drain: asyncio.Task[None] | None = None

        @self.feature(types.WORKSPACE_CONFIGURATION)
        def configuration(params: types.ConfigurationParams) -> list[Any]:
            return [
                dict(self.settings) if item.section == "codestral" else None
                for item in params.items
            ]

        @self.feature(types.WINDOW_SHOW_MESSAGE)
        def show_message(params: types.ShowMessageParams) -> None:
            self.shown.append(params.message)

        @self.feature(types.WINDOW_LOG_MESSAGE)
        def log_message(params: types.LogMessageParams) -> None:
            pass

        @self.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def progress_create(params: types.WorkDoneProgressCreateParams) -> None:
            return None

        @self.feature(types.PROGRESS)
        def progress(params: types.ProgressParams) -> None:
            pass

        @self.feature("codestral/status")
        def status(params: Any) -> None:
            pass

    # --- process ---------------------------------------------------------------------------

    async def spawn(self, command: Sequence[str], env: dict[str, str]) -> None:
        await self.start_io(command[0], *command[1:], env=env, cwd=str(ROOT))
        assert self._server is not None and self._server.stderr is not None
        self._drain = asyncio.ensure_future(self._drain_stderr(self._server.stderr))

    async def _drain_stderr(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.stderr_tail.append(line.decode("utf-8", "replace").rstrip())

    @property
    def pid(self) -> int:
        assert self._server is not None
        return self._server.pid

    def rss_kb(self) -> int:
        """The server's resident set size (VmRSS), in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS in /proc status")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    async def handshake(
        self,
        capabilities: types.ClientCapabilities,
        initialization_options: dict[str, Any] | None = None,
    ) -> types.InitializeResult:
        """``initialize`` (answered), then ``initialized``."""
        result = await asyncio.wait_for(
            self.initialize_async(
                types.InitializeParams(
                    capabilities=capabilities,
                    process_id=os.getpid(),
                    root_uri=ROOT.as_uri(),
                    initialization_options=initialization_options,
                    client_info=types.ClientInfo(name="Visual Studio Code", version="1.99.0"),
                )
            ),
            ANSWER_TIMEOUT,
        )
        self.initialized(types.InitializedParams())
        return result

    async def close(self) -> None:
        """Shut the server down politely and wait for it to exit."""
        if self._server is not None and self._server.returncode is None:
            try:
                await asyncio.wait_for(self.shutdown_async(None), ANSWER_TIMEOUT)
                self.exit(None)
                await asyncio.wait_for(self._server.wait(), ANSWER_TIMEOUT)
            except (asyncio.TimeoutError, JsonRpcException, RuntimeError):
                if self._server.returncode is None:
                    self._server.kill()
        await asyncio.wait_for(self.stop(), ANSWER_TIMEOUT)
        if self._drain is not None:
            await self._drain

    # --- documents -------------------------------------------------------------------------

    def open(self, uri: str, text: str, language_id: str = "python") -> None:
        self.texts[uri] = text.split("\n")
        self.versions[uri] = 1
        self.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language_id, version=1, text=text
                )
            )
        )

    def close_document(self, uri: str) -> None:
        self.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        self.texts.pop(uri, None)

    def line(self, uri: str, line: int) -> str:
        return self.texts[uri][line]

    def replace(self, uri: str, line: int, start: int, end: int, text: str) -> None:
        """Replace columns ``start:end`` of ``line`` by ``text`` (no line breaks in it)."""
        lines = self.texts[uri]
        old = lines[line]
        lines[line] = old[:start] + text + old[end:]
        self.versions[uri] += 1
        self.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=uri, version=self.versions[uri]
                ),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(
                            start=types.Position(line=line, character=start),
                            end=types.Position(line=line, character=end),
                        ),
                        text=text,
                    )
                ],
            )
        )

    def type_char(self, uri: str, line: int, column: int, char: str) -> None:
        self.replace(uri, line, column, column, char)

    def backspace(self, uri: str, line: int, column: int) -> None:
        self.replace(uri, line, column - 1, column, "")

    # --- requests --------------------------------------------------------------------------

    def request_inline(self, uri: str, line: int, column: int) -> tuple[str, asyncio.Future[Any]]:
        """Send ``textDocument/inlineCompletion`` as VS Code does; (request id, future)."""
        msg_id = str(uuid.uuid4())
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=column),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Automatic
            ),
        )
        future = asyncio.ensure_future(
            self.protocol.send_request_async(
                types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id=msg_id
            )
        )
        return msg_id, future

    def cancel(self, msg_id: str) -> None:
        self.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))

    async def complete(self, uri: str, line: int, column: int) -> str | None:
        """Ask for ghost text at (line, column) and wait: the inserted text or None."""
        _, future = self.request_inline(uri, line, column)
        return inserted(await asyncio.wait_for(future, ANSWER_TIMEOUT))

    async def ping(self) -> float:
        """Round trip of the cheapest request: ghost text for a document that is not open
        (answered None at once, after every message sent before it was handled)."""
        start = time.perf_counter()
        _, future = self.request_inline("file:///bench/not-open.py", 0, 0)
        await asyncio.wait_for(future, ANSWER_TIMEOUT)
        return time.perf_counter() - start


def inserted(result: Any) -> str | None:
    """The text an inline completion answer inserts (None when there is none)."""
    if result is None:
        return None
    items = result.items if isinstance(result, types.InlineCompletionList) else result
    if not items:
        return None
    text = items[0].insert_text
    return text if isinstance(text, str) else text.value


async def settle(future: asyncio.Future[Any]) -> tuple[Any, str | None]:
    """Await an answer that may have been cancelled: (result, error message or None)."""
    try:
        return await asyncio.wait_for(future, ANSWER_TIMEOUT), None
    except JsonRpcException as error:
        return None, str(error)
