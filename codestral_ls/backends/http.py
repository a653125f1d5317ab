"""HTTP plumbing shared by every completion backend (Mistral, Ollama, OpenAI-compatible).

* :func:`make_http_client` - the one definition of the pooled ``httpx.AsyncClient`` settings;
  several backends may share one client (one connection pool).
* :class:`HttpBackend` - endpoint/key/timeout handling, ``configure()``, the ``_guard`` that
  maps httpx failures to :class:`~codestral_ls.backends.errors.BackendError` and scrubs the key
  out of every message, JSON requests and streamed requests.
* :class:`EventStream` - the one reader of streamed answers (SSE or NDJSON), draining the rest
  of the body once the caller has seen the end marker so the connection goes back to the pool.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import aclosing, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from codestral_ls import __version__
from codestral_ls.mistral.requests import ChatRequest, FimRequest

from .errors import (
    BackendError,
    NetworkError,
    ProtocolError,
    ServerError,
    UpstreamTimeout,
    describe_error_body,
    endpoint_host,
    error_from_response,
    redact_bearer,
)

__all__ = [
    "USER_AGENT",
    "Completion",
    "EventStream",
    "HttpBackend",
    "clean_key",
    "completion_from",
    "content_text",
    "first_choice",
    "is_error_payload",
    "make_http_client",
    "normalize_base_url",
    "sse_events",
]

log = logging.getLogger(__name__)

USER_AGENT = f"codestral-ls/{__version__}"

_REDACTED = "[redacted]"

_B = TypeVar("_B", bound="HttpBackend")


def make_http_client(
    *, timeout: float = 10.0, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The pooled HTTP client every backend uses: HTTP/2 when the server offers it, idle
    connections kept for 5 minutes (a completion after a pause skips the TLS handshake),
    certificates verified, redirects not followed (they would resend the key elsewhere)."""
    return httpx.AsyncClient(
        http2=True,
        limits=httpx.Limits(max_keepalive_connections=4, max_connections=8, keepalive_expiry=300),
        headers={"User-Agent": USER_AGENT},
        verify=True,
        timeout=httpx.Timeout(float(timeout)),
        follow_redirects=False,
        transport=transport,
    )


def normalize_base_url(
    endpoint: str,
    *,
    default_scheme: str = "https",
    strip_suffixes: tuple[str, ...] = ("/v1",),
    what: str = "endpoint URL",
) -> str:
    """Strip whitespace and trailing slashes, add ``default_scheme://`` when no scheme is
    given and drop one trailing API prefix (``/v1``…: the request paths already carry it)."""
    value = endpoint.strip()
    if not value:
        raise ValueError(f"the {what} must not be empty")
    if "://" not in value:
        value = f"{default_scheme}://{value}"
    value = value.rstrip("/")
    for suffix in strip_suffixes:
        if value.endswith(suffix):
            value = value[: -len(suffix)].rstrip("/")
            break
    return value


def clean_key(api_key: str | None) -> str | None:
    """Strip whitespace (keys pasted with a newline are common); empty means no key."""
    if api_key is None:
        return None
    return api_key.strip() or None


