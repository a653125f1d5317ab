"""Asynchronous client for the Mistral / Codestral HTTP API.

One :class:`httpx.AsyncClient` lives as long as the :class:`MistralClient` (or is shared with
other backends, see ``http=``); endpoint, key and timeout can change at any time through
:meth:`MistralClient.configure` without dropping the pooled (already TLS-negotiated)
connections.

Streaming methods are async generators.  Closing one early (``aclose()``, cancellation, or
``break`` inside ``async with contextlib.aclosing(...)``) closes the HTTP response, so the
server sees the disconnect and stops generating.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any

import httpx

from codestral_ls.mistral.requests import ChatRequest, EmbeddingRequest, FimRequest

from .errors import (
    AuthenticationError,
    BackendError,
    ProtocolError,
    describe_error_body,
    endpoint_host,
    status_line,
)
from .http import (
    HttpBackend,
    completion_from,
    content_text,
    first_choice,
    is_error_payload,
    normalize_base_url,
    stream_event,
)

__all__ = ["MistralClient", "normalize_endpoint"]

FIM_PATH = "/v1/fim/completions"
CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
EMBEDDINGS_PATH = "/v1/embeddings"


def normalize_endpoint(endpoint: str) -> str:
    """``" https://codestral.mistral.ai/v1/ "`` → ``"https://codestral.mistral.ai"``.

    Adds ``https://`` when no scheme is given and drops a trailing ``/v1`` (the API paths
    already start with it), so both common ways of writing the endpoint work.
    """
    return normalize_base_url(endpoint, what="Mistral endpoint URL")


def mistral_error(
    error: BackendError, body: bytes, *, endpoint: str, key_sent: bool
) -> BackendError:
    """``error`` in Mistral's terms: a rejected or missing key is explained with Mistral's two
    kinds of key (codestral.mistral.ai and api.mistral.ai keys are different)."""
    if not isinstance(error, AuthenticationError) or error.status is None:
        return error
    host = endpoint_host(endpoint)
    detail = describe_error_body(body, error.status)
    status = status_line(error.status)
    if not key_sent:
        message = (
            f"No API key is configured and {host} requires one ({status}: {detail}); "
            "note that keys for codestral.mistral.ai and api.mistral.ai are different."
        )
    else:
        message = (
            f"The API key was rejected by {host} ({status}: {detail}); keys for "
            "codestral.mistral.ai and api.mistral.ai are different, so check that the key "
            "was issued for this endpoint."
        )
    return AuthenticationError(message, status=error.status)


class MistralClient(HttpBackend):
    """Talks to ``/v1/fim/completions``, ``/v1/chat/completions``, ``/v1/models`` and
    ``/v1/embeddings`` of a Mistral endpoint (``https://codestral.mistral.ai`` or
    ``https://api.mistral.ai``).

    ``http``: an existing (shared) client to use; :meth:`aclose` then leaves it open.

    Every error is raised as a :class:`~codestral_ls.backends.errors.BackendError` subclass,
    except :class:`asyncio.CancelledError`, which always propagates untouched.
    """

    kind = "mistral"
    requires_key = True
    models_path = MODELS_PATH

    def __init__(
        self,
        endpoint: str,
        api_key: str | None,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(endpoint, api_key, timeout=timeout, transport=transport, http=http)

    @classmethod
    def _normalize(cls, endpoint: str) -> str:
        return normalize_endpoint(endpoint)

    # ------------------------------------------------------------------ public API

    async def fim_stream(self, req: FimRequest) -> AsyncGenerator[str, None]:
        """Yield the completion text piece by piece as the server streams it."""
        body = req.to_body()
        body["stream"] = True
        async with aclosing(self._stream_text(FIM_PATH, body, req.model)) as pieces:
            async for piece in pieces:
                yield piece

    async def chat_stream(
        self, req: ChatRequest, *, on_finish: Callable[[str], None] | None = None
    ) -> AsyncGenerator[str, None]:
        """Yield the answer piece by piece; ``on_finish`` receives the ``finish_reason``
        (``"length"``: the answer was cut at ``max_tokens``)."""
        body = req.to_body()
        body["stream"] = True

        def piece(data: str, host: str, status: int) -> str:
            event = stream_event(data, host, status, is_error=is_error_payload)
            choice = first_choice(event)
            if choice is None:
                return ""
            reason = choice.get("finish_reason")
            if on_finish is not None and isinstance(reason, str):
                on_finish(reason)
            delta = choice.get("delta")
            return content_text(delta.get("content")) if isinstance(delta, dict) else ""

        def whole(payload: Any, host: str, status: int) -> str:
            completion = self._completion(payload, host, status)
            if on_finish is not None and completion.finish_reason:
                on_finish(completion.finish_reason)
            return completion.text

        async with aclosing(self._sse_pieces(CHAT_PATH, body, req.model, piece, whole)) as pieces:
            async for text in pieces:
                yield text

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

    # ------------------------------------------------------------------ internals

    _completion = staticmethod(completion_from)

    def _error(
        self, response: httpx.Response, endpoint: str, model: str | None, key_sent: bool
    ) -> BackendError:
        return mistral_error(
            super()._error(response, endpoint, model, key_sent),
            response.content,
            endpoint=endpoint,
            key_sent=key_sent,
        )

    def _delta_text(self, data: str, host: str, status: int) -> str:
        event = stream_event(data, host, status, is_error=is_error_payload)
        self._note_usage(event.get("usage"))
        choice = first_choice(event)
        if choice is None:
            return ""
        delta = choice.get("delta")
        if isinstance(delta, dict):
            return content_text(delta.get("content"))
        return ""

    def _stream_text(
        self, path: str, body: dict[str, Any], model: str | None
    ) -> AsyncGenerator[str, None]:
        return self._sse_pieces(
            path,
            body,
            model,
            self._delta_text,
            lambda payload, host, status: self._completion(payload, host, status).text,
        )
