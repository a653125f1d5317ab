"""Errors raised by the Mistral client, and helpers turning HTTP error responses into them.

Every exception carries ``.message`` (one readable sentence, safe to show to a user; it never
contains the API key) and ``.status`` (the HTTP status, or ``None`` when no response arrived).

Hierarchy::

    MistralError
    ├── AuthenticationError   401 / 403
    ├── BadRequestError       400 / 404 / 422 and other 4xx (keeps the server's message)
    ├── RateLimitedError      429 (``.retry_after`` seconds, when the server said)
    ├── ServerError           5xx
    │   └── ProtocolError     a 2xx answer we could not understand (bad JSON, broken SSE)
    ├── UpstreamTimeout       the request timed out (connect, read, pool) or HTTP 408
    └── NetworkError          connection refused/reset, DNS failure, HTTP protocol errors

``ProtocolError`` subclasses ``ServerError`` on purpose: an unparseable success body is the
server's fault and callers should treat it like any other transient server failure.
"""

from __future__ import annotations

import email.utils
import html
import json
import math
import re
import time
from collections.abc import Mapping
from datetime import timezone
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "MistralError",
    "NetworkError",
    "ProtocolError",
    "RateLimitedError",
    "ServerError",
    "UpstreamTimeout",
    "describe_error_body",
    "endpoint_host",
    "error_from_response",
    "parse_retry_after",
    "redact_bearer",
]

_MAX_DESCRIPTION = 200
_MAX_DEPTH = 6


class MistralError(Exception):
    """Base class of every error raised while talking to the Mistral API."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r})"

    def _set_message(self, message: str) -> None:
        """Replace the message (used by the client to scrub secrets)."""
        self.message = message
        self.args = (message,)


class AuthenticationError(MistralError):
    """The endpoint rejected the API key (HTTP 401/403), or no key was configured."""


class BadRequestError(MistralError):
    """The request was refused as invalid (HTTP 400/404/422, other 4xx).

    ``detail`` is the server's own explanation, ``model`` the model the request asked for,
    ``error_type`` and ``code`` the ``type`` and ``code`` fields of a JSON error body.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        model: str | None = None,
        detail: str = "",
        error_type: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, status=status)
        self.model = model
        self.detail = detail
        self.error_type = error_type
        self.code = code

    @property
    def is_unknown_model(self) -> bool:
        """True only for the documented "no such model" answers (see ``_UNKNOWN_MODEL``).

        Any other refusal - even one whose message names the model, such as a prompt too long
        for it - is not: it must not pause completions.
        """
        if self.status not in (400, 404):
            return False
        if self.code in _UNKNOWN_MODEL_CODES or self.error_type in _UNKNOWN_MODEL_CODES:
            return True
        return any(pattern.search(self.detail) for pattern in _UNKNOWN_MODEL)


#: ``type`` or ``code`` of a JSON error body meaning "no such model": Mistral's 400
#: ``{"type": "invalid_model", "code": "1500"}``, OpenAI's 404 ``model_not_found``, Azure's
#: ``DeploymentNotFound``.
_UNKNOWN_MODEL_CODES = frozenset({"invalid_model", "1500", "model_not_found", "DeploymentNotFound"})
_NAME = r"""\s+[`'"]?[^\s`'"]+[`'"]?\s+"""
#: The messages of those answers: Mistral's ``Invalid model: x``, Ollama's 404
#: ``model "x" not found, try pulling it first``, OpenAI's and vLLM's 404
#: ``The model `x` does not exist``.
_UNKNOWN_MODEL = (
    re.compile(r"^invalid model\b", re.IGNORECASE),
    re.compile(rf"^model{_NAME}(?:is\s+)?not found\b", re.IGNORECASE),
    re.compile(rf"^(?:the\s+)?model{_NAME}does not exist\b", re.IGNORECASE),
)


class RateLimitedError(MistralError):
    """HTTP 429; ``retry_after`` is the server's requested back-off in seconds, if any."""

    def __init__(
        self, message: str, *, status: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ServerError(MistralError):
    """The server failed (HTTP 5xx)."""


class ProtocolError(ServerError):
    """A successful status carried a body we could not parse (bad JSON, malformed SSE)."""


class UpstreamTimeout(MistralError):
    """The request did not complete in time."""


class NetworkError(MistralError):
    """The endpoint could not be reached or the connection broke."""


# --------------------------------------------------------------------------------------------
# Helpers


def endpoint_host(endpoint: str) -> str:
    """The host (with an explicit port, if any) of an endpoint URL, for messages."""
    try:
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return endpoint
    if not host:
        return endpoint
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{host}:{port}" if port else host


def _status_line(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
    return f"HTTP {status} {phrase}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _truncate(text: str, limit: int = _MAX_DESCRIPTION) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


_BEARER_RE = re.compile(r"(?i)\bbearer\s+[^\s\"',;]+")


def redact_bearer(text: str) -> str:
    """Hide ``Bearer <token>`` credentials in a piece of text."""
    return _BEARER_RE.sub("Bearer [redacted]", text)


def _is_validation_item(obj: Mapping[str, Any]) -> bool:
    return isinstance(obj.get("msg"), str) and "loc" in obj


def _format_validation_item(obj: Mapping[str, Any]) -> str:
    msg = str(obj.get("msg", "")).strip()
    loc = obj.get("loc")
    if isinstance(loc, (list, tuple)):
        where = ".".join(str(part) for part in loc)
    elif loc is None:
        where = ""
    else:
        where = str(loc)
    return f"{where}: {msg}" if where else msg


_MESSAGE_KEYS = ("message", "detail", "error", "error_description", "msg", "title", "description")


def _describe_json(obj: Any, depth: int = 0) -> str | None:
    if depth > _MAX_DEPTH:
        return None
    if isinstance(obj, str):
        return obj.strip() or None
    if isinstance(obj, list):
        parts: list[str] = []
        for item in obj:
            part = _describe_json(item, depth + 1)
            if part and part not in parts:
                parts.append(part)
        return "; ".join(parts) or None
    if isinstance(obj, dict):
        if _is_validation_item(obj):
            return _format_validation_item(obj) or None
        for key in _MESSAGE_KEYS:
            if key in obj:
                found = _describe_json(obj[key], depth + 1)
                if found:
                    return found
        return None
    return None


_HTML_HINT_RE = re.compile(r"<\s*(!doctype|html|head|body|title|h[1-6]|p|div|center|pre)\b", re.I)
_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.I | re.S)
_DROP_BLOCKS_RE = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.I | re.S)
_COMMENT_RE = re.compile(r"<!--.*?-->", re.S)
_TAG_RE = re.compile(r"<[^>]*>")


