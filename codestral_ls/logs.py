"""Logging set-up: stderr or a file, never stdout (stdout carries the protocol)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

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
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
