"""Embeddings through whichever backend serves completions.

* ``mistral``: ``POST /v1/embeddings`` (``EmbeddingRequest``; ``output_dimension`` for
  codestral-embed, which accepts it);
* ``ollama``: ``POST /api/embed`` with ``{"model", "input": [...]}`` -> ``{"embeddings": [...]}``;
* ``openai``: ``POST /v1/embeddings`` with ``{"model", "input": [...]}`` -> ``data[].embedding``.

Failures are :class:`~codestral_ls.backends.errors.BackendError` subclasses, like every
backend call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from codestral_ls.mistral import EmbeddingRequest

from .errors import ProtocolError
from .http import HttpBackend
from .mistral import MistralClient

OLLAMA_EMBED_PATH = "/api/embed"
OPENAI_EMBEDDINGS_PATH = "/v1/embeddings"

Embedder = Callable[[list[str]], Awaitable[list[list[float]]]]


def embedder_for(backend: Any, model: str, dimension: int | None = None) -> Embedder | None:
    """A function embedding a list of texts with ``model`` on ``backend`` (None when the
    backend has no embeddings endpoint)."""
    if isinstance(backend, MistralClient):
        mistral = backend
        wanted = dimension if model.startswith("codestral-embed") else None

        async def embed_mistral(texts: list[str]) -> list[list[float]]:
            return await mistral.embeddings(
                EmbeddingRequest(model=model, inputs=tuple(texts), output_dimension=wanted)
            )

        return embed_mistral
    kind = getattr(backend, "kind", None)
    if not isinstance(backend, HttpBackend) or kind not in ("ollama", "openai"):
        return None
    http = backend

    async def embed_local(texts: list[str]) -> list[list[float]]:
        path = OLLAMA_EMBED_PATH if kind == "ollama" else OPENAI_EMBEDDINGS_PATH
        payload, host, status = await http._request_json(
            "POST", path, {"model": model, "input": texts}, model
        )
        return parse_vectors(payload, kind, host, status, len(texts))

    return embed_local


def parse_vectors(payload: Any, kind: str, host: str, status: int, count: int) -> list[list[float]]:
    """Vectors in input order from an Ollama or OpenAI-style answer."""
    try:
        if kind == "ollama":
            vectors = [[float(x) for x in row] for row in payload["embeddings"]]
        else:
            items = sorted(payload["data"], key=lambda item: int(item.get("index", 0)))
            vectors = [[float(x) for x in item["embedding"]] for item in items]
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ProtocolError(f"{host} sent malformed embeddings.", status=status) from error
    if len(vectors) != count:
        raise ProtocolError(
            f"{host} sent {len(vectors)} embeddings for {count} texts.", status=status
        )
    return vectors
