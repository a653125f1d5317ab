"""The model catalog: parsing, alias merging, capability split, deprecations, the service."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any

import pytest

from codestral_ls.catalog import (
    Catalog,
    CatalogService,
    ModelInfo,
    deprecated_in_use,
    listing,
    parse_models,
    source_key,
)
from codestral_ls.testing.fake_mistral import default_models


def card(model_id: str, **fields: Any) -> dict[str, Any]:
    capabilities = {
        "completion_fim": fields.pop("fim", False),
        "completion_chat": fields.pop("chat", True),
    }
    return {"id": model_id, "object": "model", "capabilities": capabilities, **fields}


# --- parsing -------------------------------------------------------------------------------


def test_default_fake_models_parse_with_capabilities_and_deprecation() -> None:
    catalog = Catalog.from_cards(default_models())
    assert [m.id for m in catalog.models] == [
        "codestral-2508",
        "mistral-large-latest",
        "mistral-embed",
        "codestral-2405",
    ]
    codestral = catalog.find("codestral-2508")
    assert codestral == ModelInfo(
        id="codestral-2508",
        name="codestral-2508",
        aliases=("codestral-latest",),
        fim=True,
        chat=True,
        context_length=256000,
        deprecation=None,
        replacement=None,
        description="Our cutting-edge language model for coding released August 2025.",
    )
    old = catalog.find("codestral-2405")
    assert old is not None
    assert old.deprecation == "2025-05-31T12:00:00Z"
    assert old.replacement == "codestral-2508"


def test_find_by_id_or_alias_gives_the_same_model() -> None:
    catalog = Catalog.from_cards(default_models())
    assert catalog.find("codestral-latest") is catalog.find("codestral-2508")
    assert catalog.find("mistral-large-2411") is catalog.find("mistral-large-latest")
    assert catalog.find("codestral") is None
    assert catalog.context_length("codestral-latest") == 256000
    assert catalog.context_length("nope") is None


def test_split_by_capability() -> None:
    catalog = Catalog.from_cards(default_models())
    assert [m.id for m in catalog.completion_models] == ["codestral-2508", "codestral-2405"]
    assert [m.id for m in catalog.chat_models] == [
        "codestral-2508",
        "mistral-large-latest",
        "codestral-2405",
    ]
    assert all(not m.can("completion") for m in catalog.models if m.id == "mistral-embed")


def test_models_for_puts_deprecated_models_last() -> None:
    cards = [
        card("old-coder", fim=True, deprecation="2024-01-01", deprecation_replacement_model="new"),
        card("new-coder", fim=True),
    ]
    catalog = Catalog.from_cards(cards)
    assert [m.id for m in catalog.models_for("completion")] == ["new-coder", "old-coder"]


def test_alias_listed_as_its_own_card_is_one_model() -> None:
    # The real API lists the moving alias as a card too, each naming the other as an alias.
    cards = [
        card("codestral-latest", fim=True, aliases=["codestral-2508"], max_context_length=256000),
        card("codestral-2508", fim=True, aliases=["codestral-latest"], max_context_length=256000),
        card("mistral-small-latest", aliases=["mistral-small-2503"]),
    ]
    models = parse_models(cards)
    assert [(m.id, m.aliases) for m in models] == [
        ("codestral-2508", ("codestral-latest",)),
        ("mistral-small-latest", ("mistral-small-2503",)),
    ]


def test_aliases_chain_transitively_and_capabilities_add_up() -> None:
    cards = [
        card("a-latest", aliases=["a-2"], fim=False, chat=True),
        card("a-2", aliases=["a-2b"], fim=True, chat=False, max_context_length=4096),
        card("a-2b", fim=False, chat=False),
    ]
    [model] = parse_models(cards)
    assert model.id == "a-2"
    assert set(model.aliases) == {"a-latest", "a-2b"}
    assert model.fim and model.chat
    assert model.context_length == 4096


def test_only_latest_names_keep_the_first_card_id() -> None:
    [model] = parse_models([card("x-latest", aliases=["y-latest"]), card("y-latest")])
    assert model.id == "x-latest"
    assert model.aliases == ("y-latest",)


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "codestral",
        {"object": "model"},
        {"id": ""},
        {"id": 7},
        {"id": "  "},
    ],
)
def test_malformed_cards_are_skipped(bad: Any) -> None:
    models = parse_models([bad, card("ok", fim=True)])
    assert [m.id for m in models] == ["ok"]


def test_malformed_fields_fall_back() -> None:
    [model] = parse_models(
        [
            {
                "id": "m",
                "capabilities": "yes",
                "max_context_length": True,
                "aliases": ["m", "", 3, "m2", "m2"],
                "deprecation": 12,
                "name": None,
            }
        ]
    )
    assert model == ModelInfo(id="m", name="m", aliases=("m2",))


def test_replacement_without_deprecation_is_dropped() -> None:
    [model] = parse_models([card("m", deprecation_replacement_model="n")])
    assert model.replacement is None and model.deprecation is None


# --- what commands say ---------------------------------------------------------------------


def test_listing_marks_in_use_by_alias_and_id() -> None:
    catalog = Catalog.from_cards(default_models())
    result = listing(
        catalog,
        endpoint="https://codestral.mistral.ai",
        backend="mistral",
        completion_model="codestral-latest",
        chat_model="mistral-large-2411",
    )
    assert result["endpoint"] == "https://codestral.mistral.ai"
    assert result["backend"] == "mistral"
    assert result["completionModel"] == "codestral-latest"
    assert result["chatModel"] == "mistral-large-2411"
    by_id = {m["id"]: m for m in result["models"]}
    assert by_id["codestral-2508"] == {
        "id": "codestral-2508",
        "name": "codestral-2508",
        "aliases": ["codestral-latest"],
        "fim": True,
        "chat": True,
        "contextLength": 256000,
        "deprecation": None,
        "replacement": None,
        "inUse": ["completion"],
    }
    assert by_id["mistral-large-latest"]["inUse"] == ["chat"]
    assert by_id["codestral-2405"]["inUse"] == []
    assert by_id["codestral-2405"]["replacement"] == "codestral-2508"

    both = listing(
        catalog,
        endpoint="e",
        backend="mistral",
        completion_model="codestral-2508",
        chat_model="codestral-latest",
    )
    assert both["models"][0]["id"] == "codestral-2508"
    assert both["models"][0]["inUse"] == ["completion", "chat"]


def test_deprecated_in_use_names_the_replacement_once_per_model() -> None:
    catalog = Catalog.from_cards(default_models())
    assert deprecated_in_use(catalog, {"completion": "codestral-latest", "chat": "x"}) == []
    [only] = deprecated_in_use(catalog, {"completion": "codestral-2405", "chat": "codestral-2405"})
    assert only.kinds == ("completion", "chat")
    assert only.key == "deprecated:codestral-2405"
    assert "'codestral-2405'" in only.message
    assert "completions and chat" in only.message
    assert "2025-05-31" in only.message
    assert "'codestral-2508'" in only.message


def test_deprecation_without_replacement_says_to_pick_another() -> None:
    catalog = Catalog.from_cards([card("old", fim=True, deprecation="2024-01-01")])
    [only] = deprecated_in_use(catalog, {"completion": "old"})
    assert "pick another model" in only.message


# --- the service ---------------------------------------------------------------------------


class Source:
    """A controllable fetch: counts calls, can fail or block."""

    def __init__(self) -> None:
        self.calls = 0
        self.cards: list[dict[str, Any]] = default_models()
        self.error: Exception | None = None
        self.release: asyncio.Event | None = None
        self.started = asyncio.Event()

    async def fetch(self) -> list[dict[str, Any]]:
        self.calls += 1
        self.started.set()
        if self.release is not None:
            await self.release.wait()
        if self.error is not None:
            raise self.error
        return list(self.cards)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def service_for(source: Source, clock: Clock, where: list[Any] | None = None) -> CatalogService:
    where = where if where is not None else [("https://a", "k")]
    return CatalogService(source.fetch, lambda: where[0], ttl=600, clock=clock)


async def test_service_caches_for_the_ttl_then_refetches() -> None:
    source, clock = Source(), Clock()
    service = service_for(source, clock)
    assert service.current is None and not service.fresh
    first = await service.get()
    assert await service.get() is first
    assert source.calls == 1
    assert service.current is first and service.fresh
    assert service.context_length("codestral-latest") == 256000
    clock.now += 601
    assert not service.fresh
    assert service.current is first  # stale, still usable without the network
    second = await service.get()
    assert source.calls == 2 and second is not first


async def test_refresh_bypasses_the_cache() -> None:
    source, clock = Source(), Clock()
    service = service_for(source, clock)
    await service.get()
    source.cards = [card("only", fim=True)]
    refreshed = await service.get(refresh=True)
    assert source.calls == 2
    assert [m.id for m in refreshed.models] == ["only"]


async def test_concurrent_callers_share_one_fetch() -> None:
    source, clock = Source(), Clock()
    source.release = asyncio.Event()
    service = service_for(source, clock)
    first = asyncio.ensure_future(service.get())
    second = asyncio.ensure_future(service.get(refresh=True))
    await source.started.wait()  # both callers asked before the fetch started
    source.release.set()
    a, b = await asyncio.gather(first, second)
    assert a is b
    assert source.calls == 1


async def test_cancelling_a_caller_keeps_the_shared_fetch() -> None:
    source, clock = Source(), Clock()
    source.release = asyncio.Event()
    service = service_for(source, clock)
    cancelled = asyncio.ensure_future(service.get())
    kept = asyncio.ensure_future(service.get())
    await source.started.wait()
    cancelled.cancel()
    source.release.set()
    catalog = await kept
    assert cancelled.cancelled()
    assert len(catalog) == 4 and source.calls == 1


async def test_failures_propagate_and_are_not_cached() -> None:
    source, clock = Source(), Clock()
    service = service_for(source, clock)
    source.error = RuntimeError("down")
    with pytest.raises(RuntimeError, match="down"):
        await service.get()
    assert service.current is None
    source.error = None
    assert len(await service.get()) == 4
    assert source.calls == 2


async def test_catalog_belongs_to_its_source() -> None:
    source, clock = Source(), Clock()
    where: list[Any] = [source_key("https://a", "key-1")]
    service = service_for(source, clock, where)
    await service.get()
    where[0] = source_key("https://a", "key-2")
    assert service.current is None
    await service.get()
    assert source.calls == 2
    where[0] = source_key("https://a", "key-1")
    assert service.current is not None and service.fresh


def test_source_key_never_holds_the_key() -> None:
    key = source_key("https://a", "secret-key-123")
    assert "secret-key-123" not in repr(key)
    assert key == source_key("https://a", "secret-key-123")
    assert key != source_key("https://a", "other")
    assert source_key("https://a", None) == ("https://a", "")


async def test_progress_wraps_the_fetch_and_listeners_hear_first() -> None:
    source, clock = Source(), Clock()
    service = service_for(source, clock)
    events: list[str] = []

    @asynccontextmanager
    async def progress() -> Any:
        events.append("begin")
        try:
            yield
        finally:
            events.append("end")

    service.progress = progress
    service.listeners.append(lambda catalog: events.append(f"loaded {len(catalog)}"))

    def broken(catalog: Catalog) -> None:
        raise ValueError("listener bug")

    service.listeners.insert(0, broken)
    catalog = await service.get()
    events.append("returned")
    assert events == ["begin", "end", "loaded 4", "returned"]
    assert len(catalog) == 4

    source.error = RuntimeError("down")
    with pytest.raises(RuntimeError):
        await service.get(refresh=True)
    assert events[-2:] == ["begin", "end"]
