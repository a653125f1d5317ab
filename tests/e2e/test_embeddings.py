"""Semantic context through the protocol: the embeddings index against the fake API."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from codestral_ls.features.context import INDEX_READY
from codestral_ls.testing.fake_backends import (
    EMBED_PATH,
    OPENAI_EMBEDDINGS_PATH,
    FakeOllama,
    FakeOpenAI,
)
from codestral_ls.testing.fake_mistral import EMBEDDINGS_PATH, FakeMistral, Recorded, default_models
from tests.e2e.conftest import Session, Starter

NO_KEYS: dict[str, str | None] = {"CODESTRAL_API_KEY": None, "MISTRAL_API_KEY": None}
SETTINGS: dict[str, Any] = {
    "context": {"openFiles": False, "recentEdits": False, "imports": False, "embeddings": True}
}
MAIN_TEXT = "from src import mod3\n\norders = mod3.load_orders()\ntotal = "


def with_codestral_embed(fake: FakeMistral) -> None:
    """The fake's catalog plus codestral-embed, as the real API lists it."""
    [embed] = [dict(card) for card in default_models() if card["id"] == "mistral-embed"]
    embed.update(
        id="codestral-embed-2505", name="codestral-embed-2505", aliases=["codestral-embed"]
    )
    fake.models = [*default_models(), embed]


def make_project(root: Path) -> None:
    (root / "src").mkdir()
    for number in range(30):
        body = "".join(
            f"def step_{number}_{i}(order, amount):\n"
            f'    """Step {i} of pipeline {number}."""\n'
            f"    return order.total * amount + {i}\n\n\n"
            for i in range(20)
        )
        (root / "src" / f"mod{number}.py").write_text(body)
    (root / ".gitignore").write_text("ignored/\n")
    (root / "ignored").mkdir()
    (root / "ignored" / "skip.py").write_text("GITIGNORED_CODE = 1\n" * 20)
    (root / "app_secrets.yaml").write_text("token: SECRET_FROM_YAML\n" * 20)
    (root / "blob.py").write_bytes(b"BINARY_CODE = 1\n\0\1\2" * 50)
    (root / "schema_pb2.py").write_text("GENERATED_CODE = 1\n" * 20)
    (root / "main.py").write_text(MAIN_TEXT)


def embedding_requests(fake: FakeMistral) -> list[Recorded]:
    return [r for r in fake.requests if r.path == EMBEDDINGS_PATH]


def inputs_of(request: Recorded) -> list[str]:
    assert request.errors == []
    assert request.body is not None
    inputs = request.body["input"]
    assert isinstance(inputs, list)
    return inputs


async def until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll ``predicate`` (state the server reports asynchronously) up to ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def index_ready(session: Session) -> str:
    def ready() -> list[str]:
        return [m.message for m in session.client.log_messages if INDEX_READY in m.message]

    await until(lambda: bool(ready()))
    return ready()[0]


async def retrieved_block(session: Session, fake: FakeMistral, uri: str) -> str:
    """Complete until the prompt carries a retrieved chunk (the search runs in the background
    after the first request) and return that block."""
    found: list[str] = []

    async def attempt() -> None:
        await session.complete_at(uri, len(MAIN_TEXT))
        body: dict[str, Any] = fake.fim_requests()[-1].body or {}
        prompt = body["prompt"]
        if prompt.startswith("+++++ src/"):
            found.append(prompt[: prompt.index("+++++ main.py")])

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    await attempt()
    while not found:
        assert loop.time() < deadline, "no retrieved chunk in the prompt"
        await asyncio.sleep(0.05)
        await attempt()
    return found[0]


