"""Self-hosted backends through the protocol: Ollama and OpenAI-compatible servers.

The same server, settings and commands as with Mistral; only the ``backend`` (or the endpoint,
with ``auto``) differs, and no key is needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lsprotocol import types

from tests.e2e.conftest import Session, Starter
from tests.fake_backends import FakeOllama, FakeOpenAI
from tests.fake_mistral import FakeMistral

URI = "file:///work/local.py"
NO_KEYS: dict[str, str | None] = {"CODESTRAL_API_KEY": None, "MISTRAL_API_KEY": None}


@pytest.fixture(scope="module")
def ollama_server() -> Iterator[FakeOllama]:
    with FakeOllama() as fake:
        yield fake


@pytest.fixture
def ollama(ollama_server: FakeOllama) -> FakeOllama:
    ollama_server.reset()
    return ollama_server


async def command(session: Session, name: str, argument: dict[str, Any] | None = None) -> Any:
    return await session.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=name, arguments=[argument or {}])
    )


def as_dict(value: Any) -> Any:
    """pygls hands unknown result objects over as namedtuples; make them plain data."""
    if hasattr(value, "_asdict"):
        return {k: as_dict(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [as_dict(v) for v in value]
    return value


async def test_ollama_completes_without_a_key(
    start: Starter, fake: FakeMistral, ollama: FakeOllama
) -> None:
    ollama.fim_text = "os.getcwd()"
    session = await start(
        {"backend": "ollama", "endpoint": ollama.url, "model": "codestral:22b"}, env=NO_KEYS
    )
    session.open(URI, "import os\npath = \n")
    assert await session.complete_at(URI, len("import os\npath = ")) == "os.getcwd()"
    [request] = ollama.fim_requests()
    assert request.path == "/api/generate"
    assert request.body is not None
    assert request.body["model"] == "codestral:22b"
    assert request.body["prompt"] == "import os\npath = "
    assert request.body["suffix"] == "\n"
    assert "authorization" not in request.headers
    assert fake.requests == []  # nothing went to the Mistral endpoint
    assert not [m for m in session.messages if "API key" in m]


async def test_ollama_models_in_the_picker_and_switching(
    start: Starter, ollama: FakeOllama
) -> None:
    session = await start(
        {"backend": "ollama", "endpoint": ollama.url}, env=NO_KEYS, configuration={}
    )
    listed = as_dict(await command(session, "codestral.listModels"))
    assert listed["backend"] == "ollama"
    fim = {m["id"] for m in listed["models"] if m["fim"]}
    assert "codestral:22b" in fim and "qwen2.5-coder:latest" in fim
    assert "llama3.2:latest" not in fim and "nomic-embed-text:latest" not in fim
    result = as_dict(
        await command(
            session,
            "codestral.selectModel",
            {"model": "qwen2.5-coder:latest", "kind": "completion"},
        )
    )
    assert result["model"] == "qwen2.5-coder:latest"
    session.open(URI, "x = ")
    await session.complete_at(URI, 4)
    assert ollama.fim_requests()[-1].body["model"] == "qwen2.5-coder:latest"  # type: ignore[index]


async def test_openai_compatible_server_detected_from_the_endpoint(start: Starter) -> None:
    with FakeOpenAI() as server:
        server.fim_text = "42"
        session = await start(
            {"endpoint": f"{server.url}/v1", "model": "codestral-22b-v0.1"}, env=NO_KEYS
        )
        session.open(URI, "answer = ")
        assert await session.complete_at(URI, 9) == "42"
        [request] = server.fim_requests()
        assert request.path == "/v1/completions"
        assert request.body is not None and request.body["suffix"] == "\n"


async def test_a_proxy_refusing_suffix_falls_back_to_infill(start: Starter) -> None:
    with FakeOpenAI(flavor="proxy") as server:
        server.fim_text = "b"
        session = await start(
            {"backend": "openai", "endpoint": server.url, "model": "codestral-22b-v0.1"},
            env=NO_KEYS,
        )
        session.open(URI, "a = \n")
        assert await session.complete_at(URI, 4) == "b"
        paths = [r.path for r in server.fim_requests()]
        assert paths[-1] == "/infill"
        session.replace(URI, 4, 4, "b + ")
        await session.complete_at(URI, 8)
        assert [r.path for r in server.fim_requests()][len(paths) :] == ["/infill"]


async def test_openai_compatible_models_in_the_picker_and_switching(start: Starter) -> None:
    with FakeOpenAI() as server:
        session = await start(
            {"backend": "openai", "endpoint": server.url}, env=NO_KEYS, configuration={}
        )
        listed = as_dict(await command(session, "codestral.listModels"))
        assert listed["backend"] == "openai"
        fim = {m["id"] for m in listed["models"] if m["fim"]}
        assert fim == {"codestral-22b-v0.1", "qwen2.5-coder-7b-instruct"}  # no embedding model
        await command(
            session,
            "codestral.selectModel",
            {"model": "qwen2.5-coder-7b-instruct", "kind": "completion"},
        )
        session.open(URI, "x = ")
        await session.complete_at(URI, 4)
        assert server.fim_requests()[-1].body["model"] == "qwen2.5-coder-7b-instruct"  # type: ignore[index]