def content_text(content: Any) -> str:
    """Text of a message/delta ``content``: a string, or a list of content chunks."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for chunk in content:
            if isinstance(chunk, str):
                parts.append(chunk)
            elif isinstance(chunk, dict) and chunk.get("type", "text") == "text":
                text = chunk.get("text")
                if isinstance(text, str):
                    parts.append(text)
        return "".join(parts)
    return ""


def first_choice(payload: dict[str, Any]) -> dict[str, Any] | None:
    """``payload["choices"][0]`` when it is an object."""
    choices = payload.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return None


def is_embedding_model(name: str) -> bool:
    """Whether a model name says it is an embedding model (no completions, no chat)."""
    lowered = name.lower()
    return "embed" in lowered or "bge-" in lowered or "minilm" in lowered


def is_error_payload(payload: dict[str, Any]) -> bool:
    """An error object where a completion was expected (Mistral/vLLM or OpenAI shape)."""
    return payload.get("object") == "error" or ("choices" not in payload and "error" in payload)


@dataclass(frozen=True)
class Completion:
    """The first choice of a (FIM or chat) completion response."""

    text: str
    finish_reason: str | None
    model: str | None
    usage: dict[str, Any] | None


def completion_from(payload: Any, host: str, status: int) -> Completion:
    """The first choice of a completion answer: ``message.content`` (chat/FIM) or ``text``
    (OpenAI-style ``/v1/completions``); an error payload or a non-object is a typed error."""
    if not isinstance(payload, dict):
        raise ProtocolError(f"{host} sent an unexpected completion response.", status=status)
    if is_error_payload(payload):
        raise ServerError(
            f"{host} reported an error: {describe_error_body(json.dumps(payload), status)}",
            status=status,
        )
    text = ""
    finish_reason: str | None = None
    choice = first_choice(payload)
    if choice is not None:
        message = choice.get("message")
        if isinstance(message, dict):
            text = content_text(message.get("content"))
        elif "text" in choice:
            text = content_text(choice.get("text"))
        elif isinstance(delta := choice.get("delta"), dict):  # a chunk from a lenient server
            text = content_text(delta.get("content"))
        reason = choice.get("finish_reason")
        finish_reason = reason if isinstance(reason, str) else None
    model = payload.get("model")
    usage = payload.get("usage")
    return Completion(
        text=text,
        finish_reason=finish_reason,
        model=model if isinstance(model, str) else None,
        usage=usage if isinstance(usage, dict) else None,
    )


# --------------------------------------------------------------------------------------------
# Streamed bodies


class EventStream:
    """The one reader of streamed answers: server-sent events (``framing="sse"``: Mistral,
    OpenAI-compatible servers, llama.cpp's ``/infill``) or newline-delimited JSON
    (``framing="ndjson"``: Ollama).

    :meth:`data` yields the ``data`` of each SSE event (multi-line data joined with ``\\n``;
    comments, ``event:``/``id:``/``retry:`` and unknown fields skipped; CRLF fine; an event left
    without its blank line at the end of the body delivered too) or each non-blank NDJSON line.
    The caller recognises its end marker (``[DONE]``, ``"done": true``…) and calls
    :meth:`finish`: the rest of the body is then read but not yielded, so it is consumed to its
    end and the connection is reused; a network error during that drain is ignored (everything
    was delivered already).
    """

    def __init__(self, response: httpx.Response, framing: str = "sse") -> None:
        if framing not in ("sse", "ndjson"):
            raise ValueError(f"unknown framing {framing!r}")
        self._response = response
        self._sse = framing == "sse"
        self.finished = False

    def finish(self) -> None:
        self.finished = True

    async def data(self) -> AsyncGenerator[str, None]:
        pending: list[str] = []
        try:
            async for line in self._response.aiter_lines():
                if self.finished:
                    continue
                if not self._sse:
                    if line.strip():
                        yield line
                    continue
                if not line:
                    if pending:
                        data = "\n".join(pending)
                        pending = []
                        yield data
                    continue
                if line.startswith(":"):
                    continue  # comment / keep-alive
                field, _, value = line.partition(":")
                if field == "data":
                    pending.append(value[1:] if value.startswith(" ") else value)
        except httpx.TransportError:
            if self.finished:
                return
            raise
        if pending and not self.finished:
            yield "\n".join(pending)


def sse_events(response: httpx.Response) -> AsyncGenerator[str, None]:
    """The ``data`` of each server-sent event of ``response`` (see :class:`EventStream`)."""
    return EventStream(response, "sse").data()


# --------------------------------------------------------------------------------------------
# Base class


#: UTF-16 surrogates: a lone one (a UTF-16 client may send half a pair) cannot be encoded.
_SURROGATE = re.compile("[\ud800-\udfff]")


def json_body(body: Any) -> bytes:
    """``body`` as UTF-8 JSON, as httpx would send it, except that text which cannot be
    encoded (a lone surrogate in a document) becomes U+FFFD instead of failing the request."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if not text.isascii():
        text = _SURROGATE.sub("\ufffd", text)
    return text.encode("utf-8")


def sampling_fields(req: FimRequest | ChatRequest, *, max_tokens: str) -> dict[str, Any]:
    """The sampling settings of ``req`` as self-hosted servers name them (``seed``, and the
    token limit under ``max_tokens``: ``max_tokens``, ``n_predict`` or ``num_predict``)."""
    fields: dict[str, Any] = {}
    if req.max_tokens is not None:
        fields[max_tokens] = req.max_tokens
    if req.temperature is not None:
        fields["temperature"] = req.temperature
    if req.top_p is not None:
        fields["top_p"] = req.top_p
    if req.stop:
        fields["stop"] = list(req.stop)
    if req.random_seed is not None:
        fields["seed"] = req.random_seed
    return fields


def stream_event(
    data: str, host: str, status: int, *, is_error: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """One JSON event of a stream (an SSE ``data:`` or an NDJSON line).

    Malformed JSON or a non-object is a :class:`ProtocolError`; an event ``is_error`` says is an
    error report is a :class:`ServerError` with the server's sentence.
    """
    try:
        event = json.loads(data)
    except ValueError as exc:
        shown = " ".join(data.split())[:80]
        raise ProtocolError(
            f"{host} sent a malformed stream event: {shown!r}", status=status
        ) from exc
    if not isinstance(event, dict):
        raise ProtocolError(f"{host} sent an unexpected stream event.", status=status)
    if is_error(event):
        raise ServerError(
            f"{host} reported an error mid-stream: {describe_error_body(data, status)}",
            status=status,
        )
    return event


class HttpBackend:
    """Endpoint, key, timeout and the pooled HTTP client of one backend.

    ``http``: an existing client to use (shared with other backends); it is then *not* closed
    by :meth:`aclose` - its owner closes it.  Without it a private client is made with
    :func:`make_http_client` (``transport`` is for tests).
    """

    #: "mistral" | "ollama" | "openai"; also selects the wording of some messages.
    kind: str = "mistral"
    #: Whether the backend is useless without an API key.
    requires_key: bool = True

    def __init__(
        self,
        endpoint: str,
        api_key: str | None,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        if http is not None and transport is not None:
            raise ValueError("pass either an HTTP client or a transport, not both")
        self._endpoint = self._normalize(endpoint)
        self._api_key: str | None = clean_key(api_key)
        self._timeout = float(timeout)
        #: Token counts (``prompt_tokens``, ``completion_tokens``) the server reported in the
        #: latest stream, if it did before the stream ended or was closed; only meaningful
        #: when one stream runs at a time (``codestral-ls eval`` gives each worker a backend).
        self.last_usage: dict[str, Any] | None = None
        self._owns_http = http is None
        self._http = (
            http
            if http is not None
            else make_http_client(timeout=self._timeout, transport=transport)
        )

    @classmethod
    def _normalize(cls, endpoint: str) -> str:
        return normalize_base_url(endpoint)

    # ------------------------------------------------------------------ configuration

    @property
    def endpoint(self) -> str:
        return self._endpoint

    @property
    def has_key(self) -> bool:
        return bool(self._api_key)

    @property
    def timeout(self) -> float:
        return self._timeout

    @property
    def http(self) -> httpx.AsyncClient:
        """The HTTP client in use (possibly shared)."""
        return self._http

    def configure(
        self,
        endpoint: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
    ) -> None:
        """Change endpoint, key and/or timeout; ``None`` leaves a value as it is.

        Pass ``api_key=""`` to remove the key; surrounding whitespace is stripped.  The
        pooled HTTP client (and its open connections) is kept.
        """
        if endpoint is not None:
            self._endpoint = self._normalize(endpoint)
        if api_key is not None:
            self._api_key = clean_key(api_key)
        if timeout is not None:
            self._timeout = float(timeout)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(endpoint={self._endpoint!r}, has_key={self.has_key})"

    async def aclose(self) -> None:
        """Close the HTTP client if this backend made it; a shared client stays open."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self: _B) -> _B:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ errors

    def _headers(self, api_key: str | None, accept: str, has_body: bool = False) -> dict[str, str]:
        headers = {"Accept": accept}
        if has_body:
            headers["Content-Type"] = "application/json"
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        return headers

    @contextmanager
    def _guard(self, endpoint: str, api_key: str | None) -> Iterator[None]:
        """Map httpx failures to BackendError and scrub the key out of every message."""
        host = endpoint_host(endpoint)
        try:
            try:
                yield
            except httpx.TimeoutException as exc:
                raise UpstreamTimeout(self._timeout_message(exc, host)) from exc
            except httpx.UnsupportedProtocol as exc:
                raise NetworkError(
                    f"The endpoint {endpoint!r} is not an http:// or https:// URL."
                ) from exc
            except httpx.LocalProtocolError as exc:
                # h11/h2 refused to send what we built (e.g. a control character in the key).
                raise NetworkError(
                    f"Could not send the request to {host}: invalid request headers "
                    "(check the API key for stray characters)."
                ) from exc
            except httpx.TransportError as exc:
                raise NetworkError(self._network_message(exc, host)) from exc
            except httpx.InvalidURL as exc:
                raise NetworkError(f"The endpoint {endpoint!r} is not a valid URL.") from exc
            except httpx.DecodingError as exc:
                raise ProtocolError(f"{host} sent a response that could not be decoded.") from exc
        except BackendError as err:
            message = redact_bearer(err.message)
            for secret in {api_key, self._api_key}:
                if secret:
                    message = message.replace(secret, _REDACTED)
            if message != err.message:
                err._set_message(message)
            raise

    def _timeout_message(self, exc: httpx.TimeoutException, host: str) -> str:
        seconds = f"{self._timeout:g} s"
        if isinstance(exc, httpx.ConnectTimeout):
            return f"Timed out after {seconds} connecting to {host}."
        if isinstance(exc, httpx.PoolTimeout):
            return f"Timed out after {seconds} waiting for a free connection to {host}."
        if isinstance(exc, httpx.WriteTimeout):
            return f"Timed out after {seconds} sending the request to {host}."
        return f"{host} did not answer within {seconds}."

    @staticmethod
    def _network_message(exc: httpx.TransportError, host: str) -> str:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, httpx.ConnectError):
            return f"Could not connect to {host}: {reason}."
        if isinstance(exc, httpx.RemoteProtocolError):
            return f"The connection to {host} broke: {reason}"
        return f"Network error talking to {host}: {reason}"

    def _error(
        self, response: httpx.Response, endpoint: str, model: str | None, key_sent: bool
    ) -> BackendError:
        """The typed error for a non-2xx response (see ``error_from_response``); backends
        refine it with what they know about their server."""
        return error_from_response(
            response.status_code,
            response.headers,
            response.content,
            endpoint=endpoint,
            model=model,
            key_sent=key_sent,
        )

    @staticmethod
    def _host_of(response: httpx.Response) -> str:
        """The host a response came from, as messages show it."""
        return endpoint_host(str(response.request.url))

    @staticmethod
    def _parse_json(response: httpx.Response, host: str) -> Any:
        try:
            return json.loads(response.content)
        except ValueError as exc:
            snippet = describe_error_body(response.content, response.status_code)
            raise ProtocolError(
                f"{host} sent a response that is not valid JSON (HTTP {response.status_code}): "
                f"{snippet}",
                status=response.status_code,
            ) from exc

    # ------------------------------------------------------------------ requests

    async def _request_json(
        self, method: str, path: str, body: dict[str, Any] | None, model: str | None
    ) -> tuple[Any, str, int]:
        """Send one request; answer (parsed JSON body, host for messages, status)."""
        endpoint, api_key = self._endpoint, self._api_key
        host = endpoint_host(endpoint)
        with self._guard(endpoint, api_key):
            response = await self._http.request(
                method,
                endpoint + path,
                content=json_body(body) if body is not None else None,
                headers=self._headers(api_key, "application/json", body is not None),
                timeout=self._timeout,
            )
            if not response.is_success:
                raise self._error(response, endpoint, model, bool(api_key))
            return self._parse_json(response, host), host, response.status_code

    def _note_usage(self, usage: Any) -> None:
        """Keep ``usage`` (an OpenAI/Mistral-shaped ``usage`` object) as :attr:`last_usage`."""
        if isinstance(usage, dict) and any(
            isinstance(usage.get(key), int) for key in ("prompt_tokens", "completion_tokens")
        ):
            self.last_usage = dict(usage)

    @asynccontextmanager
    async def _stream(
        self, path: str, body: dict[str, Any], model: str | None, accept: str
    ) -> AsyncIterator[httpx.Response]:
        """POST ``body`` and hold the streamed response open for the ``async with`` block.

        A non-2xx answer is read and raised as a typed error before the block runs; failures
        inside the block (timeouts, broken connections) are mapped too.  Leaving the block
        early - ``aclose()`` of the caller's generator, cancellation - closes the response,
        so the server sees the disconnect and stops generating.
        """
        endpoint, api_key = self._endpoint, self._api_key
        self.last_usage = None
        with self._guard(endpoint, api_key):
            async with self._http.stream(
                "POST",
                endpoint + path,
                content=json_body(body),
                headers=self._headers(api_key, accept, True),
                timeout=self._timeout,
            ) as response:
                if not response.is_success:
                    await response.aread()
                    raise self._error(response, endpoint, model, bool(api_key))
                yield response

    async def _sse_pieces(
        self,
        path: str,
        body: dict[str, Any],
        model: str | None,
        piece: Callable[[str, str, int], str],
        whole: Callable[[Any, str, int], str],
    ) -> AsyncGenerator[str, None]:
        """POST ``body`` and yield the text pieces of the SSE stream until ``data: [DONE]``.

        ``piece(data, host, status)`` extracts the text of one event; ``whole(payload, host,
        status)`` the text of a plain JSON answer from a server that ignored ``"stream": true``.
        """
        async with self._stream(path, body, model, "text/event-stream") as response:
            host, status = self._host_of(response), response.status_code
            content_type = response.headers.get("content-type", "").lower()
            if "text/event-stream" not in content_type and "json" in content_type:
                await response.aread()
                text = whole(self._parse_json(response, host), host, status)
                if text:
                    yield text
                return
            if content_type and "text/event-stream" not in content_type:
                # A captive portal or a misrouted proxy answers 200 with a web page.
                await response.aread()
                raise ProtocolError(
                    f"{host} answered with {content_type.split(';')[0]} instead of an event "
                    f"stream: {describe_error_body(response.content, status)}",
                    status=status,
                )
            stream = EventStream(response, "sse")
            async with aclosing(stream.data()) as events:
                async for data in events:
                    if data.strip() == "[DONE]":
                        stream.finish()  # drain to the end so the connection is reused
                        continue
                    text = piece(data, host, status)
                    if text:
                        yield text
