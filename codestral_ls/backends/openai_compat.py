"""FIM completions from an OpenAI-compatible server (llama.cpp's llama-server, LM Studio,
Ollama's ``/v1``, vLLM, DeepSeek-style APIs).

* ``POST /v1/completions`` with ``prompt`` and ``suffix`` (plus ``max_tokens``,
  ``temperature``, ``top_p``, ``stop``, ``seed``, ``stream``); ``min_tokens`` is not part of
  the OpenAI API and is not sent.  Streaming answers are server-sent events
  ``data: {"choices": [{"text": "piece", ...}]}`` ending with ``data: [DONE]``.
* Not every such server accepts ``suffix``: older llama-server builds and some proxies answer
  "Unsupported param: suffix" (llama.cpp's FIM endpoint is ``POST /infill``), vLLM "suffix is
  not currently supported".  When the first request with a suffix is refused that way, the
  backend tries ``/infill`` once; if it exists, FIM goes there from then on (for this
  endpoint), otherwise the error says in one sentence that the server cannot fill in the
  middle.  Today's llama-server accepts ``suffix`` and silently ignores it: it is recognised
  by its ``/v1/models`` cards (``owned_by: "llamacpp"``) and sent to ``/infill`` at once
  (:mod:`codestral_ls.backends.llamacpp` is the backend made for it).
* ``POST /v1/chat/completions`` (code actions) with ``messages``, streamed as SSE chunks
  ``{"choices": [{"delta": {"content": "piece"}}]}`` ending with ``data: [DONE]``.
* ``GET /v1/models`` → Mistral-shaped model cards (FIM and chat assumed for every model but
  embedding models: the server, not the listing, knows).

The key is optional and sent as ``Authorization: Bearer`` when configured.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from typing import Any

import httpx

from codestral_ls.mistral import ChatRequest, FimRequest

from .errors import (
    BackendError,
    BadRequestError,
    ProtocolError,
    ServerError,
    describe_error_body,
    endpoint_host,
)
from .http import (
    EventStream,
    HttpBackend,
    completion_from,
    content_text,
    first_choice,
    is_embedding_model,
    is_error_payload,
    normalize_base_url,
    sampling_fields,
    stream_event,
)

__all__ = [
    "CHAT_PATH",
    "COMPLETIONS_PATH",
    "INFILL_PATH",
    "MODELS_PATH",
    "OpenAICompatBackend",
    "chat_body",
    "completions_body",
    "infill_body",
    "openai_model_card",
]

COMPLETIONS_PATH = "/v1/completions"
CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
INFILL_PATH = "/infill"

_COMPLETIONS = "completions"
_INFILL = "infill"
_NO_FIM = "none"


def openai_model_card(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """A Mistral-shaped card for one ``/v1/models`` entry (None without an id).

    ``max_context_length`` comes from vLLM's ``max_model_len`` (or a ``context_length`` /
    ``max_context_length`` field) when the server reports one, else None.
    """
    model_id = entry.get("id")
    if not isinstance(model_id, str) or not model_id:
        return None
    usable = not is_embedding_model(model_id)
    context: int | None = None
    for key in ("max_model_len", "max_context_length", "context_length"):
        value = entry.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            context = value
            break
    owned_by = entry.get("owned_by")
    return {
        "id": model_id,
        "object": "model",
        "name": model_id,
        "description": "",
        "owned_by": owned_by if isinstance(owned_by, str) else "",
        "aliases": [],
        "capabilities": {"completion_fim": usable, "completion_chat": usable},
        "max_context_length": context,
        "deprecation": None,
        "deprecation_replacement_model": None,
    }


def completions_body(req: FimRequest, *, stream: bool) -> dict[str, Any]:
    """The ``/v1/completions`` body for a FIM request.

    An empty suffix is sent as ``"\\n"``: Ollama (also behind ``/v1``) only uses a model's FIM
    template when the suffix is non-empty.
    """
    body: dict[str, Any] = {"model": req.model, "prompt": req.full_prompt()}
    if req.suffix is not None:
        body["suffix"] = req.suffix or "\n"
    body.update(sampling_fields(req, max_tokens="max_tokens"))
    body["stream"] = stream
    return body


def chat_body(req: ChatRequest) -> dict[str, Any]:
    """The ``/v1/chat/completions`` body: the OpenAI fields (``seed``, not ``random_seed``)."""
    body: dict[str, Any] = {
        "model": req.model,
        "messages": [message.to_dict() for message in req.messages],
    }
    body.update(sampling_fields(req, max_tokens="max_tokens"))
    body["stream"] = True
    return body


def infill_body(req: FimRequest, *, stream: bool) -> dict[str, Any]:
    """The body for llama.cpp's ``POST /infill`` (its native FIM endpoint).

    The prefix goes bare; the context files go as ``input_extra`` (llama.cpp's repo-level
    FIM), not laid out in front of it.
    """
    body: dict[str, Any] = {
        "model": req.model,
        "input_prefix": req.prompt,
        "input_suffix": req.suffix or "",
    }
    if req.context_files:
        body["input_extra"] = [{"filename": f.path, "text": f.text} for f in req.context_files]
    body.update(sampling_fields(req, max_tokens="n_predict"))
    body["stream"] = stream
    return body


def _infill_usage(payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """llama.cpp's ``tokens_evaluated``/``tokens_predicted`` as an OpenAI ``usage`` object."""
    predicted = payload.get("tokens_predicted")
    evaluated = payload.get("tokens_evaluated")
    if not (isinstance(predicted, int) and isinstance(evaluated, int)):
        return None
    return {
        "prompt_tokens": evaluated,
        "completion_tokens": predicted,
        "total_tokens": evaluated + predicted,
    }


