"""llama.cpp's llama-server through the protocol (issue 12), against the faithful fake.

The fake is today's llama-server: ``/v1/completions`` takes ``suffix`` and ignores it, the
fill-in-the-middle endpoint is ``/infill``, ``/props`` tells the context size, the model is
listed by its GGUF path, a prompt larger than the context gets the real 400.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from codestral_ls.testing.fake_backends import LLAMACPP_MODEL_PATH, FakeOpenAI
from tests.e2e.conftest import Session, Starter
from tests.e2e.test_self_hosted import as_dict

URI = "file:///work/llama.py"
NO_KEYS: dict[str, str | None] = {"CODESTRAL_API_KEY": None, "MISTRAL_API_KEY": None}
SHORT_NAME = "codestral-22b-v0.1.Q4_K_M.gguf"


@pytest.fixture(scope="module")
def llama_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(flavor="llamacpp") as fake:
        yield fake


@pytest.fixture
def llama(llama_server: FakeOpenAI) -> FakeOpenAI:
    llama_server.reset()
    return llama_server


async def command(session: Session, name: str, argument: dict[str, Any] | None = None) -> Any:
    return await session.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=name, arguments=[argument or {}])
    )


def fim_paths(server: FakeOpenAI) -> list[str]:
    return [r.path for r in server.fim_requests()]


def big_file(lines: int) -> str:
    return "".join(f"value_{i} = compute({i}, 'some text here')\n" for i in range(lines))


@pytest.mark.parametrize("backend", ["auto", "openai"])
async def test_llama_server_is_probed_and_fills_in_the_middle(
    start: Starter, llama: FakeOpenAI, backend: str
) -> None:
    """Found by probing on any port (not 8080), no key asked; the suffix reaches the model
    through /infill, even when the user said "openai"."""
    llama.fim_text = "a + b"
    session = await start({"endpoint": llama.url, "backend": backend}, env=NO_KEYS)
    text = "def add(a, b):\n    return \n\nprint(add(1, 2))\n"
    session.open(URI, text)
    assert await session.complete_at(URI, text.index("\n\nprint")) == "a + b"
    assert fim_paths(llama) == ["/infill"]
    [request] = llama.fim_requests()
    assert request.errors == []
    assert request.body is not None
    assert request.body["input_prefix"] == "def add(a, b):\n    return "
    assert request.body["input_suffix"] == "\n\nprint(add(1, 2))\n"
    assert "input_extra" not in request.body  # no context files gathered here
    assert not [m for m in session.messages if "key" in m.lower()]


async def test_model_path_ids_in_the_picker(start: Starter, llama: FakeOpenAI) -> None:
    """The GGUF path is a valid id everywhere; the picker shows its file name."""
    session = await start({"endpoint": llama.url}, env=NO_KEYS, configuration={})
    listed = as_dict(await command(session, "codestral.listModels"))
    ids = [m["id"] for m in listed["models"]]
    assert ids == [LLAMACPP_MODEL_PATH]
    offered: list[list[str]] = []

    @session.client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def on_question(params: types.ShowMessageRequestParams) -> types.MessageActionItem:
        offered.append([action.title for action in params.actions or []])
        return types.MessageActionItem(title=SHORT_NAME)

    result = as_dict(await command(session, "codestral.selectModel", {"kind": "completion"}))
    assert offered == [[SHORT_NAME]]
    assert result["model"] == LLAMACPP_MODEL_PATH
    session.open(URI, "x = ")
    await session.complete_at(URI, 4)
    assert llama.fim_requests()[-1].body["model"] == LLAMACPP_MODEL_PATH  # type: ignore[index]
    # and as a setting: no "must be a model id", no confusing "pinned" message
    await command(session, "codestral.selectModel", {"model": LLAMACPP_MODEL_PATH})
    assert not [m for m in session.messages if "model id" in m or "pins" in m]


async def test_the_prompt_fits_the_servers_context(start: Starter, llama: FakeOpenAI) -> None:
    """llama-server -c 1024: /props says so and the prompt is sized to it: no 400."""
    llama.n_ctx = 1024
    session = await start({"endpoint": llama.url}, env=NO_KEYS)
    text = big_file(400)
    session.open(URI, text)
    assert await session.complete_at(URI, len(text) // 2) is not None
    [request] = llama.fim_requests()
    assert request.body is not None
    sent = len(request.body["input_prefix"]) + len(request.body["input_suffix"])
    assert 1000 < sent <= (1024 - 256 - 64) * 3
    assert not session.messages


async def test_a_context_refusal_shrinks_once_and_says_so(
    start: Starter, llama: FakeOpenAI
) -> None:
    """Tokens denser than estimated: the 400 is answered by one smaller retry, said once, and
    the next requests fit at once."""
    llama.n_ctx = 1024
    llama.chars_per_token = 1.5
    session = await start({"endpoint": llama.url}, env=NO_KEYS)
    text = big_file(400)
    session.open(URI, text)
    llama.fim_text = "1"
    assert await session.complete_at(URI, len(text) // 2) == "1"
    first, second = llama.fim_requests()
    assert first.body is not None and second.body is not None
    assert len(second.body["input_prefix"]) < len(first.body["input_prefix"])
    [message] = session.messages
    assert "context of 1024 tokens" in message and message.startswith("codestral-ls: ")
    # elsewhere in the file: one request that fits, no new message
    assert await session.complete_at(URI, len(text) // 3) == "1"
    assert len(llama.fim_requests()) == 3
    assert len(session.messages) == 1


async def test_a_cold_cpu_model_is_waited_for_with_default_settings(
    start: Starter, llama: FakeOpenAI
) -> None:
    """A cold CPU model takes longer than the 5 s default to read a long prompt; with a local
    backend and no requestTimeoutMs setting, the first suggestion still arrives."""
    llama.fim_text = "ready = True"
    llama.ttft = 6.0
    session = await start({"endpoint": llama.url}, env=NO_KEYS)
    text = big_file(100) + "\n"
    session.open(URI, text)
    assert await session.complete_at(URI, len(text)) == "ready = True"
    assert not [m for m in session.messages if "did not answer" in m]


async def test_runaway_loops_are_cut(start: Starter, llama: FakeOpenAI) -> None:
    """A real answer of a small model: one line repeated until max_tokens."""
    llama.fim_text = "width\n" + "        self.max_lines_per_word = max_lines_per_word\n" * 11
    session = await start({"endpoint": llama.url}, env=NO_KEYS)
    text = "class W:\n    def __init__(self, width, max_lines_per_word):\n        self.\n"
    session.open(URI, text)
    suggestion = await session.complete_at(URI, text.index("self.\n") + len("self."))
    assert suggestion == "width\n        self.max_lines_per_word = max_lines_per_word"


async def test_refused_commands_are_logged_at_info_without_traceback(
    start: Starter, llama: FakeOpenAI, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    session = await start(
        {"endpoint": llama.url},
        env=NO_KEYS,
        args=["--log-file", str(log), "--log-level", "INFO"],
    )
    with pytest.raises(Exception, match="kind"):
        await command(session, "codestral.selectModel", {"kind": "nope"})
    await command(session, "codestral.status")  # a later request: the refusal was logged
    content = log.read_text(encoding="utf-8")
    assert "refused" in content and "kind" in content
    assert "Traceback" not in content
    assert " ERROR " not in content and "ERROR:" not in content


async def test_ollama_prompt_fits_the_loaded_context(start: Starter) -> None:
    """Ollama cuts long prompts silently: the budget follows the runtime num_ctx (/api/ps)."""
    from codestral_ls.testing.fake_backends import FakeOllama

    with FakeOllama() as ollama:
        ollama.loaded = {"codestral:22b": 1024}
        session = await start({"endpoint": ollama.url, "model": "codestral:22b"}, env=NO_KEYS)
        text = big_file(400)
        session.open(URI, text)
        await session.complete_at(URI, len(text) // 2)
        [request] = ollama.fim_requests()
        assert request.body is not None
        sent = len(request.body["prompt"]) + len(request.body["suffix"])
        assert 1000 < sent <= (1024 - 256 - 64) * 3
