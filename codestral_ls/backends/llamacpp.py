"""FIM completions from llama.cpp's ``llama-server`` through its native ``POST /infill``.

Today's llama-server accepts ``suffix`` on ``/v1/completions`` with 200 and silently ignores
it, so the model never sees the code after the cursor.  Its own fill-in-the-middle endpoint
is ``/infill``:

* ``input_prefix`` (the text before the cursor, bare) and ``input_suffix``;
* ``input_extra``: ``[{"filename": path, "text": text}]``, llama.cpp's repo-level FIM, where
  the snippets of other files go (:attr:`FimRequest.context_files`);
* sampling as in ``/completion`` (``n_predict``, ``temperature``, ``top_p``, ``stop``,
  ``seed``); a stream is SSE ``data: {"content": "piece", "stop": false}`` events.

The server is recognised by ``GET /props`` (``default_generation_settings.n_ctx`` is the
context each slot really runs with) and by ``/v1/models`` cards saying
``owned_by: "llamacpp"``; its model id is the GGUF path given to ``-m`` (or ``--alias``).
A model without FIM tokens gets 501 "Infill is not supported by this model".
"""

from __future__ import annotations

import posixpath
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import Any

import httpx

from codestral_ls.mistral import FimRequest

from .errors import BackendError, BadRequestError, endpoint_host
from .openai_compat import MODELS_PATH, OpenAICompatBackend, openai_model_card

__all__ = [
    "HEALTH_PATH",
    "LLAMACPP_OWNER",
    "PROPS_PATH",
    "LlamaCppBackend",
    "is_llamacpp_card",
    "llamacpp_model_card",
    "props_n_ctx",
    "short_model_name",
]

PROPS_PATH = "/props"
HEALTH_PATH = "/health"
#: ``owned_by`` of llama-server's ``/v1/models`` cards.
LLAMACPP_OWNER = "llamacpp"


def _positive_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def props_n_ctx(props: Any) -> int | None:
    """The context size of a slot from a ``GET /props`` answer (None if it has none).

    ``default_generation_settings.n_ctx`` in current builds; ``n_ctx`` at the top level in
    some older ones.
    """
    if not isinstance(props, Mapping):
        return None
    settings = props.get("default_generation_settings")
    if isinstance(settings, Mapping) and (n_ctx := _positive_int(settings.get("n_ctx"))):
        return n_ctx
    return _positive_int(props.get("n_ctx"))


def is_llamacpp_card(entry: Any) -> bool:
    """Whether a ``/v1/models`` entry comes from llama-server."""
    return isinstance(entry, Mapping) and entry.get("owned_by") == LLAMACPP_OWNER


def short_model_name(model_id: str) -> str:
    """A short name for a model id that is a file path: its file name (else the id)."""
    if "/" in model_id or "\\" in model_id:
        name = posixpath.basename(model_id.replace("\\", "/"))
        return name or model_id
    return model_id


def llamacpp_model_card(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """A Mistral-shaped card for one llama-server ``/v1/models`` entry.

    The runtime context (``meta.n_ctx``) is the card's ``max_context_length``; the aliases
    are the server's own (``--alias``) plus the file name of a path id, so the picker can show
    something shorter than ``/home/me/models/codestral-22b.Q4_K_M.gguf``.  llama-server
    serves its one model for any request, FIM included (a model without FIM tokens says so
    at the first request).
    """
    card = openai_model_card(entry)
    if card is None:
        return None
    model_id = str(card["id"])
    aliases: list[str] = []
    raw_aliases = entry.get("aliases")
    if isinstance(raw_aliases, list):
        aliases = [a for a in raw_aliases if isinstance(a, str) and a and a != model_id]
    short = short_model_name(model_id)
    if short != model_id and short not in aliases:
        aliases.append(short)
    meta = entry.get("meta")
    if isinstance(meta, Mapping) and (n_ctx := _positive_int(meta.get("n_ctx"))):
        card["max_context_length"] = n_ctx
    card["aliases"] = aliases
    card["capabilities"] = {"completion_fim": True, "completion_chat": True}
    card["owned_by"] = LLAMACPP_OWNER
    return card


class LlamaCppBackend(OpenAICompatBackend):
    """FIM through llama-server's ``/infill`` from the first request on (no probing)."""

    kind = "llamacpp"
    requires_key = False

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

    @property
    def fim_route(self) -> str | None:
        return "infill"

    async def fim_stream(self, req: FimRequest) -> AsyncGenerator[str, None]:
        try:
            async with aclosing(self._infill_stream(req)) as pieces:
                async for piece in pieces:
                    yield piece
        except BackendError as error:
            raise self._explained(error) from error

    async def list_models(self) -> list[dict[str, Any]]:
        """Mistral-shaped cards for llama-server's ``/v1/models`` (see
        :func:`llamacpp_model_card`)."""
        payload, _host, _status = await self._request_json("GET", MODELS_PATH, None, None)
        data = payload.get("data") if isinstance(payload, dict) else payload
        if not isinstance(data, list):
            return await super().list_models()
        cards = [llamacpp_model_card(entry) for entry in data if isinstance(entry, dict)]
        return [card for card in cards if card is not None]

    async def context_size(self) -> int | None:
        """The context each slot runs with (``GET /props``), None when it cannot be read."""
        try:
            payload, _host, _status = await self._request_json("GET", PROPS_PATH, None, None)
        except BackendError:
            return None
        return props_n_ctx(payload)

    def _explained(self, error: BackendError) -> BackendError:
        """Say what a 501 from ``/infill`` means for the user."""
        if error.status == 501 and "infill is not supported" in error.message.lower():
            host = endpoint_host(self._endpoint)
            return BadRequestError(
                f"{host} cannot fill in the middle with its model: it has no FIM tokens "
                "(use a code model such as Codestral, Qwen2.5-Coder or StarCoder2).",
                status=error.status,
                detail=error.message,
            )
        return error
