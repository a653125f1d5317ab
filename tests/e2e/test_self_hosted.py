"""Self-hosted backends through the protocol: Ollama and OpenAI-compatible servers.

The same server, settings and commands as with Mistral; only the ``backend`` (or the endpoint,
with ``auto``) differs, and no key is needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lsprotocol import types

from codestral_ls.testing.fake_backends import FakeOllama, FakeOpenAI
from codestral_ls.testing.fake_mistral import FakeMistral
from tests.e2e.conftest import Session, Starter

URI = "file:///work/local.py"
NO_KEYS: dict[str, str | None] = {"CODESTRAL_API_KEY": None, "MISTRAL_API_KEY": None}


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


# --- every feature through the configured backend (issue 11) -------------------------------

SHAPES = "import math\n\ndef area(r):\n    result = math.pi * r * r\n    return result\n"
SIMPLIFIED = "```python\ndef area(r):\n    return math.pi * r ** 2\n```"
SIMPLE = "import math\n\ndef area(r):\n    return math.pi * r ** 2\n"


async def simplify(session: Session, uri: str) -> types.WorkspaceEdit | None:
    """List the actions at ``def area`` and resolve "Simplify"; the edit it carries."""
    from tests.e2e.test_code_actions import find, list_actions

    session.open(uri, SHAPES)
    action = find(await list_actions(session, uri, SHAPES.index("area")), "simplify")
    resolved = await session.client.code_action_resolve_async(action)
    return resolved.edit


def applied(session: Session, edit: types.WorkspaceEdit | None, uri: str) -> str:
    from tests.edits import apply_workspace_edit

    assert edit is not None
    return apply_workspace_edit(session.texts, edit, session.encoding, session.versions)[uri]


async def test_ollama_serves_code_actions_without_a_key(
    start: Starter, fake: FakeMistral, ollama: FakeOllama
) -> None:
    ollama.chat_text = SIMPLIFIED
    session = await start(
        {"backend": "ollama", "endpoint": ollama.url, "chatModel": "qwen2.5-coder:latest"},
        env=NO_KEYS,
    )
    edit = await simplify(session, URI)
    assert applied(session, edit, URI) == SIMPLE
    [request] = ollama.chat_requests()
    assert request.path == "/api/chat"
    assert request.errors == []
    assert request.body is not None
    assert request.body["model"] == "qwen2.5-coder:latest"
    assert request.body["stream"] is True
    assert request.body["options"] == {"num_predict": 2048, "temperature": 0.2}
    system, user = request.body["messages"]
    assert system["role"] == "system" and user["role"] == "user"
    assert "result = math.pi * r * r" in user["content"]
    assert "authorization" not in request.headers
    assert fake.requests == []
    assert not [m for m in session.messages if "API key" in m]


async def test_openai_compatible_server_serves_code_actions_without_a_key(
    start: Starter, fake: FakeMistral
) -> None:
    with FakeOpenAI(flavor="llamacpp") as server:
        server.chat_text = SIMPLIFIED
        session = await start(
            {"backend": "openai", "endpoint": server.url, "chatModel": "codestral-22b-v0.1"},
            env=NO_KEYS,
        )
        edit = await simplify(session, URI)
        assert applied(session, edit, URI) == SIMPLE
        [request] = server.chat_requests()
        assert request.path == "/v1/chat/completions"
        assert request.errors == []
        assert request.body is not None
        assert request.body["model"] == "codestral-22b-v0.1"
        assert request.body["stream"] is True
        assert request.body["max_tokens"] == 2048 and request.body["temperature"] == 0.2
        assert [m["role"] for m in request.body["messages"]] == ["system", "user"]
        assert "authorization" not in request.headers
    assert fake.requests == []
    assert not [m for m in session.messages if "API key" in m]


async def test_a_model_picked_on_one_endpoint_stays_with_that_endpoint(
    start: Starter, fake: FakeMistral, ollama: FakeOllama, tmp_path: Path
) -> None:
    on_ollama = {"backend": "ollama", "endpoint": ollama.url}
    on_mistral = {"backend": "mistral", "endpoint": fake.url}
    session = await start(env={"CODESTRAL_LS_STATE_DIR": str(tmp_path)}, configuration=on_ollama)
    picked = as_dict(
        await command(
            session,
            "codestral.selectModel",
            {"model": "qwen2.5-coder:latest", "kind": "completion"},
        )
    )
    assert picked == {"model": "qwen2.5-coder:latest", "kind": "completion", "persisted": True}
    chat = as_dict(
        await command(
            session, "codestral.selectModel", {"model": "llama3.2:latest", "kind": "chat"}
        )
    )
    assert chat["persisted"] is True
    session.open(URI, "x = ")
    await session.complete_at(URI, 4)
    assert ollama.fim_requests()[-1].body["model"] == "qwen2.5-coder:latest"  # type: ignore[index]

    async def switch(settings: dict[str, Any]) -> None:
        session.client.set_configuration(settings, section="codestral")
        session.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings=None)
        )

    await switch(on_mistral)
    session.replace(URI, 4, 4, "1")
    await session.complete_at(URI, 5)
    [request] = fake.fim_requests()
    assert request.body is not None and request.body["model"] == "codestral-latest"
    listing = as_dict(await command(session, "codestral.listModels"))
    assert listing["completionModel"] == "codestral-latest"
    assert listing["chatModel"] == "codestral-latest"

    await switch(on_ollama)
    session.replace(URI, 5, 5, "2")
    await session.complete_at(URI, 6)
    assert ollama.fim_requests()[-1].body["model"] == "qwen2.5-coder:latest"  # type: ignore[index]

    saved = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))
    assert saved["models"] == {
        ollama.url: {"completion": "qwen2.5-coder:latest", "chat": "llama3.2:latest"}
    }


async def test_a_remembered_model_the_endpoint_does_not_list_is_ignored_once(
    start: Starter, fake: FakeMistral, ollama: FakeOllama, tmp_path: Path
) -> None:
    (tmp_path / "state.json").write_text(
        json.dumps({"version": 2, "models": {ollama.url: {"completion": "gone-model:7b"}}}),
        encoding="utf-8",
    )
    session = await start(
        {"backend": "ollama", "endpoint": ollama.url, "chatModel": "llama3.2:latest"},
        env={"CODESTRAL_LS_STATE_DIR": str(tmp_path), **NO_KEYS},
    )

    def told() -> list[str]:
        return [m for m in session.messages if "gone-model:7b" in m]

    assert await ollama.await_until(lambda: bool(told()), timeout=30)
    [message] = told()
    assert "not offered" in message and "codestral-latest" in message
    session.open(URI, "x = ")
    await session.complete_at(URI, 4)
    # Ollama has no "codestral-latest" (the default), but the request names the setting's model.
    [request] = ollama.fim_requests()
    assert request.body is not None and request.body["model"] == "codestral-latest"
    listing = as_dict(await command(session, "codestral.listModels", {"refresh": True}))
    assert listing["completionModel"] == "codestral-latest"
    assert len(told()) == 1
