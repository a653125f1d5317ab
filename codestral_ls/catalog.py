"""The model catalog: which models an endpoint offers, what they can do, which are deprecated.

Two layers:

- pure parsing (:func:`parse_models`, :class:`Catalog`, :func:`listing`,
  :func:`deprecated_in_use`): raw ``GET /v1/models`` cards in, typed facts out;
- :class:`CatalogService`: fetches the cards through a callable (``MistralClient.list_models``
  or any backend returning Mistral-shaped cards), caches the parsed catalog for a while per
  endpoint and key, and shares one fetch between concurrent callers.

The real API lists a model under its dated id and may list its aliases (``codestral-latest``)
as cards of their own; every card linked by an id or an alias is one model here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

#: Seconds a fetched catalog is used before the next request for it fetches again.
CATALOG_TTL = 600.0

#: The kinds of model a user picks, in display order.
KINDS = ("completion", "chat")


@dataclass(frozen=True)
class ModelInfo:
    """One model as the endpoint describes it, its aliases merged in."""

    id: str
    name: str
    aliases: tuple[str, ...] = ()
    fim: bool = False
    """Can do fill-in-the-middle completions (``capabilities.completion_fim``)."""
    chat: bool = False
    """Can do chat completions (``capabilities.completion_chat``)."""
    context_length: int | None = None
    """``max_context_length`` in tokens, when the endpoint says."""
    deprecation: str | None = None
    """When the model is (or was) retired, as the endpoint wrote it (an ISO date)."""
    replacement: str | None = None
    """The model the endpoint recommends instead (``deprecation_replacement_model``)."""
    description: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The id followed by the aliases."""
        return (self.id, *self.aliases)

    def can(self, kind: str) -> bool:
        """Whether the model serves requests of ``kind`` (``"completion"`` or ``"chat"``)."""
        return self.fim if kind == "completion" else self.chat


class Catalog:
    """The models of one endpoint, findable by id or alias."""

    def __init__(self, models: Iterable[ModelInfo]) -> None:
        self.models: tuple[ModelInfo, ...] = tuple(models)
        self._by_name: dict[str, ModelInfo] = {}
        for model in self.models:
            for name in model.names:
                self._by_name.setdefault(name, model)

    def __len__(self) -> int:
        return len(self.models)

    def __repr__(self) -> str:
        return f"Catalog({[model.id for model in self.models]!r})"

    @classmethod
    def from_cards(cls, cards: Iterable[Any]) -> Catalog:
        return cls(parse_models(cards))

    def find(self, name: str) -> ModelInfo | None:
        """The model called ``name`` (its id or one of its aliases), if the endpoint has it."""
        return self._by_name.get(name)

    def context_length(self, name: str) -> int | None:
        """``max_context_length`` of the model called ``name``; None when unknown."""
        model = self.find(name)
        return model.context_length if model is not None else None

    @property
    def completion_models(self) -> tuple[ModelInfo, ...]:
        """Models that can do fill-in-the-middle completions."""
        return tuple(model for model in self.models if model.fim)

    @property
    def chat_models(self) -> tuple[ModelInfo, ...]:
        """Models that can do chat completions."""
        return tuple(model for model in self.models if model.chat)

    def models_for(self, kind: str) -> tuple[ModelInfo, ...]:
        """The models usable for ``kind``: current ones first, deprecated ones after."""
        usable = [model for model in self.models if model.can(kind)]
        return tuple(sorted(usable, key=lambda model: model.deprecation is not None))


# --- parsing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Card:
    """The fields of one raw card that matter, checked."""

    id: str
    aliases: tuple[str, ...]
    name: str | None
    fim: bool
    chat: bool
    context_length: int | None
    deprecation: str | None
    replacement: str | None
    description: str | None


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _card(raw: Any) -> _Card | None:
    if not isinstance(raw, Mapping):
        return None
    model_id = _text(raw.get("id"))
    if model_id is None:
        return None
    aliases_raw = raw.get("aliases")
    aliases: list[str] = []
    if isinstance(aliases_raw, list):
        for alias in aliases_raw:
            text = _text(alias)
            if text is not None and text != model_id and text not in aliases:
                aliases.append(text)
    capabilities = raw.get("capabilities")
    if not isinstance(capabilities, Mapping):
        capabilities = {}
    context = raw.get("max_context_length")
    if isinstance(context, bool) or not isinstance(context, int) or context <= 0:
        context = None
    return _Card(
        id=model_id,
        aliases=tuple(aliases),
        name=_text(raw.get("name")),
        fim=capabilities.get("completion_fim") is True,
        chat=capabilities.get("completion_chat") is True,
        context_length=context,
        deprecation=_text(raw.get("deprecation")),
        replacement=_text(raw.get("deprecation_replacement_model")),
        description=_text(raw.get("description")),
    )