async def test_index_batches_persists_and_serves_retrieval(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    make_project(root)
    state = tmp_path / "state"
    uri = (root / "main.py").as_uri()

    with_codestral_embed(fake)
    session = await start(SETTINGS, root=root, state_dir=state)
    ready = await index_ready(session)
    built = embedding_requests(fake)
    sizes = [len(inputs_of(r)) for r in built]
    assert sum(sizes) == 30 * 3 + 1  # 30 files of 100 lines (3 chunks of 40 lines) + main.py
    assert len(built) <= 10 and max(sizes) > 1  # batched lists, not one call per chunk
    assert all(size > 1 for size in sizes[:-1])
    assert all(r.body and r.body["output_dimension"] == 256 for r in built)
    sent = "".join(text for r in built for text in inputs_of(r))
    for never in ("GITIGNORED_CODE", "SECRET_FROM_YAML", "BINARY_CODE", "GENERATED_CODE"):
        assert never not in sent
    assert re.search(r"91 chunks, 91 embedded", ready)
    tokens = list(session.client.progress_reports.values())
    assert any(
        isinstance(reports[0], types.WorkDoneProgressBegin)
        and reports[0].cancellable
        and isinstance(reports[-1], types.WorkDoneProgressEnd)
        for reports in tokens
    )

    session.open(uri, MAIN_TEXT)
    first = await retrieved_block(session, fake, uri)
    queries = embedding_requests(fake)[len(built) :]
    assert queries and all(len(inputs_of(r)) == 1 for r in queries)
    assert "def step_" in first

    # A restart with no changes: nothing is embedded again, and retrieval gives the same chunk.
    await session.client.shutdown_session()
    await session.client.stop()
    fake.reset()
    with_codestral_embed(fake)
    again = await start(SETTINGS, root=root, state_dir=state)
    ready = await index_ready(again)
    assert embedding_requests(fake) == []
    assert "0 embedded in 0 requests" in ready
    again.open(uri, MAIN_TEXT)
    assert await retrieved_block(again, fake, uri) == first
    assert all(len(inputs_of(r)) == 1 for r in embedding_requests(fake))  # queries only

    # A saved change re-embeds that file's changed chunks only.
    fake.reset()
    with_codestral_embed(fake)
    changed = root / "src" / "mod7.py"
    changed.write_text(changed.read_text() + "\n\ndef extra(order):\n    return order\n    # end\n")
    again.client.text_document_did_save(
        types.DidSaveTextDocumentParams(
            text_document=types.TextDocumentIdentifier(changed.as_uri())
        )
    )
    await until(lambda: bool(embedding_requests(fake)))
    [update] = embedding_requests(fake)
    assert len(inputs_of(update)) == 1 and "def extra(order)" in inputs_of(update)[0]


async def test_embeddings_off_sends_nothing_to_embed(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    make_project(tmp_path)
    off = {"context": {**SETTINGS["context"], "embeddings": False}}
    session = await start(off, root=tmp_path)
    uri = (tmp_path / "main.py").as_uri()
    session.open(uri, MAIN_TEXT)
    await session.complete_at(uri, len(MAIN_TEXT))
    await session.complete_at(uri, len(MAIN_TEXT) - 1)
    assert body_prompts(fake) == [MAIN_TEXT, MAIN_TEXT[:-1]]
    assert embedding_requests(fake) == []


def body_prompts(fake: FakeMistral) -> list[str]:
    return [str((r.body or {}).get("prompt")) for r in fake.fim_requests()]


@pytest.mark.parametrize("kind", ["ollama", "openai"])
async def test_self_hosted_backends_use_their_own_embeddings_endpoint(
    start: Starter, fake: FakeMistral, tmp_path: Path, kind: str
) -> None:
    make_project(tmp_path)
    server: FakeOllama | FakeOpenAI = FakeOllama() if kind == "ollama" else FakeOpenAI()
    with server:
        settings = {
            "backend": kind,
            "endpoint": server.url,
            "model": "codestral:22b" if kind == "ollama" else "codestral-22b",
            "context": {**SETTINGS["context"], "embeddingModel": "nomic-embed-text"},
        }
        session = await start(settings, root=tmp_path, env=NO_KEYS)
        ready = await index_ready(session)
        assert "91 chunks, 91 embedded" in ready
        path = EMBED_PATH if kind == "ollama" else OPENAI_EMBEDDINGS_PATH
        calls = [r for r in server.requests if r.path == path]
        assert calls and all(isinstance((r.body or {}).get("input"), list) for r in calls)
        assert sum(len((r.body or {})["input"]) for r in calls) == 91
        assert len(calls) < 91
        assert embedding_requests(fake) == []  # nothing went to Mistral


async def test_a_failed_build_is_told_once_and_completions_go_on(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    make_project(tmp_path)
    with_codestral_embed(fake)
    fake.fail_next(429, headers={"Retry-After": "1"})  # the first POST: an index batch
    session = await start(SETTINGS, root=tmp_path)
    await until(lambda: any("embeddings index failed" in m for m in session.messages))
    uri = (tmp_path / "main.py").as_uri()
    session.open(uri, MAIN_TEXT)
    fake.fim_text = "42"
    assert await session.complete_at(uri, len(MAIN_TEXT)) == "42"
    assert [m for m in session.messages if "embeddings index failed" in m] == [
        m for m in session.messages if "embeddings" in m
    ]
    assert len([m for m in session.messages if "embeddings index failed" in m]) == 1
    assert not [m for m in session.messages if "internal error" in m]
