"""Backends: where completions, chat and model lists go, behind one interface.

Every feature (inline completions, code actions, the model picker, ``complete``, ``doctor``)
talks to one :class:`Backend` and does not know which kind it is:

* ``"mistral"`` - :class:`~codestral_ls.backends.mistral.MistralClient`: Mistral's hosted API
  (``codestral.mistral.ai`` / ``api.mistral.ai``) or anything speaking
  ``/v1/fim/completions``.  Needs a key.
* ``"ollama"`` - :class:`~codestral_ls.backends.ollama.OllamaBackend`: Ollama's native
  ``/api/generate`` with ``suffix``, ``/api/chat`` and ``/api/tags``.  No key.
* ``"openai"`` - :class:`~codestral_ls.backends.openai_compat.OpenAICompatBackend`:
  ``/v1/completions`` with ``suffix`` (LM Studio, Ollama's ``/v1``, vLLM…; a server refusing
  ``suffix`` is tried on llama.cpp's ``/infill``), ``/v1/chat/completions`` and ``/v1/models``.
  Key optional.
* ``"llamacpp"`` - :class:`~codestral_ls.backends.llamacpp.LlamaCppBackend`: llama.cpp's
  llama-server through its native ``/infill`` (its ``/v1/completions`` ignores ``suffix``),
  ``/v1/chat/completions`` and ``/v1/models``.  No key.

Beneath them, :mod:`~codestral_ls.backends.http` is the one HTTP layer (pooled client, error
mapping, key scrubbing, the SSE/NDJSON reader); :mod:`~codestral_ls.backends.errors` the neutral
error type :class:`~codestral_ls.backends.errors.BackendError` and its subclasses.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import httpx

from codestral_ls.mistral import ChatRequest, FimRequest

from .errors import BackendError
from .http import make_http_client
from .llamacpp import LlamaCppBackend
from .mistral import MistralClient
from .ollama import OllamaBackend
from .openai_compat import OpenAICompatBackend

__all__ = [
    "BACKEND_KINDS",
    "LOCAL_KINDS",
    "Backend",
    "BackendError",
    "LlamaCppBackend",
    "MistralClient",
    "OllamaBackend",
    "OpenAICompatBackend",
    "concrete_kind",
    "create_backend",
    "detect_backend",
    "endpoint_key",
    "make_http_client",
]

#: The concrete kinds (``"auto"`` is resolved with :func:`detect_backend`).
BACKEND_KINDS = ("mistral", "ollama", "openai", "llamacpp")
#: Kinds that usually run on the user's own machine (no key, maybe a cold CPU model).
LOCAL_KINDS = frozenset({"ollama", "openai", "llamacpp"})

OLLAMA_PORT = 11434
#: Default ports of local OpenAI-compatible servers: llama.cpp's llama-server, LM Studio, vLLM.
OPENAI_PORTS = frozenset({8080, 1234, 8000})
#: Ports of llama-server: its default and that of its ``--fim-…`` presets.
LLAMACPP_PORTS = frozenset({8080, 8012})


@runtime_checkable
class Backend(Protocol):
    """What every feature needs from a backend: stream FIM, stream chat, list models.

    Every failure is a :class:`~codestral_ls.backends.errors.BackendError` subclass with a
    one-sentence ``.message`` that never contains the key; :class:`asyncio.CancelledError`
    propagates.
    """

    kind: str  # "mistral" | "ollama" | "openai" | "llamacpp"
    requires_key: bool  # local backends need no key
    models_path: str  # where list_models() asks: "/v1/models", "/api/tags"

    @property
    def endpoint(self) -> str: ...

    @property
    def has_key(self) -> bool: ...

    def configure(
        self,
        endpoint: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
    ) -> None: ...

    def fim_stream(self, req: FimRequest) -> AsyncGenerator[str, None]:
        """Pieces of the completion; closing the generator early closes the HTTP response."""
        ...

    def chat_stream(
        self, req: ChatRequest, *, on_finish: Callable[[str], None] | None = None
    ) -> AsyncGenerator[str, None]:
        """Pieces of a chat answer (code actions); closing early closes the HTTP response.
        ``on_finish`` receives the finish reason (``"length"``: the answer was cut)."""
        ...

    async def list_models(self) -> list[dict[str, Any]]:
        """Mistral-shaped cards: ``id``, ``name``, ``aliases``, ``capabilities``
        (``completion_fim``, ``completion_chat``), ``max_context_length`` (int or None),
        ``deprecation``."""
        ...

    async def aclose(self) -> None: ...


def _parse(endpoint: str) -> tuple[str, int | None, str]:
    value = endpoint.strip()
    if "://" not in value:
        value = f"http://{value}"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return "", None, ""
    return (parts.hostname or "").lower(), port, parts.path.rstrip("/")


def detect_backend(endpoint: str) -> str:
    """The backend kind the URL of an endpoint suggests: only a hint, used when probing
    (:mod:`codestral_ls.backends.probe`) got no answer.

    Rules, first match wins:

    1. a ``mistral.ai`` host (``codestral.mistral.ai``, ``api.mistral.ai``…) → ``"mistral"``;
    2. port 11434 (Ollama's) → ``"ollama"``, unless the path ends in ``/v1`` (Ollama's
       OpenAI-compatible API) → ``"openai"``;
    3. a path ending in ``/v1`` → ``"openai"``;
    4. port 8080 or 8012 (llama.cpp's llama-server and its FIM presets) → ``"llamacpp"``;
    5. port 1234 (LM Studio) or 8000 (vLLM) → ``"openai"``;
    6. anything else (including an unparsable URL) → ``"mistral"`` (e.g. a gateway in front
       of Mistral's API).
    """
    host, port, path = _parse(endpoint)
    if host == "mistral.ai" or host.endswith(".mistral.ai"):
        return "mistral"
    openai_path = path.endswith("/v1")
    if port == OLLAMA_PORT:
        return "openai" if openai_path else "ollama"
    if openai_path:
        return "openai"
    if port in LLAMACPP_PORTS:
        return "llamacpp"
    if port in OPENAI_PORTS:
        return "openai"
    return "mistral"


_CLASSES: dict[
    str,
    type[MistralClient] | type[OllamaBackend] | type[OpenAICompatBackend] | type[LlamaCppBackend],
] = {
    "mistral": MistralClient,
    "ollama": OllamaBackend,
    "openai": OpenAICompatBackend,
    "llamacpp": LlamaCppBackend,
}


def concrete_kind(kind: str, endpoint: str) -> str:
    """``kind`` itself, or for ``"auto"`` the kind :func:`detect_backend` picks."""
    resolved = kind.strip().lower()
    return detect_backend(endpoint) if resolved == "auto" else resolved


def endpoint_key(kind: str, endpoint: str) -> str:
    """``endpoint`` the way a backend of ``kind`` normalises it (``"localhost:11434/api"`` →
    ``"http://localhost:11434"`` for Ollama): what identifies an endpoint, for example for the
    models remembered on it.  An endpoint the backend refuses is returned as it is."""
    cls = _CLASSES.get(concrete_kind(kind, endpoint))
    if cls is None:
        return endpoint
    try:
        return cls._normalize(endpoint)
    except ValueError:
        return endpoint


def create_backend(
    kind: str,
    *,
    endpoint: str,
    api_key: str | None,
    timeout: float,
    http: httpx.AsyncClient | None,
) -> Backend:
    """A backend of ``kind`` (``"auto"`` → :func:`detect_backend`) on the shared ``http``
    (None: a client of its own, closed by the backend's ``aclose()``).

    Raises ValueError for an unknown kind or an empty endpoint.
    """
    cls = _CLASSES.get(concrete_kind(kind, endpoint))
    if cls is not None:
        return cls(endpoint, api_key, timeout=timeout, http=http)
    raise ValueError(
        f"unknown backend {kind!r}: expected 'auto', 'mistral', 'ollama', 'openai' or 'llamacpp'"
    )
