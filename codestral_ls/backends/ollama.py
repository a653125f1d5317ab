"""FIM completions from a local (or proxied) Ollama server, through its native API.

* ``POST /api/generate`` with ``prompt`` and ``suffix``: Ollama puts them into the model's
  fill-in-the-middle template (Codestral, StarCoder2, DeepSeek-Coder, Qwen2.5-Coder…).
  Sampling settings go under ``options`` (``max_tokens`` → ``num_predict``, ``random_seed`` →
  ``seed``); ``min_tokens`` has no Ollama equivalent and is not sent.
* Streaming answers are newline-delimited JSON objects (``{"response": "piece", "done":
  false}`` … ``{"done": true, "done_reason": "stop"}``); an error after the stream started
  arrives as a line ``{"error": "..."}``.
* ``POST /api/chat`` (code actions) with ``messages``; the stream is NDJSON too, each line
  carrying ``{"message": {"role": "assistant", "content": "piece"}, "done": false}``.
* ``GET /api/tags`` lists the pulled models; they are turned into Mistral-shaped model cards.

Ollama needs no key; one is sent (``Authorization: Bearer``) only when configured, for proxies.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from typing import Any

import httpx

from codestral_ls.mistral import ChatRequest, FimRequest

from .errors import BackendError, BadRequestError, ProtocolError
from .http import (
    EventStream,
    HttpBackend,
    is_embedding_model,
    normalize_base_url,
    sampling_fields,
    stream_event,
)

__all__ = [
    "CHAT_PATH",
    "GENERATE_PATH",
    "TAGS_PATH",
    "OllamaBackend",
    "ollama_body",
    "ollama_chat_body",
    "ollama_model_card",
]

GENERATE_PATH = "/api/generate"
CHAT_PATH = "/api/chat"
TAGS_PATH = "/api/tags"

#: Lower-case name fragments of model families whose Ollama templates fill in the middle.
_FIM_FAMILIES = (
    "codestral",
    "starcoder",
    "deepseek-coder",
    "qwen2.5-coder",
    "qwen3-coder",
    "codeqwen",
    "granite-code",
    "stable-code",
    "codegemma",
    "codellama",
)
#: Families published both as FIM base models and as instruction-tuned chat models: only the
#: tags saying ``code`` (``codellama:7b-code``, ``codegemma:code``; also ``codegemma:2b``) fill
#: in the middle.
_CODE_TAG_ONLY = ("codellama", "codegemma")
#: Base (non-chat) FIM families, unless the tag says ``instruct``/``chat``.
_BASE_ONLY = ("starcoder", "stable-code")


def fim_and_chat(name: str) -> tuple[bool, bool]:
    """Guess ``(completion_fim, completion_chat)`` from an Ollama model name.

    ``/api/tags`` says nothing about capabilities, so the name decides:

    * FIM: names containing a known FIM family (:data:`_FIM_FAMILIES`); for Code Llama and
      CodeGemma only the ``code`` tags (their instruct tags have no FIM template).
    * chat: every model except embedding models and pure FIM base models (StarCoder,
      Stable Code and the ``code`` tags of Code Llama/CodeGemma, unless the tag says
      ``instruct``/``chat``).  Chat models are only ever used for chat, so a wrong "true"
      costs little, while a wrong "false" would hide a model.
    """
    lowered = name.lower()
    if is_embedding_model(lowered):
        return False, False
    base, sep, tag = lowered.rpartition(":")
    if not sep or "/" in tag:  # no tag, or the colon belongs to a registry's port
        base, tag = lowered, ""
    family = next((f for f in _FIM_FAMILIES if f in base), None)
    if family is None:
        return False, True
    chatty = "instruct" in tag or "chat" in tag or "instruct" in base or "chat" in base
    if family in _CODE_TAG_ONLY:
        fim = ("code" in tag or (family == "codegemma" and "2b" in tag)) and not chatty
        return fim, not fim
    if family in _BASE_ONLY:
        return True, chatty
    return True, True


def ollama_model_card(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """A Mistral-shaped model card for one ``/api/tags`` entry (None if it has no name).

    ``aliases`` holds the short name when the tag is ``latest`` (Ollama accepts both);
    ``max_context_length`` is unknown here (None).
    """
    name = entry.get("name") or entry.get("model")
    if not isinstance(name, str) or not name:
        return None
    fim, chat = fim_and_chat(name)
    aliases: list[str] = []
    if name.endswith(":latest"):
        aliases.append(name[: -len(":latest")])
    model = entry.get("model")
    if isinstance(model, str) and model and model != name and model not in aliases:
        aliases.append(model)
    details = entry.get("details")
    description = ""
    if isinstance(details, dict):
        parts = [
            str(details[key])
            for key in ("family", "parameter_size", "quantization_level")
            if isinstance(details.get(key), str) and details.get(key)
        ]
        description = " ".join(parts)
    return {
        "id": name,
        "object": "model",
        "name": name,
        "description": description,
        "owned_by": "ollama",
        "aliases": aliases,
        "capabilities": {"completion_fim": fim, "completion_chat": chat},
        "max_context_length": None,
        "deprecation": None,
        "deprecation_replacement_model": None,
    }


def ollama_body(
    req: FimRequest,
    *,
    stream: bool,
    keep_alive: str | int | None = None,
    num_ctx: int | None = None,
) -> dict[str, Any]:
    """The ``/api/generate`` body for a FIM request.

    An empty suffix is sent as ``"\\n"``: Ollama's templates only use their FIM form when the
    suffix is non-empty and would otherwise wrap the code in a chat prompt.
    """
    body: dict[str, Any] = {"model": req.model, "prompt": req.full_prompt()}
    if req.suffix is not None:
        body["suffix"] = req.suffix or "\n"
    body["stream"] = stream
    options = sampling_fields(req, max_tokens="num_predict")
    if num_ctx is not None:
        options["num_ctx"] = num_ctx
    if options:
        body["options"] = options
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    return body


def ollama_chat_body(req: ChatRequest, *, keep_alive: str | int | None = None) -> dict[str, Any]:
    """The ``/api/chat`` body for a chat request (sampling settings under ``options``)."""
    body: dict[str, Any] = {
        "model": req.model,
        "messages": [message.to_dict() for message in req.messages],
        "stream": True,
    }
    options: dict[str, Any] = {}
    if req.max_tokens is not None:
        options["num_predict"] = req.max_tokens
    if req.temperature is not None:
        options["temperature"] = req.temperature
    if req.top_p is not None:
        options["top_p"] = req.top_p
    if req.stop:
        options["stop"] = list(req.stop)
    if req.random_seed is not None:
        options["seed"] = req.random_seed
    if options:
        body["options"] = options
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    return body


def _usage(payload: Mapping[str, Any]) -> dict[str, Any] | None:
    prompt = payload.get("prompt_eval_count")
    completion = payload.get("eval_count")
    if not isinstance(prompt, int) and not isinstance(completion, int):
        return None
    prompt_tokens = prompt if isinstance(prompt, int) else 0
    completion_tokens = completion if isinstance(completion, int) else 0
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


class OllamaBackend(HttpBackend):
    """FIM through Ollama's native ``/api/generate`` (see the module docstring).

    ``keep_alive`` (e.g. ``"30m"``) and ``num_ctx`` (context window in tokens; Ollama's default
    is small and silently cuts long prompts) are sent only when given.
    """

    kind = "ollama"
    requires_key = False
    models_path = TAGS_PATH

    def __init__(
        self,
        endpoint: str,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        http: httpx.AsyncClient | None = None,
        keep_alive: str | int | None = None,
        num_ctx: int | None = None,
    ) -> None:
        super().__init__(endpoint, api_key, timeout=timeout, transport=transport, http=http)
        self.keep_alive = keep_alive
        self.num_ctx = num_ctx

    @classmethod
    def _normalize(cls, endpoint: str) -> str:
        # "localhost:11434" means plain HTTP; "/api" and "/v1" suffixes are tolerated.
        return normalize_base_url(
            endpoint, default_scheme="http", strip_suffixes=("/api", "/v1"), what="Ollama URL"
        )

    # ------------------------------------------------------------------ public API

    async def fim_stream(self, req: FimRequest) -> AsyncGenerator[str, None]:
        """Yield the completion text piece by piece as Ollama generates it."""
        body = self._body(req, stream=True)
        async with aclosing(
            self._ndjson_pieces(GENERATE_PATH, body, req.model, _response_piece)
        ) as pieces:
            async for piece in pieces:
                yield piece

    async def chat_stream(
        self, req: ChatRequest, *, on_finish: Callable[[str], None] | None = None
    ) -> AsyncGenerator[str, None]:
        """Yield the chat answer piece by piece (``POST /api/chat``); ``on_finish`` receives
        the last line's ``done_reason`` (``"length"``: cut at ``num_predict``)."""
        body = ollama_chat_body(req, keep_alive=self.keep_alive)

        def piece_of(event: dict[str, Any]) -> Any:
            reason = event.get("done_reason")
            if on_finish is not None and event.get("done") is True and isinstance(reason, str):
                on_finish(reason)
            return _message_piece(event)

        async with aclosing(self._ndjson_pieces(CHAT_PATH, body, req.model, piece_of)) as pieces:
            async for piece in pieces:
                yield piece

    async def _ndjson_pieces(
        self,
        path: str,
        body: dict[str, Any],
        model: str | None,
        piece_of: Callable[[dict[str, Any]], Any],
    ) -> AsyncGenerator[str, None]:
        async with self._stream(path, body, model, "application/x-ndjson") as response:
            host, status = self._host_of(response), response.status_code
            stream = EventStream(response, "ndjson")
            async with aclosing(stream.data()) as source:
                async for line in source:
                    event = self._event(line, host, status)
                    piece = piece_of(event)
                    if isinstance(piece, str) and piece:
                        yield piece
                    if event.get("done") is True:
                        self._note_usage(_usage(event))
                        stream.finish()  # drain to the end so the connection is reused

    async def list_models(self) -> list[dict[str, Any]]:
        """Mistral-shaped cards for the models pulled into this Ollama (``/api/tags``)."""
        payload, host, status = await self._request_json("GET", TAGS_PATH, None, None)
        entries = payload.get("models") if isinstance(payload, dict) else None
        if not isinstance(entries, list):
            raise ProtocolError(
                f"{host} answered GET {TAGS_PATH} without a model list; is this an Ollama server?",
                status=status,
            )
        cards = [ollama_model_card(entry) for entry in entries if isinstance(entry, dict)]
        return [card for card in cards if card is not None]

    # ------------------------------------------------------------------ internals

    def _body(self, req: FimRequest, *, stream: bool) -> dict[str, Any]:
        return ollama_body(req, stream=stream, keep_alive=self.keep_alive, num_ctx=self.num_ctx)

    def _error(
        self, response: httpx.Response, endpoint: str, model: str | None, key_sent: bool
    ) -> BackendError:
        error = super()._error(response, endpoint, model, key_sent)
        if not isinstance(error, BadRequestError) or not model:
            return error
        detail = error.detail.lower()
        if response.status_code == 404 and "not found" in detail:
            hint = f"pull it with `ollama pull {model}`"
        elif "does not support insert" in detail:
            hint = "this model cannot fill in the middle; pick a code model such as codestral"
        else:
            return error
        error._set_message(f"{error.message.rstrip('.')} ({hint}).")
        return error

    @staticmethod
    def _event(line: str, host: str, status: int) -> dict[str, Any]:
        return stream_event(
            line,
            host,
            status,
            is_error=lambda event: (
                "error" in event and "response" not in event and "message" not in event
            ),
        )


def _response_piece(event: dict[str, Any]) -> Any:
    return event.get("response")


def _message_piece(event: dict[str, Any]) -> Any:
    message = event.get("message")
    return message.get("content") if isinstance(message, dict) else None