def _is_moving_name(name: str) -> bool:
    """``codestral-latest`` and the like: names that follow releases rather than pin one."""
    return name.endswith("latest")


def parse_models(cards: Iterable[Any]) -> list[ModelInfo]:
    """Typed models from raw ``/v1/models`` cards, one per model however many cards name it.

    Cards linked through an id or an alias are merged: the model's id is the first card id of
    the group that is not a moving name (``*-latest``), every other name becomes an alias.
    Capabilities add up; other fields come from the card of the chosen id, falling back to the
    other cards.  Malformed cards (no id, not an object) are skipped.
    """
    parsed = [card for card in map(_card, cards) if card is not None]
    # Union-find over names: a card joins its id with each of its aliases.
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        parent.setdefault(name, name)
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for card in parsed:
        for alias in card.aliases:
            a, b = root(card.id), root(alias)
            if a != b:
                parent[b] = a
        root(card.id)

    groups: dict[str, list[_Card]] = {}
    for card in parsed:
        groups.setdefault(root(card.id), []).append(card)

    models: list[ModelInfo] = []
    for group in groups.values():  # dicts keep insertion order: the order of first appearance
        ids = list(dict.fromkeys(card.id for card in group))
        canonical = next((name for name in ids if not _is_moving_name(name)), ids[0])
        ordered = sorted(group, key=lambda card: card.id != canonical)
        names = list(ids)
        for card in group:
            names.extend(card.aliases)
        aliases = tuple(name for name in dict.fromkeys(names) if name != canonical)

        def first(field: str, cards: Sequence[_Card] = ordered) -> Any:
            return next(
                (getattr(card, field) for card in cards if getattr(card, field) is not None),
                None,
            )

        models.append(
            ModelInfo(
                id=canonical,
                name=first("name") or canonical,
                aliases=aliases,
                fim=any(card.fim for card in group),
                chat=any(card.chat for card in group),
                context_length=first("context_length"),
                deprecation=first("deprecation"),
                replacement=first("replacement") if first("deprecation") else None,
                description=first("description"),
            )
        )
    return models


# --- what the commands and warnings say --------------------------------------------------------


def in_use(model: ModelInfo, models_in_use: Mapping[str, str], catalog: Catalog) -> list[str]:
    """The kinds (in :data:`KINDS` order) whose model in use is ``model``, by id or alias."""
    return [
        kind
        for kind in KINDS
        if kind in models_in_use and catalog.find(models_in_use[kind]) is model
    ]


def listing(
    catalog: Catalog,
    *,
    endpoint: str,
    backend: str,
    completion_model: str,
    chat_model: str,
) -> dict[str, Any]:
    """The result of ``codestral.listModels`` (see docs/protocol.md)."""
    using = {"completion": completion_model, "chat": chat_model}
    return {
        "endpoint": endpoint,
        "backend": backend,
        "completionModel": completion_model,
        "chatModel": chat_model,
        "models": [
            {
                "id": model.id,
                "name": model.name,
                "aliases": list(model.aliases),
                "fim": model.fim,
                "chat": model.chat,
                "contextLength": model.context_length,
                "deprecation": model.deprecation,
                "replacement": model.replacement,
                "inUse": in_use(model, using, catalog),
            }
            for model in catalog.models
        ],
    }


@dataclass(frozen=True)
class Deprecation:
    """A deprecated model that is in use."""

    model: ModelInfo
    name: str
    """The name the settings use for it (an id or an alias)."""
    kinds: tuple[str, ...]

    @property
    def key(self) -> str:
        """Identifies the warning, so each deprecated model is told about once."""
        return f"deprecated:{self.model.id}"

    @property
    def message(self) -> str:
        uses = " and ".join(
            "completions" if kind == "completion" else "chat" for kind in self.kinds
        )
        when = f" (retired {self.model.deprecation[:10]})" if self.model.deprecation else ""
        instead = (
            f"; switch to '{self.model.replacement}'"
            if self.model.replacement
            else "; pick another model"
        )
        return (
            f"codestral-ls: the model '{self.name}' used for {uses} is deprecated{when}"
            f"{instead} with the 'codestral.selectModel' command or the settings."
        )


def deprecated_in_use(catalog: Catalog, models_in_use: Mapping[str, str]) -> list[Deprecation]:
    """The deprecated models among ``models_in_use`` (kind → name), one entry per model."""
    found: dict[str, Deprecation] = {}
    for kind in KINDS:
        name = models_in_use.get(kind)
        model = catalog.find(name) if name else None
        if name is None or model is None or model.deprecation is None:
            continue
        known = found.get(model.id)
        kinds = (*known.kinds, kind) if known else (kind,)
        found[model.id] = Deprecation(model, known.name if known else name, kinds)
    return list(found.values())


