"""What kind of server an endpoint is, and the context it really runs with: found by asking.

``backend: "auto"`` used to be decided by the port alone, which missed llama-server on 8012
(the port of its own ``--fim-…`` presets) and fell back to Mistral.  Now each endpoint is
probed once, with a short timeout, and the answer is cached:

* ``GET /props`` answers with ``default_generation_settings`` → llama.cpp's llama-server;
* ``GET /api/tags`` answers ``{"models": [...]}`` → Ollama;
* ``GET /v1/models`` answers ``{"data": [...]}`` → an OpenAI-compatible server (llama.cpp
  when the cards say ``owned_by: "llamacpp"``);
* cards shaped like Mistral's (``capabilities.completion_fim``) → Mistral (a gateway);
* a ``mistral.ai`` host is Mistral without asking; when nothing answers (Mistral's API wants a
  key even for its model list), the port and path decide as before
  (:func:`codestral_ls.backends.detect_backend`): they are only hints.

The probes go out together, without the key, and each gives up after :data:`PROBE_TIMEOUT`.

The context size (:meth:`EndpointProbe.context_size`): llama.cpp's ``/props``
``n_ctx``; Ollama's runtime ``context_length`` of a loaded model (``/api/ps``), else the
``num_ctx`` of the model's parameters, else Ollama's default, never more than the model's
own ``context_length`` (``/api/show``); an OpenAI-compatible server's ``/v1/models`` metadata
reaches the prompt budget through the model catalog instead.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from .llamacpp import LLAMACPP_OWNER, PROPS_PATH, props_n_ctx

__all__ = [
    "OLLAMA_DEFAULT_NUM_CTX",
    "PROBE_TIMEOUT",
    "Detection",
    "EndpointProbe",
    "ollama_context",
    "probe_base",
]

logger = logging.getLogger(__name__)

#: Seconds each probe request may take.
PROBE_TIMEOUT = 1.5
#: Seconds before an endpoint where no probe was answered is probed again.
UNANSWERED_RETRY = 30.0
#: The context Ollama gives a model when neither the request nor the model says otherwise.
OLLAMA_DEFAULT_NUM_CTX = 4096

_NUM_CTX_RE = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Detection:
    """What an endpoint turned out to be."""

    kind: str
    """``"mistral"``, ``"ollama"``, ``"openai"`` or ``"llamacpp"``."""
    reason: str
    """One sentence: why (for ``doctor`` and the log)."""
    probed: bool = True
    """False when no probe answered and the URL decided."""
    context_length: int | None = None
    """The server's context per request when the probe read it (llama.cpp's ``n_ctx``)."""


def probe_base(endpoint: str) -> str:
    """The server root the probe paths hang off (``…/v1`` and ``…/api`` removed)."""
    value = endpoint.strip()
    if "://" not in value:
        value = f"http://{value}"
    value = value.rstrip("/")
    for suffix in ("/v1", "/api"):
        if value.endswith(suffix):
            return value[: -len(suffix)].rstrip("/")
    return value


def _is_mistral_host(endpoint: str) -> bool:
    try:
        host = (urlsplit(probe_base(endpoint)).hostname or "").lower()
    except ValueError:
        return False
    return host == "mistral.ai" or host.endswith(".mistral.ai")


def _is_mistral_card(card: Any) -> bool:
    """A card of Mistral's API (or of a gateway in front of it)."""
    if not isinstance(card, Mapping):
        return False
    capabilities = card.get("capabilities")
    return card.get("owned_by") == "mistralai" or (
        isinstance(capabilities, Mapping) and "completion_fim" in capabilities
    )


