"""The language server: a class that owns its services; features register themselves."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import stat
import sys
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, BinaryIO, Protocol

from lsprotocol import types
from pygls.exceptions import FeatureRequestError, JsonRpcException, JsonRpcInvalidParams
from pygls.io_ import StdinAsyncReader, StdoutWriter, run_async
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from . import __version__
from .backends import FimBackend, create_backend, detect_backend, make_http_client
from .catalog import CatalogService, source_key
from .documents import DocumentStore
from .engine import CompletionEngine
from .logs import add_secret
from .mistral import MistralClient
from .notify import Notifier
from .settings import (
    Environment,
    Settings,
    explicit_keys,
    parse_settings,
    resolve_connection,
)
from .status import NOTIFICATION as STATUS_NOTIFICATION
from .status import StatusReporter

#: Which setting holds the model of each kind.
MODEL_SETTING = {"completion": "model", "chat": "chatModel"}

logger = logging.getLogger(__name__)


class Feature(Protocol):
    """A feature module: registers its handlers on the server."""

    def register(self, ls: CodestralLanguageServer) -> None: ...


#: Largest LSP message read from stdin (a whole file arrives in one didOpen).
MAX_MESSAGE_BYTES = 1 << 30


class _NotAPipe(Exception):
    """stdin cannot be read through an asyncio pipe transport."""


class AnsweredError(Exception):
    """A message that could not be read and was already answered with a JSON-RPC error."""


#: Standard client notifications the server has no use for.  pygls warns about each one it
#: has no handler for ("Ignoring notification for unknown method"), and clients send some
#: even when the server did not ask (eglot sends didSave on every save).
QUIET_NOTIFICATIONS = frozenset(
    {
        types.TEXT_DOCUMENT_DID_SAVE,
        types.TEXT_DOCUMENT_WILL_SAVE,
        types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
        types.WORKSPACE_DID_CREATE_FILES,
        types.WORKSPACE_DID_RENAME_FILES,
        types.WORKSPACE_DID_DELETE_FILES,
        types.NOTEBOOK_DOCUMENT_DID_SAVE,
        types.PROGRESS,
    }
)


class CodestralProtocol(LanguageServerProtocol):
    """pygls' protocol with document sync going to the server's own line-based store.

    pygls' workspace keeps each document as one string and re-splits it on every change; the
    store in :mod:`codestral_ls.documents` edits only the lines a change touches.
    """

    _server: CodestralLanguageServer

    def structure_message(self, data: dict[str, Any]) -> Any:
        """Read a message; a request whose params are invalid gets the protocol's error.

        pygls logs such a request and drops it, which leaves the client waiting forever.
        """
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            if "id" in data and "method" in data:
                reason = error.__cause__ or error
                message = f"Invalid params for {data.get('method')}: {reason}".splitlines()[0]
                self._send_response(
                    data["id"], error=JsonRpcInvalidParams(message=message).to_response_error()
                )
                raise AnsweredError(message) from error
            raise

    def _handle_notification(self, method_name: str, params: Any) -> None:
        """Standard notifications nobody handles, and any ``$/`` one (which the protocol lets
        a server ignore), are dropped quietly instead of with a warning."""
        if (
            method_name in QUIET_NOTIFICATIONS or method_name.startswith("$/")
        ) and not self._handles(method_name):
            logger.debug("ignored %s", method_name)
            return
        super()._handle_notification(method_name, params)

    def _handles(self, method_name: str) -> bool:
        return (
            method_name == types.CANCEL_REQUEST
            or method_name in self.fm.features
            or (method_name in self.fm.builtin_features)
        )

    # Plain methods, not generators like pygls' own: pygls keeps a future for every generator
    # or async notification handler and never drops it, one per keystroke for didChange.

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> None:
        self._server.documents.open(params.text_document)
        self._user_handler(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> None:
        self._server.documents.change(params)
        self._user_handler(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> None:
        self._server.documents.close(params.text_document.uri)
        self._user_handler(types.TEXT_DOCUMENT_DID_CLOSE, params)

    def _user_handler(self, method: str, params: Any) -> None:
        """Run a feature's handler for a notification pygls routes to us first."""
        handler = self.fm.features.get(method)
        if handler is None:
            return
        if asyncio.iscoroutinefunction(handler):
            self._server.background(handler(params))
        else:
            handler(params)