# --- the service ----------------------------------------------------------------------------


def source_key(endpoint: str, api_key: str | None) -> tuple[str, str]:
    """Identifies a catalog's source: the endpoint and a fingerprint of the key (never the key)."""
    fingerprint = hashlib.sha256(api_key.encode()).hexdigest()[:16] if api_key else ""
    return (endpoint, fingerprint)


Fetch = Callable[[], Awaitable[list[dict[str, Any]]]]
Progress = Callable[[], AbstractAsyncContextManager[Any]]


class CatalogService:
    """Fetches and caches the catalog of the endpoint in use.

    ``fetch`` returns raw cards; ``source`` identifies where they come from (endpoint and key):
    a catalog is only ever used for the source it was fetched from.  Concurrent callers share
    one fetch; a failed fetch is not cached.  ``progress`` (optional) wraps each fetch, for
    example in an LSP work-done progress; ``listeners`` are told about every fetched catalog
    before the callers waiting for it.
    """

    def __init__(
        self,
        fetch: Fetch,
        source: Callable[[], Hashable],
        *,
        ttl: float = CATALOG_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._source = source
        self.ttl = ttl
        self._clock = clock
        self._cached: dict[Hashable, tuple[float, Catalog]] = {}
        self._inflight: dict[Hashable, asyncio.Future[Catalog]] = {}
        self.progress: Progress | None = None
        self.listeners: list[Callable[[Catalog], None]] = []

    @property
    def current(self) -> Catalog | None:
        """The last catalog fetched for the endpoint in use (however old), or None."""
        entry = self._cached.get(self._source())
        return entry[1] if entry is not None else None

    @property
    def fresh(self) -> bool:
        """Whether :attr:`current` is younger than the TTL."""
        entry = self._cached.get(self._source())
        return entry is not None and self._clock() - entry[0] < self.ttl

    def context_length(self, name: str) -> int | None:
        """``max_context_length`` of ``name`` from the current catalog; None when unknown."""
        catalog = self.current
        return catalog.context_length(name) if catalog is not None else None

    async def get(self, *, refresh: bool = False) -> Catalog:
        """The catalog of the endpoint in use: cached when fresh, else fetched.

        ``refresh`` fetches even when the cache is fresh (but joins a fetch under way).
        Fetch errors propagate; cancelling a caller never cancels the shared fetch.
        """
        source = self._source()
        if not refresh and self.fresh:
            return self._cached[source][1]
        future = self._inflight.get(source)
        if future is None:
            future = asyncio.ensure_future(self._load(source))
            self._inflight[source] = future
            future.add_done_callback(lambda done: self._forget_inflight(source, done))
        return await asyncio.shield(future)

    def _forget_inflight(self, source: Hashable, done: asyncio.Future[Catalog]) -> None:
        if self._inflight.get(source) is done:
            del self._inflight[source]
        if not done.cancelled() and done.exception() is not None:
            # Retrieved here so an unawaited failure is not reported as "never retrieved".
            logger.debug("model list fetch failed: %s", done.exception())

    async def _load(self, source: Hashable) -> Catalog:
        progress = self.progress() if self.progress is not None else contextlib.nullcontext()
        async with progress:
            cards = await self._fetch()
        catalog = Catalog.from_cards(cards)
        self._cached[source] = (self._clock(), catalog)
        logger.info("model catalog: %d models (%s)", len(catalog), ", ".join(catalog_ids(catalog)))
        for listener in list(self.listeners):
            try:
                listener(catalog)
            except Exception:  # a listener must never lose the catalog
                logger.exception("catalog listener failed")
        return catalog


def catalog_ids(catalog: Catalog, limit: int = 12) -> list[str]:
    """Up to ``limit`` model ids, for logs."""
    ids = [model.id for model in catalog.models[:limit]]
    if len(catalog) > limit:
        ids.append(f"… {len(catalog) - limit} more")
    return ids


def picker_titles(models: Iterable[ModelInfo]) -> dict[str, str]:
    """Button titles for the model question, each mapped to its model id.

    A model whose id is a file path (llama-server lists the GGUF path given to ``-m``) is
    shown by its shortest alias, usually the file name; one with aliases shows them after
    its id (``codestral-2508 (codestral-latest)``).  Titles stay unique: a clash falls back
    to the full id.
    """
    titles: dict[str, str] = {}
    for model in models:
        if "/" in model.id or "\\" in model.id:
            short = min(model.aliases, key=len, default=model.id)
            title = short
        elif model.aliases:
            title = f"{model.id} ({', '.join(model.aliases)})"
        else:
            title = model.id
        if title in titles:
            title = model.id
        titles.setdefault(title, model.id)
    return titles
