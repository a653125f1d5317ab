"""Logging set-up: stderr or a file, never stdout (stdout carries the protocol).

Once a client is connected, log records also go to it as ``window/logMessage`` with the
matching ``MessageType`` (:class:`ClientLogHandler`), and stderr keeps only what cannot reach the
client (crashes, a lost connection).  ``--log-file`` keeps receiving everything.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Callable, Iterable

from lsprotocol import types

#: Libraries whose debug output would include request payloads or initializationOptions.
QUIET_LOGGERS = ("pygls", "httpx", "httpcore", "hpack", "h2", "asyncio")


class RedactingFilter(logging.Filter):
    """Replaces every secret in a formatted record by ``***`` (defence in depth)."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        cleaned = message
        for secret in self.secrets:
            cleaned = cleaned.replace(secret, "***")
        if cleaned != message or record.exc_info:
            if record.exc_info:
                text = logging.Formatter().formatException(record.exc_info)
                for secret in self.secrets:
                    text = text.replace(secret, "***")
                record.exc_info = None
                record.exc_text = None
                cleaned = f"{cleaned}\n{text}"
            record.msg = cleaned
            record.args = None
        return True


#: pygls messages about routine races, not worth a warning: logged at DEBUG instead.
ROUTINE_PYGLS_MESSAGES = ("Cancel notification for unknown message id",)

#: How records reach the client: (message type, text).
SendLog = Callable[[types.MessageType, str], None]


def message_type(level: int) -> types.MessageType:
    """The LSP message type of a logging level."""
    if level >= logging.ERROR:
        return types.MessageType.Error
    if level >= logging.WARNING:
        return types.MessageType.Warning
    if level >= logging.INFO:
        return types.MessageType.Info
    return types.MessageType.Debug


class RoutineFilter(logging.Filter):
    """Turns pygls' routine race warnings (a cancel for a request already answered) into
    DEBUG records, dropped unless DEBUG logging is on."""

    def filter(self, record: logging.LogRecord) -> bool:
        routine = isinstance(record.msg, str) and record.msg.startswith(ROUTINE_PYGLS_MESSAGES)
        if routine and record.levelno > logging.DEBUG:
            if not logging.getLogger().isEnabledFor(logging.DEBUG):
                return False
            record.levelno = logging.DEBUG
            record.levelname = "DEBUG"
        return True


class ClientLogHandler(logging.Handler):
    """Sends log records to the client as ``window/logMessage``.

    The text has no timestamp and no level: the client shows both (VS Code's log channel tags
    each line with its level).  Records logged while one is being sent (pygls logging its own
    write) are dropped rather than sent recursively; records from other threads are handed to
    the event loop's thread.
    """

    def __init__(self, send: SendLog, loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__()
        self._send = send
        self._loop = loop
        self._thread = threading.get_ident()
        self._sending = False
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if self._sending:
            return
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        kind = message_type(record.levelno)
        if threading.get_ident() != self._thread and self._loop is not None:
            self._loop.call_soon_threadsafe(self._deliver, kind, text)
        else:
            self._deliver(kind, text)

    def _deliver(self, kind: types.MessageType, text: str) -> None:
        self._sending = True
        try:
            self._send(kind, text)
        except Exception:  # a closing transport: this record is lost, never the caller
            pass
        finally:
            self._sending = False


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """The stderr handler of :func:`configure_logging` (quiet while a client gets the log)."""


def _is_stderr_handler(handler: logging.Handler) -> bool:
    return isinstance(handler, StderrHandler)


def attach_client_log(send: SendLog) -> ClientLogHandler:
    """Send log records to the client from now on; stderr keeps only CRITICAL records.

    The handler shares the secrets of the existing redacting filter, so a key that arrives
    later (:func:`add_secret`) is scrubbed from the client's log too.
    """
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    handler = ClientLogHandler(send, loop)
    root = logging.getLogger()
    secrets: list[str] = []
    for existing in root.handlers:
        for log_filter in existing.filters:
            if isinstance(log_filter, RedactingFilter):
                secrets = log_filter.secrets
        if _is_stderr_handler(existing):
            existing.setLevel(logging.CRITICAL)
    redacting = RedactingFilter(())
    redacting.secrets = secrets  # shared: add_secret() reaches both handlers
    handler.addFilter(redacting)
    root.addHandler(handler)
    return handler


def detach_client_log(handler: ClientLogHandler) -> None:
    """Stop sending to the client (shutdown, lost connection); stderr takes over again."""
    root = logging.getLogger()
    root.removeHandler(handler)
    for existing in root.handlers:
        if _is_stderr_handler(existing):
            existing.setLevel(logging.NOTSET)


def add_secret(secret: str | None) -> None:
    """Scrub ``secret`` from every log line from now on (keys that arrive through settings)."""
    if not secret or len(secret) < 4:
        return
    for handler in logging.getLogger().handlers:
        for log_filter in handler.filters:
            if isinstance(log_filter, RedactingFilter) and secret not in log_filter.secrets:
                log_filter.secrets.append(secret)


def configure_logging(
    level: str = "WARNING", log_file: str | None = None, secrets: Iterable[str | None] = ()
) -> None:
    """Send codestral-ls logs to ``log_file`` or stderr at ``level``; keep libraries quiet."""
    handler: logging.Handler
    if log_file:
        handler = logging.FileHandler(log_file, encoding="utf-8")
    else:
        handler = StderrHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    pygls_rpc = logging.getLogger("pygls.protocol.json_rpc")
    if not any(isinstance(f, RoutineFilter) for f in pygls_rpc.filters):
        pygls_rpc.addFilter(RoutineFilter())
