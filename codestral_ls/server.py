"""The language server: a class that owns its services; features register themselves."""

from __future__ import annotations

import asyncio
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
from .backends import Backend, create_backend, detect_backend, make_http_client
from .backends.probe import PROBE_TIMEOUT, EndpointProbe
from .catalog import CatalogService, source_key
from .documents import Cursor, Document, DocumentStore
from .engine import CompletionEngine, Suggestion
from .health import Health
from .logs import ClientLogHandler, add_secret, attach_client_log, detach_client_log
from .notify import Notifier
from .settings import (
    MODEL_SETTING,
    Environment,
    Settings,
    burst_debounce_by_default,
    resolve_settings,
)
from .status import NOTIFICATION as STATUS_NOTIFICATION
from .status import StatusReporter
from .xcontext import ContextGatherer, GatheredContext, context_budget

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

    def _send_handler_result(self, future: Any, *, msg_id: Any) -> None:
        """Answer a request whose handler finished.

        A handler that refuses a request (a :class:`JsonRpcException`: bad arguments, a
        command that could not do its job) is an expected outcome: logged at INFO without a
        traceback, where pygls logs an ERROR with one.
        """
        if not future.cancelled() and isinstance(error := future.exception(), JsonRpcException):
            self._request_futures.pop(msg_id, None)
            logger.info("request %s refused: %s", msg_id, error.message)
            self._send_response(msg_id, error=error.to_response_error())
            return
        super()._send_handler_result(future, msg_id=msg_id)

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
        self._server.context.touch(params.text_document.uri)
        self._user_handler(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> None:
        self._server.documents.change(params)
        self._server.record_edits(params)
        self._server.engine.note_change(params.text_document.uri)
        self._user_handler(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> None:
        self._server.documents.close(params.text_document.uri)
        self._server.context.forget(params.text_document.uri)
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
        #: The settings layers merged (see :func:`~codestral_ls.settings.resolve_settings`).
        self.resolved = resolve_settings(self.environment)
        self.settings = self.resolved.settings
        connection = self.resolved.connection
        #: The one HTTP client (connection pool) every request of this server goes through.
        self.http = make_http_client()
        #: Where completions, chat (code actions) and the model list go.
        self.backend: Backend = create_backend(
            self.resolved.backend,
            endpoint=connection.endpoint,
            api_key=connection.api_key,
            timeout=self.settings.request_timeout,
            http=self.http,
        )
        #: What each endpoint is (``backend: "auto"``) and the context it runs with.
        self.probe = EndpointProbe(self.http, detect_backend)
        #: The context size reads, by (kind, endpoint, model): asked once.
        self._context_reads: dict[tuple[str, str, str], asyncio.Future[int | None]] = {}
        self._context_told: dict[tuple[str, str, str], bool] = {}
        #: Whether completions may go out (pauses), the user messages about them and the state
        #: ``codestral/status`` reports.
        self.health = Health(self.notifier)
        self.engine = CompletionEngine(self.backend, self.health)
        self.engine.configure(self.settings, connection)
        self.health.configure(
            self.settings,
            connection,
            requires_key=self.backend.requires_key,
            backend=self.backend.kind,
        )
        #: The models the endpoint offers (codestral.listModels, prompt budgets).
        self.catalog: CatalogService = CatalogService(
            lambda: self.backend.list_models(),
            lambda: source_key(self.engine.connection.endpoint, self.engine.connection.api_key),
        )
        self.engine.context_length = self._context_length
        #: Cross-file context (docs/context.md): sources and their caches.
        self.context = ContextGatherer()
        self.engine.context_provider = self.gather_context
        #: Sends ``codestral/status`` when the state or the model changes.
        self.status: StatusReporter = StatusReporter(self._send_status, lambda: self.settings.model)
        #: Whether the client asked for ``codestral/status`` (set in ``initialize``).
        self.wants_status = False
        self._status_logged: str | None = None
        #: Called after every state change of the health object (features add theirs here;
        #: the server forwards each change to the status reporter first).
        self.state_listeners: list[Callable[[], None]] = []
        #: Told about every suggestion returned to the client (the statistics feature).
        self.suggestion_listeners: list[Callable[[Document, Suggestion], None]] = []
        self.health.listeners.append(self._health_state)
        self._initialization_options: Any = None
        self._workspace_settings: Any = None
        self._background: set[asyncio.Task[Any]] = set()
        #: Sends log records to the client once it is connected (see :meth:`log_to_client`).
        self._client_log: ClientLogHandler | None = None
        #: Whether this client debounces and cancels inline requests itself (VS Code): it then
        #: gets the burst debounce unless the user set ``debounceMs``/``adaptiveDebounce``.
        self.client_debounces = False
        #: The last settings summary logged: a re-merge that changes nothing logs nothing.
        self._settings_summary: str | None = None
        #: True once shutdown or exit arrived.
        self.closing = False
        #: True once the client sent ``shutdown``.
        self.shutdown_requested = False
        #: The process exit code: 1 when the client exits without ``shutdown`` first.
        self.exit_code = 0
        #: Models picked with ``codestral.selectModel``, by endpoint (as the backend normalises
        #: it) and kind; they apply on their endpoint unless a setting pins the model.  Filled
        #: from the state file by the models feature.
        self.selected_models: dict[str, dict[str, str]] = {}
        #: Set while the settings are current; cleared while a configuration pull is under way,
        #: so a completion never runs with settings the client is about to replace.
        self.settings_ready = asyncio.Event()
        self.settings_ready.set()
        #: Called inside ``initialize`` before capabilities are computed (see features).
        self.initialize_hooks: list[
            Callable[[CodestralLanguageServer, types.InitializeParams], None]
        ] = []
        #: Called once ``initialized`` arrived and the configuration pull after it is over.
        self.initialized_hooks: list[Callable[[CodestralLanguageServer], None]] = []
        #: Called after every settings change, with the new settings (see features).
        self.settings_hooks: list[Callable[[Settings], None]] = []
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
            self.stop_client_log()
            logger.error("the connection to the client is lost; shutting down")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.stop_client_log()
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

    # --- cross-file context --------------------------------------------------------------

    def record_edits(self, params: types.DidChangeTextDocumentParams) -> None:
        """Feed a ``didChange`` to the recent-edits source."""
        uri = params.text_document.uri
        for change in params.content_changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                self.context.edited(uri, change.range.start.line, change.text)
            else:
                self.context.touch(uri)

    def gather_context(
        self, document: Document, cursor: Cursor, settings: Settings, room: int | None
    ) -> GatheredContext:
        """The engine's context provider: the context for a cursor from the open documents."""
        budget = context_budget(settings, room)
        if budget <= 0:
            return GatheredContext(path=self.context.workspace.relative(document.uri))
        documents = self.context.by_recency(self.documents.all())
        return self.context.gather(document, cursor, documents, settings, budget)

    # --- settings ------------------------------------------------------------------------

    def update_settings(
        self, *, initialization_options: Any = None, workspace_settings: Any = None
    ) -> Settings:
        """Re-merge the settings layers after one of them changed and apply the result."""
        if initialization_options is not None:
            self._initialization_options = initialization_options
        if workspace_settings is not None:
            self._workspace_settings = workspace_settings
        resolved = resolve_settings(
            self.environment,
            self._initialization_options,
            self._workspace_settings,
            self.selected_models,
            kind_of=self.backend_kind,
        )
        self.resolved = resolved
        settings, connection = resolved.settings, resolved.connection
        self.engine.burst_debounce = self.client_debounces and not (
            {"debounceMs", "adaptiveDebounce"} & resolved.pinned
        )
        # Each bad value is told once: re-merging (after a pull) repeats nothing already shown,
        # and a problem that was fixed is forgotten so it is told again if it comes back.
        current = {f"settings:{problem}": problem for problem in resolved.problems}
        for key in self.notifier.active:
            if key.startswith("settings:") and key not in current:
                self.notifier.resolve(key)
        for key, problem in current.items():
            self.notifier.once(key, problem, types.MessageType.Warning)
        add_secret(connection.api_key)
        if resolved.backend != self.backend.kind:
            self.backend = create_backend(
                resolved.backend,
                endpoint=connection.endpoint,
                api_key=connection.api_key,
                timeout=settings.request_timeout,
                http=self.http,
            )
            self.engine.use_backend(self.backend)
        self.backend.configure(
            endpoint=connection.endpoint,
            api_key=connection.api_key or "",
            timeout=settings.request_timeout,
        )
        self.settings = settings
        self.engine.configure(settings, connection)
        self.health.configure(
            settings, connection, requires_key=self.backend.requires_key, backend=self.backend.kind
        )
        for hook in self.settings_hooks:
            hook(settings)
        summary = (
            f"settings: backend={self.backend.kind} endpoint={connection.endpoint} "
            f"model={settings.model} key={connection.key_source or 'none'} debounce="
            + ("burst" if self.engine.burst_debounce else f"{settings.debounceMs}ms")
        )
        if summary != self._settings_summary:
            self._settings_summary = summary
            logger.info("%s", summary)
        return settings

    def identify_client(self, params: types.InitializeParams) -> None:
        """Note who the client is (its debounce default depends on it)."""
        info = params.client_info
        text_document = params.capabilities.text_document
        inline = text_document is not None and text_document.inline_completion is not None
        self.client_debounces = burst_debounce_by_default(info.name if info else None, inline)
        logger.info(
            "client: %s %s",
            info.name if info else "unknown",
            (info.version or "") if info else "",
        )

    def backend_kind(self, setting: str, endpoint: str) -> str:
        """The kind of backend for the ``backend`` setting: ``auto`` is what the probe found
        (or, until it has answered, what the URL suggests); ``openai`` on a llama-server is
        ``llamacpp`` (its ``/v1/completions`` ignores the suffix)."""
        if setting not in ("auto", "openai"):
            return setting
        detection = self.probe.cached(endpoint)
        if setting == "openai":
            return "llamacpp" if detection is not None and detection.kind == "llamacpp" else setting
        return detection.kind if detection is not None else detect_backend(endpoint)

    async def ensure_backend(self) -> None:
        """Probe the endpoint once for ``backend: "auto"`` and switch to what answered; ask a
        local server once for its context size (both cached)."""
        endpoint = self.engine.connection.endpoint
        if self.engine.connection.problem:
            return  # nothing goes to this endpoint (plain HTTP to another machine)
        if self.settings.backend in ("auto", "openai") and self.probe.cached(endpoint) is None:
            try:
                await asyncio.wait_for(self.probe.detect(endpoint), PROBE_TIMEOUT * 2)
            except asyncio.TimeoutError:
                logger.info("probing %s took too long; the URL decides for now", endpoint)
                return
            if (
                self.engine.connection.endpoint == endpoint
                and self.backend_kind(self.settings.backend, endpoint) != self.backend.kind
            ):
                self.update_settings()
        kind, model = self.backend.kind, self.settings.model
        if kind not in ("llamacpp", "ollama"):
            return
        asked = (kind, endpoint, model)
        reading = self._context_reads.get(asked)
        if reading is None:  # once per server, model and endpoint; later callers share it
            reading = asyncio.ensure_future(self.probe.read_context_size(kind, endpoint, model))
            self._context_reads[asked] = reading
        size = await asyncio.shield(reading)
        if size and not self._context_told.get(asked):
            self._context_told[asked] = True
            source = self.probe.context_source(endpoint, model)
            logger.info("context of %s at %s: %d tokens (%s)", model, endpoint, size, source)

    def _context_length(self, model: str) -> int | None:
        """The context ``model`` runs with: what the server said, else the catalog's."""
        served = self.probe.context_size(self.engine.connection.endpoint, model)
        listed = self.catalog.context_length(model)
        if served and listed:
            return min(served, listed)
        return served or listed

    def pinned_model_setting(self, kind: str) -> str | None:
        """The setting key that pins the model of ``kind``, if the user set it."""
        key = MODEL_SETTING[kind]
        return key if key in self.resolved.pinned else None

    def select_model(self, kind: str, model: str) -> bool:
        """Use ``model`` for ``kind`` from the next request on.

        Returns False (and changes nothing) when a setting pins the model of that kind.
        """
        if self.pinned_model_setting(kind) is not None:
            return False
        self.selected_models.setdefault(self.resolved.endpoint_key, {})[kind] = model
        self.update_settings()
        return True

    def forget_model(self, kind: str) -> None:
        """Stop using the model picked for ``kind`` on the current endpoint."""
        chosen = self.selected_models.get(self.resolved.endpoint_key, {})
        if chosen.pop(kind, None) is not None:
            self.update_settings()

    async def wait_for_settings(self, timeout: float = 2.0) -> None:
        """Wait (briefly) for a configuration pull in progress to finish, then for the
        endpoint's probe (:meth:`ensure_backend`)."""
        if not self.settings_ready.is_set():
            try:
                await asyncio.wait_for(self.settings_ready.wait(), timeout)
            except asyncio.TimeoutError:
                logger.warning(
                    "configuration pull took over %.0f s; using current settings", timeout
                )
        await self.ensure_backend()

    def stop_work(self) -> None:
        """Cancel background work and requests under way (shutdown or exit); from now on,
        failing to write to the closed client is expected and not reported."""
        self.closing = True
        self.stop_client_log()
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

    def _health_state(self, state: str, message: str, extra: dict[str, Any]) -> None:
        self.status.update(state, message, extra)
        for listener in list(self.state_listeners):
            listener()

    def log_to_client(self) -> None:
        """Send log records to the client as ``window/logMessage`` from now on (stderr then
        keeps only crashes).  Called once the client has sent ``initialize``."""
        if self._client_log is None and not self.closing:
            self._client_log = attach_client_log(self._log_message)

    def stop_client_log(self) -> None:
        """Log to stderr (or the log file) only, as before the client connected."""
        if self._client_log is not None:
            detach_client_log(self._client_log)
            self._client_log = None

    def _log_message(self, kind: types.MessageType, message: str) -> None:
        if not self.closing:
            self.window_log_message(types.LogMessageParams(type=kind, message=message))

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