def _positive_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def ollama_context(
    show: Any, running: Any, model: str, *, num_ctx: int | None = None
) -> tuple[int | None, str]:
    """Ollama's context for ``model`` from ``/api/show`` and ``/api/ps`` answers.

    Returns (tokens or None, where the figure came from).  The runtime figure wins: a loaded
    model's ``context_length`` (``/api/ps``), else the ``num_ctx`` codestral-ls sends, else
    the model's ``num_ctx`` parameter, else Ollama's default; it is capped by what the model
    was trained for (``model_info["<arch>.context_length"]``).
    """
    trained: int | None = None
    parameter: int | None = None
    if isinstance(show, Mapping):
        info = show.get("model_info")
        if isinstance(info, Mapping):
            for key, value in info.items():
                if str(key).endswith(".context_length") and (n := _positive_int(value)):
                    trained = n
                    break
        parameters = show.get("parameters")
        if isinstance(parameters, str) and (match := _NUM_CTX_RE.search(parameters)):
            parameter = int(match.group(1))
    loaded: int | None = None
    if isinstance(running, Mapping) and isinstance(running.get("models"), list):
        for entry in running["models"]:
            if not isinstance(entry, Mapping):
                continue
            names = {entry.get("name"), entry.get("model")}
            if model in names or f"{model}:latest" in names:
                loaded = _positive_int(entry.get("context_length"))
                break
    if loaded:
        value, source = loaded, "the loaded model's context_length (/api/ps)"
    elif num_ctx:
        value, source = num_ctx, "the num_ctx sent with each request"
    elif parameter:
        value, source = parameter, "the model's num_ctx parameter (/api/show)"
    else:
        value, source = OLLAMA_DEFAULT_NUM_CTX, "Ollama's default num_ctx"
    if trained and trained < value:
        return trained, "the model's trained context_length (/api/show)"
    return value, source