class CodestralLanguageServer(LanguageServer):
    """codestral-ls: owns the settings, the document store, the HTTP client and the engine."""

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        features: Iterable[Feature] | None = None,
    ) -> None:
        super().__init__(
            name="codestral-ls",
            version=__version__,
            protocol_cls=CodestralProtocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.environment = Environment.from_mapping(os.environ if environ is None else environ)
        self.documents = DocumentStore()
        self.notifier = Notifier(self._show_message)
        self.settings = Settings()
        connection = resolve_connection(self.settings, self.environment)
        #: The one HTTP client (connection pool) every request of this server goes through.
        self.http = make_http_client()
        #: Chat (code actions) and, on Mistral endpoints, completions and the model list.
        self.mistral = MistralClient(
            connection.endpoint,
            connection.api_key,
            timeout=self.settings.request_timeout,
            http=self.http,
        )
        #: Where completions go: ``mistral`` itself, or a self-hosted backend.
        self.backend: FimBackend = self.mistral
        self.engine = CompletionEngine(self.backend, self.notifier)
        self.engine.configure(self.settings, connection)
        #: The models the endpoint offers (codestral.listModels, prompt budgets).
        self.catalog: CatalogService = CatalogService(
            lambda: self.backend.list_models(),
            lambda: source_key(self.engine.connection.endpoint, self.engine.connection.api_key),
        )
        self.engine.context_length = self.catalog.context_length
        #: Sends ``codestral/status`` when the state or the model changes.
        self.status: StatusReporter = StatusReporter(self._send_status, lambda: self.settings.model)
        #: Whether the client asked for ``codestral/status`` (set in ``initialize``).
        self.wants_status = False
        self._status_logged: str | None = None
        self._initialization_options: Any = None
        self._workspace_settings: Any = None
        self._background: set[asyncio.Task[Any]] = set()
        #: True once shutdown or exit arrived.
        self.closing = False
        #: True once the client sent ``shutdown``.
        self.shutdown_requested = False
        #: The process exit code: 1 when the client exits without ``shutdown`` first.
        self.exit_code = 0
        #: Models picked with ``codestral.selectModel``, by kind; they apply unless a setting
        #: pins the model.  Filled from the state file by the models feature.
        self.selected_models: dict[str, str] = {}
        #: Set while the settings are current; cleared while a configuration pull is under way,
        #: so a completion never runs with settings the client is about to replace.
        self.settings_ready = asyncio.Event()
        self.settings_ready.set()
        #: Called inside ``initialize`` before capabilities are computed (see features).
        self.initialize_hooks: list[
            Callable[[CodestralLanguageServer, types.InitializeParams], None]
        ] = []
        if features is None:
            from .features import ALL_FEATURES

            features = ALL_FEATURES
        for feature in features:
            feature.register(self)

    # --- transport -----------------------------------------------------------------------

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        """Serve LSP over stdio, reading stdin through asyncio.

        pygls' own reader hands every header line and body to a thread pool (four thread
        round trips per message); an asyncio pipe reader costs a fraction of that per keystroke.
        Where stdin is not a pipe (a regular file, some Windows set-ups), pygls' reader is used.
        """
        self._stop_event = threading.Event()
        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
        source = stdin or sys.stdin.buffer
        try:
            asyncio.run(self._serve_pipe(source))
        except _NotAPipe:
            asyncio.run(
                run_async(
                    stop_event=self._stop_event,
                    reader=StdinAsyncReader(source, self.thread_pool),
                    protocol=self.protocol,
                    logger=logger,
                    error_handler=self.report_server_error,
                )
            )
        except BrokenPipeError:
            logger.error("the connection to the client is lost; shutting down")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.shutdown()

    async def _serve_pipe(self, source: BinaryIO) -> None:
        try:
            mode = os.fstat(source.fileno()).st_mode
        except (OSError, ValueError, AttributeError) as error:
            raise _NotAPipe from error
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            # epoll refuses regular files and /dev/null (and only says so later, in a callback)
            raise _NotAPipe
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_MESSAGE_BYTES)
        try:
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), source)
        except (ValueError, OSError, NotImplementedError) as error:
            logger.info("stdin is not a pipe (%s); using pygls' reader", error)
            raise _NotAPipe from error
        assert self._stop_event is not None
        await run_async(
            stop_event=self._stop_event,
            reader=reader,
            protocol=self.protocol,
            logger=logger,
            error_handler=self.report_server_error,
        )

    # --- settings ------------------------------------------------------------------------

    def update_settings(
        self, *, initialization_options: Any = None, workspace_settings: Any = None
    ) -> Settings:
        """Re-merge the settings layers after one of them changed and apply the result."""
        if initialization_options is not None:
            self._initialization_options = initialization_options
        if workspace_settings is not None:
            self._workspace_settings = workspace_settings
        layers = (self._initialization_options, self._workspace_settings)
        settings, problems = parse_settings(*layers)
        pinned = explicit_keys(*layers)
        overrides: dict[str, Any] = {
            MODEL_SETTING[kind]: model
            for kind, model in self.selected_models.items()
            if MODEL_SETTING[kind] not in pinned
        }
        settings = dataclasses.replace(settings, **overrides)
        # Each bad value is told once: re-merging (after a pull) repeats nothing already shown,
        # and a problem that was fixed is forgotten so it is told again if it comes back.
        current = {f"settings:{problem}": problem for problem in problems}
        for key in self.notifier.active:
            if key.startswith("settings:") and key not in current:
                self.notifier.resolve(key)
        for key, problem in current.items():
            self.notifier.once(key, problem, types.MessageType.Warning)
        connection = resolve_connection(settings, self.environment)
        add_secret(connection.api_key)
        self.settings = settings
        self.mistral.configure(
            endpoint=connection.endpoint,
            api_key=connection.api_key or "",
            timeout=settings.request_timeout,
        )
        kind = settings.backend
        if kind == "auto":
            kind = detect_backend(connection.endpoint)
        if kind != self.backend.kind:
            self.backend = (
                self.mistral
                if kind == "mistral"
                else create_backend(
                    kind,
                    endpoint=connection.endpoint,
                    api_key=connection.api_key,
                    timeout=settings.request_timeout,
                    http=self.http,
                )
            )
            self.engine.use_backend(self.backend)
        self.engine.configure(settings, connection)
        logger.info(
            "settings: backend=%s endpoint=%s model=%s key=%s",
            self.backend.kind,
            connection.endpoint,
            settings.model,
            connection.key_source or "none",
        )
        return settings

    def pinned_model_setting(self, kind: str) -> str | None:
        """The setting key that pins the model of ``kind``, if the user set it."""
        key = MODEL_SETTING[kind]
        pinned = explicit_keys(self._initialization_options, self._workspace_settings)
        return key if key in pinned else None

    def select_model(self, kind: str, model: str) -> bool:
        """Use ``model`` for ``kind`` from the next request on.

        Returns False (and changes nothing) when a setting pins the model of that kind.
        """
        if self.pinned_model_setting(kind) is not None:
            return False
        self.selected_models[kind] = model
        self.update_settings()
        return True

    async def wait_for_settings(self, timeout: float = 2.0) -> None:
        """Wait (briefly) for a configuration pull in progress to finish."""
        if self.settings_ready.is_set():
            return
        try:
            await asyncio.wait_for(self.settings_ready.wait(), timeout)
        except asyncio.TimeoutError:
            logger.warning("configuration pull took over %.0f s; using current settings", timeout)

    def stop_work(self) -> None:
        """Cancel background work and requests under way (shutdown or exit); from now on,
        failing to write to the closed client is expected and not reported."""
        self.closing = True
        for task in list(self._background):
            task.cancel()
        self.engine.close()

    async def close(self) -> None:
        """Stop background work and close the HTTP client (on shutdown)."""
        self.stop_work()
        await self.http.aclose()

    def background(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coroutine`` as a task the server keeps a reference to until it ends."""
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background_done)
        return task

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and isinstance(error := task.exception(), Exception):
            self.report_server_error(error, None)

    # --- messages ------------------------------------------------------------------------

    def _send_status(self, payload: dict[str, Any]) -> None:
        """Deliver a status: ``codestral/status`` to clients that opted in
        (:func:`codestral_ls.status.opted_in`), a ``window/logMessage`` line to the others.

        Other clients never see a method they do not know (lsp-mode pops up "Unknown
        notification" for each).  Their log line skips ``working``, which comes and goes with
        every request, and repeats of the state and model last logged.
        """
        if self.wants_status:
            self.protocol.notify(STATUS_NOTIFICATION, payload)
            return
        state = payload.get("state")
        key = f"{state} {payload.get('model')}"
        if state == "working" or key == self._status_logged or self.closing:
            return
        self._status_logged = key
        self.window_log_message(
            types.LogMessageParams(
                type=types.MessageType.Log,
                message=f"codestral: {state} ({payload.get('model')}): {payload.get('message')}",
            )
        )

    def _show_message(self, kind: types.MessageType, message: str) -> None:
        if not self.closing:
            self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Log internal errors, and tell the user once per kind instead of on every message.

        A failed request already carries its error in the response, and unreadable client
        messages are the client's bug: both are logged only.
        """
        if self.closing:
            logger.debug("after shutdown: %s", error)
            return
        if source in (FeatureRequestError, JsonRpcException) or isinstance(
            error, (AnsweredError, json.JSONDecodeError, JsonRpcException)
        ):
            logger.info("request failed (%s): %s", type(error).__name__, error)
            return
        logger.error("internal error (%s): %s", getattr(source, "__name__", source), error)
        self.notifier.once(
            f"internal:{type(error).__name__}",
            f"codestral-ls: internal error ({type(error).__name__}); see the server log.",
            types.MessageType.Error,
        )
