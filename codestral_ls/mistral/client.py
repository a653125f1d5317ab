"""Asynchronous client for the Mistral / Codestral HTTP API.

One :class:`httpx.AsyncClient` lives as long as the :class:`MistralClient`; endpoint, key and
timeout can change at any time through :meth:`MistralClient.configure` without dropping the
pooled (already TLS-negotiated) connections.

Streaming methods are async generators.  Closing one early (``aclose()``, cancellation, or
``break`` inside ``async with contextlib.aclosing(...)``) closes the HTTP response, so the
server sees the disconnect and stops generating.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from codestral_ls import __version__

from .errors import (
    MistralError,
    NetworkError,
    ProtocolError,
    ServerError,
    UpstreamTimeout,
    describe_error_body,
    endpoint_host,
    error_from_response,
    redact_bearer,
)
from .requests import ChatRequest, EmbeddingRequest, FimRequest

__all__ = ["USER_AGENT", "Completion", "MistralClient", "normalize_endpoint"]

log = logging.getLogger(__name__)

USER_AGENT = f"codestral-ls/{__version__}"

FIM_PATH = "/v1/fim/completions"
CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
EMBEDDINGS_PATH = "/v1/embeddings"

_REDACTED = "[redacted]"


@dataclass(frozen=True)
class Completion:
    """The first choice of a (FIM or chat) completion response."""

    text: str
    finish_reason: str | None
    model: str | None
    usage: dict[str, Any] | None


def normalize_endpoint(endpoint: str) -> str:
    """``" https://codestral.mistral.ai/v1/ "`` → ``"https://codestral.mistral.ai"``.

    Adds ``https://`` when no scheme is given and drops a trailing ``/v1`` (the API paths
    already start with it), so both common ways of writing the endpoint work.
    """
    value = endpoint.strip()
    if not value:
        raise ValueError("the Mistral endpoint URL must not be empty")
    if "://" not in value:
        value = f"https://{value}"
    value = value.rstrip("/")
    if value.endswith("/v1"):
        value = value[: -len("/v1")].rstrip("/")
    return value


def _clean_key(api_key: str | None) -> str | None:
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


def _first_choice(payload: dict[str, Any]) -> dict[str, Any] | None:
    choices = payload.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return None


def _is_error_payload(payload: dict[str, Any]) -> bool:
    return payload.get("object") == "error" or ("choices" not in payload and "error" in payload)


class MistralClient:
    """Talks to ``/v1/fim/completions``, ``/v1/chat/completions``, ``/v1/models`` and
    ``/v1/embeddings`` of a Mistral endpoint (``https://codestral.mistral.ai`` or
    ``https://api.mistral.ai``).

    Every error is raised as a :class:`~codestral_ls.mistral.errors.MistralError` subclass,
    except :class:`asyncio.CancelledError`, which always propagates untouched.
    """

    def __init__(
        self,
        endpoint: str,
        api_key: str | None,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._endpoint = normalize_endpoint(endpoint)
        self._api_key: str | None = _clean_key(api_key)
        self._timeout = float(timeout)
        self._http = httpx.AsyncClient(
            http2=True,
            limits=httpx.Limits(
                max_keepalive_connections=4, max_connections=8, keepalive_expiry=300
            ),
            headers={"User-Agent": USER_AGENT},
            verify=True,
            timeout=httpx.Timeout(self._timeout),
            follow_redirects=False,
            transport=transport,
        )

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
            self._endpoint = normalize_endpoint(endpoint)
        if api_key is not None:
            self._api_key = _clean_key(api_key)
        if timeout is not None:
            self._timeout = float(timeout)

    def __repr__(self) -> str:
        return f"MistralClient(endpoint={self._endpoint!r}, has_key={self.has_key})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> MistralClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ public API

    async def fim(self, req: FimRequest) -> Completion:
        body = req.to_body()
        body["stream"] = False
        payload, host, status = await self._request_json("POST", FIM_PATH, body, req.model)
        return self._completion(payload, host, status)

    async def fim_stream(self, req: FimRequest) -> AsyncGenerator[str, None]:
        """Yield the completion text piece by piece as the server streams it."""
        body = req.to_body()
        body["stream"] = True
        async with aclosing(self._stream_text(FIM_PATH, body, req.model)) as pieces:
            async for piece in pieces:
                yield piece

    async def chat(self, req: ChatRequest) -> Completion:
        body = req.to_body()
        body["stream"] = False
        payload, host, status = await self._request_json("POST", CHAT_PATH, body, req.model)
        return self._completion(payload, host, status)

    async def chat_stream(self, req: ChatRequest) -> AsyncGenerator[str, None]:
        body = req.to_body()
        body["stream"] = True
        async with aclosing(self._stream_text(CHAT_PATH, body, req.model)) as pieces:
            async for piece in pieces:
                yield piece

    async def list_models(self) -> list[dict[str, Any]]:
        """Raw model cards from ``GET /v1/models``."""
        payload, host, status = await self._request_json("GET", MODELS_PATH, None, None)
        data = payload.get("data") if isinstance(payload, dict) else payload
        if not isinstance(data, list):
            raise ProtocolError(
                f"{host} answered GET {MODELS_PATH} without a model list.", status=status
            )
        return [card for card in data if isinstance(card, dict)]

    async def embeddings(self, req: EmbeddingRequest) -> list[list[float]]:
        """One vector per input, in input order."""
        payload, host, status = await self._request_json(
            "POST", EMBEDDINGS_PATH, req.to_body(), req.model
        )
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise ProtocolError(f"{host} answered without embeddings.", status=status)
        indexed: list[tuple[int, list[float]]] = []
        try:
            for position, item in enumerate(data):
                index = item.get("index", position)
                vector = [float(x) for x in item["embedding"]]
                indexed.append((int(index), vector))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"{host} sent malformed embeddings.", status=status) from exc
        indexed.sort(key=lambda pair: pair[0])
        return [vector for _, vector in indexed]

    async def warm_up(self) -> None:
        """Open (and TLS-negotiate) a pooled connection before the first real request.

        Sends an unauthenticated ``GET`` to the endpoint root; every failure is ignored
        except cancellation.
        """
        url = self._endpoint + "/"
        try:
            response = await self._http.get(url, timeout=self._timeout)
            log.debug("warm-up %s -> HTTP %s", endpoint_host(self._endpoint), response.status_code)
        except Exception as exc:  # CancelledError is a BaseException: it propagates
            log.debug("warm-up of %s failed: %s", endpoint_host(self._endpoint), type(exc).__name__)

    # ------------------------------------------------------------------ internals

    def _headers(self, api_key: str | None, accept: str) -> dict[str, str]:
        headers = {"Accept": accept}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        return headers

    @contextmanager
    def _guard(self, endpoint: str, api_key: str | None) -> Iterator[None]:
        """Map httpx failures to MistralError and scrub the key out of every message."""
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
        except MistralError as err:
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
    ) -> MistralError:
        return error_from_response(
            response.status_code,
            response.headers,
            response.content,
            endpoint=endpoint,
            model=model,
            key_sent=key_sent,
        )

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

    async def _request_json(
        self, method: str, path: str, body: dict[str, Any] | None, model: str | None
    ) -> tuple[Any, str, int]:
        endpoint, api_key = self._endpoint, self._api_key
        host = endpoint_host(endpoint)
        with self._guard(endpoint, api_key):
            response = await self._http.request(
                method,
                endpoint + path,
                json=body,
                headers=self._headers(api_key, "application/json"),
                timeout=self._timeout,
            )
            if not response.is_success:
                raise self._error(response, endpoint, model, bool(api_key))
            return self._parse_json(response, host), host, response.status_code

    @staticmethod
    def _completion(payload: Any, host: str, status: int) -> Completion:
        if not isinstance(payload, dict):
            raise ProtocolError(f"{host} sent an unexpected completion response.", status=status)
        if _is_error_payload(payload):
            raise ServerError(
                f"{host} reported an error: {describe_error_body(json.dumps(payload), status)}",
                status=status,
            )
        text = ""
        finish_reason: str | None = None
        choice = _first_choice(payload)
        if choice is not None:
            message = choice.get("message")
            if isinstance(message, dict):
                text = content_text(message.get("content"))
            elif "text" in choice:
                text = content_text(choice.get("text"))
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

    @staticmethod
    def _delta_text(data: str, host: str, status: int) -> str:
        try:
            event = json.loads(data)
        except ValueError as exc:
            shown = " ".join(data.split())[:80]
            raise ProtocolError(
                f"{host} sent a malformed stream event: {shown!r}", status=status
            ) from exc
        if not isinstance(event, dict):
            raise ProtocolError(f"{host} sent an unexpected stream event.", status=status)
        if _is_error_payload(event):
            raise ServerError(
                f"{host} reported an error mid-stream: {describe_error_body(data, status)}",
                status=status,
            )
        choice = _first_choice(event)
        if choice is None:
            return ""
        delta = choice.get("delta")
        if isinstance(delta, dict):
            return content_text(delta.get("content"))
        return ""

    async def _stream_text(
        self, path: str, body: dict[str, Any], model: str | None
    ) -> AsyncGenerator[str, None]:
        endpoint, api_key = self._endpoint, self._api_key
        host = endpoint_host(endpoint)
        with self._guard(endpoint, api_key):
            async with self._http.stream(
                "POST",
                endpoint + path,
                json=body,
                headers=self._headers(api_key, "text/event-stream"),
                timeout=self._timeout,
            ) as response:
                status = response.status_code
                if not response.is_success:
                    await response.aread()
                    raise self._error(response, endpoint, model, bool(api_key))

                content_type = response.headers.get("content-type", "").lower()
                if "text/event-stream" not in content_type and "json" in content_type:
                    # The server ignored "stream": true; hand over the whole text at once.
                    await response.aread()
                    completion = self._completion(self._parse_json(response, host), host, status)
                    if completion.text:
                        yield completion.text
                    return

                done = False
                data_lines: list[str] = []
                try:
                    async for line in response.aiter_lines():
                        if done:
                            # Drain to the end of the body so the connection can be reused.
                            continue
                        if not line:
                            if not data_lines:
                                continue
                            data = "\n".join(data_lines)
                            data_lines = []
                            if data.strip() == "[DONE]":
                                done = True
                                continue
                            piece = self._delta_text(data, host, status)
                            if piece:
                                yield piece
                            continue
                        if line.startswith(":"):
                            continue  # SSE comment / keep-alive
                        field, _, value = line.partition(":")
                        if field == "data":
                            data_lines.append(value[1:] if value.startswith(" ") else value)
                        # "event:", "id:", "retry:" and unknown fields are ignored.
                except httpx.TransportError:
                    if done:
                        return  # everything was delivered; only the drain failed
                    raise
                if not done and data_lines:
                    data = "\n".join(data_lines)
                    if data.strip() != "[DONE]":
                        piece = self._delta_text(data, host, status)
                        if piece:
                            yield piece
