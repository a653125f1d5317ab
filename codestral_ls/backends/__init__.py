"""Completion backends: where fill-in-the-middle requests go.

The completion engine talks to one :class:`FimBackend` and does not know which kind it is:

* ``"mistral"`` - :class:`~codestral_ls.mistral.MistralClient`: Mistral's hosted API
  (``codestral.mistral.ai`` / ``api.mistral.ai``) or anything speaking
  ``/v1/fim/completions``.  Needs a key.
* ``"ollama"`` - :class:`~codestral_ls.backends.ollama.OllamaBackend`: Ollama's native
  ``/api/generate`` with ``suffix``.  No key.
* ``"openai"`` - :class:`~codestral_ls.backends.openai_compat.OpenAICompatBackend`:
  ``/v1/completions`` with ``suffix`` (LM Studio, Ollama's ``/v1``, vLLM…; a server refusing
  ``suffix`` is tried on llama.cpp's ``/infill``).  Key optional.
* ``"llamacpp"`` - :class:`~codestral_ls.backends.llamacpp.LlamaCppBackend`: llama.cpp's
  llama-server through its native ``/infill`` (its ``/v1/completions`` ignores ``suffix``).

:func:`create_backend` builds one on a shared :class:`httpx.AsyncClient` made by
:func:`make_http_client` (one connection pool for the process; the owner closes it, a backend's
``aclose()`` does not).  :func:`detect_backend` picks the kind for ``backend: "auto"``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import httpx

from codestral_ls.mistral import Completion, FimRequest, MistralClient
from codestral_ls.mistral._http import make_http_client

from .llamacpp import LlamaCppBackend
from .ollama import OllamaBackend
from .openai_compat import OpenAICompatBackend

__all__ = [
    "BACKEND_KINDS",
    "LOCAL_KINDS",
    "FimBackend",
    "LlamaCppBackend",
    "OllamaBackend",
    "OpenAICompatBackend",
    "create_backend",
    "detect_backend",
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
class FimBackend(Protocol):
    """What the completion engine needs from a backend.

    Every failure is a :class:`~codestral_ls.mistral.MistralError` subclass with a one-sentence
    ``.message`` that never contains the key; :class:`asyncio.CancelledError` propagates.
    """

    kind: str  # "mistral" | "ollama" | "openai" | "llamacpp"
    requires_key: bool  # local backends need no key

    @property
    def endpoint(self) -> str: ...

    def configure(
        self,
        endpoint: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
    ) -> None: ...

    async def fim(self, req: FimRequest) -> Completion: ...

    def fim_stream(self, req: FimRequest) -> AsyncGenerator[str, None]:
        """Pieces of the completion; closing the generator early closes the HTTP response."""
        ...

    async def list_models(self) -> list[dict[str, Any]]:
        """Mistral-shaped cards: ``id``, ``name``, ``aliases``, ``capabilities``
        (``completion_fim``, ``completion_chat``), ``max_context_length`` (int or None),
        ``deprecation``."""
        ...

    async def warm_up(self) -> None: ...

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


def create_backend(
    kind: str,
    *,
    endpoint: str,
    api_key: str | None,
    timeout: float,
    http: httpx.AsyncClient,
) -> FimBackend:
    """A backend of ``kind`` (``"auto"`` → :func:`detect_backend`) on the shared ``http``.

    Raises ValueError for an unknown kind or an empty endpoint.
    """
    resolved = kind.strip().lower()
    if resolved == "auto":
        resolved = detect_backend(endpoint)
    if resolved == "mistral":
        return MistralClient(endpoint, api_key, timeout=timeout, http=http)
    if resolved == "ollama":
        return OllamaBackend(endpoint, api_key, timeout=timeout, http=http)
    if resolved == "openai":
        return OpenAICompatBackend(endpoint, api_key, timeout=timeout, http=http)
    if resolved == "llamacpp":
        return LlamaCppBackend(endpoint, api_key, timeout=timeout, http=http)
    raise ValueError(
        f"unknown backend {kind!r}: expected 'auto', 'mistral', 'ollama', 'openai' or 'llamacpp'"
    )