def _strip_tags(fragment: str) -> str:
    return _one_line(html.unescape(_TAG_RE.sub(" ", fragment)))


def _describe_text(text: str) -> str:
    if not _HTML_HINT_RE.search(text):
        return text
    title = _TITLE_RE.search(text)
    if title:
        found = _strip_tags(title.group(1))
        if found:
            return found
    body = _COMMENT_RE.sub(" ", _DROP_BLOCKS_RE.sub(" ", text))
    return _strip_tags(body)


def describe_error_body(body: bytes | str | None, status: int) -> str:
    """Turn an error response body into one short line of text.

    Understands Mistral's ``{"object": "error", "message": ...}``, FastAPI's
    ``{"detail": [...]}`` validation lists and ``{"detail": "..."}``, OpenAI-style
    ``{"error": {"message": ...}}``, nested messages, HTML error pages and plain text.  Falls
    back to the status line (``"HTTP 502 Bad Gateway"``) when the body says nothing useful.
    """
    if body is None:
        text = ""
    elif isinstance(body, (bytes, bytearray, memoryview)):
        text = bytes(body).decode("utf-8", errors="replace")
    else:
        text = str(body)
    text = text.strip().lstrip("\ufeff")
    if not text:
        return _status_line(status)

    description: str | None
    try:
        parsed = json.loads(text)
    except ValueError:
        description = _describe_text(text)
    else:
        description = _describe_json(parsed)
        if description is None:
            if isinstance(parsed, (dict, list)):
                description = json.dumps(parsed, ensure_ascii=False) if parsed else ""
            else:
                description = "" if parsed is None else str(parsed)

    description = _one_line(redact_bearer(description))
    if not description:
        return _status_line(status)
    return _truncate(description)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds):
            return max(0.0, seconds)
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:  # pragma: no cover - older Pythons returned None
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def _format_seconds(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.3g} s"
    return f"{round(seconds)} s"


def _error_kind(body: bytes | str | None) -> tuple[str | None, str | None]:
    """The ``type`` and ``code`` of a JSON error body (top level or under ``error``)."""
    try:
        parsed = json.loads(body or b"")
    except (ValueError, TypeError):
        return None, None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        parsed = parsed["error"]
    if not isinstance(parsed, dict):
        return None, None

    def text(value: Any) -> str | None:
        return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None

    return text(parsed.get("type")), text(parsed.get("code"))


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    endpoint: str,
    model: str | None,
    key_sent: bool = True,
) -> MistralError:
    """Build the right :class:`MistralError` for a non-2xx response.

    ``endpoint`` is the endpoint URL (only its host is used in messages), ``model`` the model
    the request asked for, if any, and ``key_sent`` whether an ``Authorization`` header went
    out (changes the wording of 401/403 messages).
    """
    host = endpoint_host(endpoint)
    detail = describe_error_body(body, status)
    status_line = _status_line(status)

    if status in (401, 403):
        if not key_sent:
            message = (
                f"No API key is configured and {host} requires one ({status_line}: {detail}); "
                "note that keys for codestral.mistral.ai and api.mistral.ai are different."
            )
        else:
            message = (
                f"The API key was rejected by {host} ({status_line}: {detail}); keys for "
                "codestral.mistral.ai and api.mistral.ai are different, so check that the key "
                "was issued for this endpoint."
            )
        return AuthenticationError(message, status=status)

    if status == 429:
        retry_after = parse_retry_after(_header(headers, "Retry-After"))
        message = f"Rate limited by {host} ({status_line}: {detail})"
        if retry_after is not None:
            message += f"; retry after {_format_seconds(retry_after)}"
        return RateLimitedError(message + ".", status=status, retry_after=retry_after)

    if status == 408:
        return UpstreamTimeout(
            f"{host} timed out the request ({status_line}: {detail}).", status=status
        )

    if 400 <= status < 500:
        about = f" for model {model!r}" if model else ""
        message = f"{host} rejected the request{about} ({status_line}): {detail}"
        error_type, code = _error_kind(body)
        return BadRequestError(
            message, status=status, model=model, detail=detail, error_type=error_type, code=code
        )

    if 500 <= status < 600:
        return ServerError(f"{host} failed to answer ({status_line}): {detail}", status=status)

    return MistralError(f"Unexpected response from {host} ({status_line}): {detail}", status=status)