def _rejects_suffix(error: BackendError, req: FimRequest) -> bool:
    """Whether ``error`` is a server refusing the ``suffix`` field (llama.cpp, vLLM)."""
    if req.suffix is None or isinstance(error, ProtocolError):
        return False
    if error.status not in (400, 422, 500, 501):
        return False
    detail = getattr(error, "detail", "") or error.message
    return "suffix" in detail.lower()


class OpenAICompatBackend(HttpBackend):
    """FIM through an OpenAI-compatible ``/v1/completions`` (see the module docstring)."""

    kind = "openai"
    requires_key = False
    models_path = MODELS_PATH

    def __init__(
        self,
        endpoint: str,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(endpoint, api_key, timeout=timeout, transport=transport, http=http)
        #: What this endpoint does with a suffix: "completions" (accepts it), "infill" (FIM
        #: through llama.cpp's /infill) or "none" (refuses it and has no /infill).
        self._routes: dict[str, str] = {}

    @classmethod
    def _normalize(cls, endpoint: str) -> str:
        # Local servers speak plain HTTP: "localhost:8080" means http://localhost:8080.
        return normalize_base_url(endpoint, default_scheme="http", what="server URL")

    @property
    def fim_route(self) -> str | None:
        """``"completions"``, ``"infill"``, ``"none"`` (no FIM) or None (not known yet) for
        the current endpoint."""
        return self._routes.get(self._endpoint)

    def _should_probe(self, error: BackendError, req: FimRequest, endpoint: str) -> bool:
        """Whether ``error`` calls for trying ``/infill``; raises the "no FIM" error when
        the endpoint is already known to have none."""
        if not _rejects_suffix(error, req):
            return False
        if self._routes.get(endpoint) == _NO_FIM:
            raise self._no_fim(error, req, endpoint) from error
        return True  # unknown yet, or the server changed since it last accepted a suffix

    # ------------------------------------------------------------------ public API

    async def fim_stream(self, req: FimRequest) -> AsyncGenerator[str, None]:
        """Yield the completion text piece by piece as the server streams it."""
        endpoint = self._endpoint
        if self._routes.get(endpoint) == _INFILL:
            async with aclosing(self._infill_stream(req)) as pieces:
                async for piece in pieces:
                    yield piece
            return
        rejection: BackendError | None = None
        started = False
        try:
            async with aclosing(self._completions_stream(req)) as pieces:
                async for piece in pieces:
                    started = True
                    yield piece
        except BackendError as error:
            if started or not self._should_probe(error, req, endpoint):
                raise
            rejection = error
        if rejection is None:
            if req.suffix is not None:
                self._routes[endpoint] = _COMPLETIONS
            return
        async with aclosing(self._infill_stream(req, rejection=rejection)) as pieces:
            async for piece in pieces:
                yield piece

    async def chat_stream(
        self, req: ChatRequest, *, on_finish: Callable[[str], None] | None = None
    ) -> AsyncGenerator[str, None]:
        """Yield the chat answer piece by piece (``POST /v1/chat/completions``); ``on_finish``
        receives the ``finish_reason`` (``"length"``: cut at ``max_tokens``)."""

        def piece_of(data: str, host: str, status: int) -> str:
            event = self._event(data, host, status)
            choice = first_choice(event)
            reason = choice.get("finish_reason") if choice is not None else None
            if on_finish is not None and isinstance(reason, str):
                on_finish(reason)
            return self._choice_text(event)

        def whole(payload: Any, host: str, status: int) -> str:
            completion = self._completion(payload, host, status)
            if on_finish is not None and completion.finish_reason:
                on_finish(completion.finish_reason)
            return completion.text

        pieces = self._sse_pieces(CHAT_PATH, chat_body(req), req.model, piece_of, whole)
        async with aclosing(pieces) as stream:
            async for piece in stream:
                yield piece

    async def list_models(self) -> list[dict[str, Any]]:
        """Mistral-shaped cards for ``GET /v1/models``."""
        payload, host, status = await self._request_json("GET", MODELS_PATH, None, None)
        data = payload.get("data") if isinstance(payload, dict) else payload
        if not isinstance(data, list):
            raise ProtocolError(
                f"{host} answered GET {MODELS_PATH} without a model list.", status=status
            )
        if any(isinstance(e, dict) and e.get("owned_by") == "llamacpp" for e in data):
            # llama-server ignores `suffix` on /v1/completions: fill in through /infill.
            self._routes[self._endpoint] = _INFILL
        cards = [openai_model_card(entry) for entry in data if isinstance(entry, dict)]
        return [card for card in cards if card is not None]

    # ------------------------------------------------------------------ /v1/completions

    def _completions_stream(self, req: FimRequest) -> AsyncGenerator[str, None]:
        return self._sse_pieces(
            COMPLETIONS_PATH,
            completions_body(req, stream=True),
            req.model,
            lambda data, host, status: self._choice_text(self._usage_event(data, host, status)),
            lambda payload, host, status: self._completion(payload, host, status).text,
        )

    @staticmethod
    def _choice_text(event: Mapping[str, Any]) -> str:
        choice = first_choice(dict(event))
        if choice is None:
            return ""
        if "text" in choice:
            return content_text(choice.get("text"))
        delta = choice.get("delta")  # a chat-shaped chunk from a lenient server
        if isinstance(delta, dict):
            return content_text(delta.get("content"))
        return ""

    _completion = staticmethod(completion_from)

    @staticmethod
    def _event(data: str, host: str, status: int) -> dict[str, Any]:
        return stream_event(data, host, status, is_error=is_error_payload)

    def _usage_event(self, data: str, host: str, status: int) -> dict[str, Any]:
        event = self._event(data, host, status)
        self._note_usage(event.get("usage"))
        return event

    # ------------------------------------------------------------------ llama.cpp /infill

    def _no_fim(self, rejection: BackendError, req: FimRequest, endpoint: str) -> BadRequestError:
        host = endpoint_host(endpoint)
        detail = getattr(rejection, "detail", "") or rejection.message
        return BadRequestError(
            f"{host} cannot fill in the middle: it refuses the 'suffix' of "
            f"{COMPLETIONS_PATH} ({detail.rstrip('.')}) and has no llama.cpp {INFILL_PATH} "
            "endpoint; use a server with FIM support such as Ollama or llama.cpp's "
            "llama-server.",
            status=rejection.status,
            model=req.model,
            detail=detail,
        )

    def _probe_failed(
        self, error: BackendError, rejection: BackendError, req: FimRequest, endpoint: str
    ) -> BackendError:
        """What to raise when the first ``/infill`` attempt failed with ``error``."""
        if error.status in (404, 405):
            self._routes[endpoint] = _NO_FIM
            return self._no_fim(rejection, req, endpoint)
        if error.status is not None:
            self._routes[endpoint] = _INFILL  # /infill exists: keep using it
        return error

    def _forget_infill(self, error: BackendError, endpoint: str) -> None:
        """An ``/infill`` that answers 404 may be gone (another server on the port): probe
        again next time."""
        if error.status == 404 and self._routes.get(endpoint) == _INFILL:
            del self._routes[endpoint]

    @staticmethod
    def _check_infill_error(payload: Mapping[str, Any], raw: str, host: str, status: int) -> None:
        if "error" in payload and "content" not in payload:
            raise ServerError(
                f"{host} reported an error: {describe_error_body(raw, status)}", status=status
            )

    async def _infill_stream(
        self, req: FimRequest, *, rejection: BackendError | None = None
    ) -> AsyncGenerator[str, None]:
        """Stream from ``/infill``; with ``rejection``, this is the first try of the route."""
        endpoint = self._endpoint
        body = infill_body(req, stream=True)
        try:
            async with self._stream(INFILL_PATH, body, req.model, "text/event-stream") as response:
                if rejection is not None:
                    self._routes[endpoint] = _INFILL
                    rejection = None
                host, status = self._host_of(response), response.status_code
                stream = EventStream(response, "sse")
                async with aclosing(stream.data()) as events:
                    async for data in events:
                        if data.strip() == "[DONE]":
                            stream.finish()
                            continue
                        try:
                            event = json.loads(data)
                        except ValueError as exc:
                            shown = " ".join(data.split())[:80]
                            raise ProtocolError(
                                f"{host} sent a malformed stream event: {shown!r}", status=status
                            ) from exc
                        if not isinstance(event, dict):
                            raise ProtocolError(
                                f"{host} sent an unexpected stream event.", status=status
                            )
                        self._check_infill_error(event, data, host, status)
                        self._note_usage(_infill_usage(event))
                        piece = event.get("content")
                        if isinstance(piece, str) and piece:
                            yield piece
                        if event.get("stop") is True:
                            stream.finish()
        except BackendError as error:
            if rejection is None:
                self._forget_infill(error, endpoint)
                raise
            raise self._probe_failed(error, rejection, req, endpoint) from rejection