class EndpointProbe:
    """Probes endpoints and remembers the answers (one instance per server process).

    ``fallback(endpoint)`` gives the kind when no probe answers (the URL hints).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        fallback: Callable[[str], str],
        *,
        timeout: float = PROBE_TIMEOUT,
    ) -> None:
        self.http = http
        self.fallback = fallback
        self.timeout = timeout
        self._detections: dict[str, Detection] = {}
        self._pending: dict[str, asyncio.Future[Detection]] = {}
        self._contexts: dict[tuple[str, str], tuple[int, str]] = {}
        self._probed_at: dict[str, float] = {}
        self.clock: Callable[[], float] = time.monotonic

    # --- detection --------------------------------------------------------------------------

    def cached(self, endpoint: str) -> Detection | None:
        """The detection of ``endpoint`` if it was already probed."""
        if _is_mistral_host(endpoint):
            return Detection("mistral", "the host is a mistral.ai host", probed=False)
        base = probe_base(endpoint)
        detection = self._detections.get(base)
        # Nothing answered: the server may start later; ask again after a while.
        if (
            detection is not None
            and not detection.probed
            and self.clock() - self._probed_at.get(base, 0.0) > UNANSWERED_RETRY
        ):
            return None
        return detection

    def forget(self, endpoint: str) -> None:
        """Probe ``endpoint`` again next time (a connection failure: maybe another server)."""
        base = probe_base(endpoint)
        self._detections.pop(base, None)
        for key in [key for key in self._contexts if key[0] == base]:
            del self._contexts[key]

    async def detect(self, endpoint: str) -> Detection:
        """Probe ``endpoint`` (once; concurrent callers share the probe)."""
        known = self.cached(endpoint)
        if known is not None:
            return known
        base = probe_base(endpoint)
        pending = self._pending.get(base)
        if pending is None:
            pending = asyncio.ensure_future(self._probe(endpoint, base))
            self._pending[base] = pending
            pending.add_done_callback(lambda _f: self._pending.pop(base, None))
        detection = await asyncio.shield(pending)
        self._detections[base] = detection
        self._probed_at[base] = self.clock()
        logger.info("backend of %s: %s (%s)", base, detection.kind, detection.reason)
        return detection

    async def _get(self, url: str, answered: set[str] | None = None) -> Any:
        """The JSON answer of a ``GET``, or None for anything else (errors included);
        ``answered`` collects the URLs that got any HTTP answer."""
        try:
            response = await self.http.get(url, timeout=self.timeout)
        except (httpx.HTTPError, OSError) as error:
            logger.debug("probe %s: %s", url, type(error).__name__)
            return None
        if answered is not None:
            answered.add(url)
        if not response.is_success:
            logger.debug("probe %s: HTTP %s", url, response.status_code)
            return None
        try:
            return response.json()
        except ValueError:
            return None

    async def _probe(self, endpoint: str, base: str) -> Detection:
        answered: set[str] = set()
        props, tags, models = await asyncio.gather(
            self._get(base + PROPS_PATH, answered),
            self._get(base + "/api/tags", answered),
            self._get(base + "/v1/models", answered),
        )
        cards = models.get("data") if isinstance(models, Mapping) else None
        llama_cards = isinstance(cards, list) and any(
            isinstance(card, Mapping) and card.get("owned_by") == LLAMACPP_OWNER for card in cards
        )
        if isinstance(props, Mapping) and "default_generation_settings" in props:
            n_ctx = props_n_ctx(props)
            return Detection(
                "llamacpp",
                f"GET {PROPS_PATH} answered like llama.cpp's llama-server"
                + (f" (n_ctx {n_ctx})" if n_ctx else ""),
                context_length=n_ctx,
            )
        if llama_cards:
            return Detection(
                "llamacpp", 'GET /v1/models lists models owned_by "llamacpp" (llama-server)'
            )
        if isinstance(tags, Mapping) and isinstance(tags.get("models"), list):
            return Detection("ollama", "GET /api/tags answered like Ollama")
        if isinstance(cards, list) and any(_is_mistral_card(card) for card in cards):
            return Detection("mistral", "GET /v1/models lists Mistral model cards")
        if isinstance(cards, list):
            return Detection("openai", "GET /v1/models answered like an OpenAI-compatible server")
        kind = self.fallback(endpoint)
        if answered:  # a server is there (Mistral's API wants a key even for its list)
            return Detection(
                kind,
                f"the server did not answer {PROPS_PATH}, /api/tags or /v1/models without a "
                f"key; the URL suggests {kind}",
            )
        return Detection(
            kind,
            f"no server answered the probes ({PROPS_PATH}, /api/tags, /v1/models); "
            f"the URL suggests {kind}",
            probed=False,
        )

    # --- context size ------------------------------------------------------------------------

    def context_size(self, endpoint: str, model: str) -> int | None:
        """The context size read for ``model`` at ``endpoint``, if known."""
        base = probe_base(endpoint)
        found = self._contexts.get((base, model)) or self._contexts.get((base, ""))
        return found[0] if found else None

    def context_source(self, endpoint: str, model: str) -> str | None:
        base = probe_base(endpoint)
        found = self._contexts.get((base, model)) or self._contexts.get((base, ""))
        return found[1] if found else None

    async def read_context_size(
        self, kind: str, endpoint: str, model: str, *, num_ctx: int | None = None
    ) -> int | None:
        """Ask the server for the context it runs ``model`` with, and remember it."""
        base = probe_base(endpoint)
        if kind == "llamacpp":
            n_ctx = props_n_ctx(await self._get(base + PROPS_PATH))
            if n_ctx:
                self._contexts[(base, "")] = (n_ctx, f"n_ctx of GET {PROPS_PATH}")
            return n_ctx
        if kind == "ollama":
            show, running = await asyncio.gather(
                self._post(base + "/api/show", {"model": model}), self._get(base + "/api/ps")
            )
            if show is None and running is None:
                return None
            value, source = ollama_context(show, running, model, num_ctx=num_ctx)
            if value:
                self._contexts[(base, model)] = (value, source)
            return value
        return None

    async def _post(self, url: str, body: dict[str, Any]) -> Any:
        try:
            response = await self.http.post(url, json=body, timeout=self.timeout)
        except (httpx.HTTPError, OSError):
            return None
        if not response.is_success:
            return None
        try:
            return response.json()
        except ValueError:
            return None
