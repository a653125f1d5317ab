"""Self-hosted backends (Ollama, OpenAI-compatible) against their fakes, the backend factory and
the shared HTTP client."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from codestral_ls import __version__
from codestral_ls.backends import (
    Backend,
    OllamaBackend,
    OpenAICompatBackend,
    create_backend,
    detect_backend,
    make_http_client,
)
from codestral_ls.backends.errors import (
    AuthenticationError,
    BadRequestError,
    NetworkError,
    ProtocolError,
    ServerError,
    UpstreamTimeout,
)
from codestral_ls.backends.mistral import MistralClient
from codestral_ls.backends.ollama import fim_and_chat, ollama_body
from codestral_ls.backends.openai_compat import completions_body, infill_body
from codestral_ls.mistral import FimRequest
from tests.fake_backends import GENERATE_PATH, INFILL_PATH, FakeOllama, FakeOpenAI
from tests.fake_mistral import FakeMistral
from tests.helpers import stream_fim

KEY = "sk-local-SECRET-0123456789"
OLLAMA_MODEL = "codestral:22b"
OPENAI_MODEL = "codestral-22b-v0.1"
TEXT = "return a + b\n"

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def ollama_fake() -> Iterator[FakeOllama]:
    with FakeOllama() as server:
        server.fim_text = TEXT
        yield server


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        server.fim_text = TEXT
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    client = make_http_client(timeout=5.0)
    yield client
    await client.aclose()


@pytest.fixture
async def ollama(ollama_fake: FakeOllama, http: httpx.AsyncClient) -> OllamaBackend:
    return OllamaBackend(ollama_fake.url, None, timeout=5.0, http=http)


@pytest.fixture
async def openai(openai_fake: FakeOpenAI, http: httpx.AsyncClient) -> OpenAICompatBackend:
    return OpenAICompatBackend(openai_fake.url, None, timeout=5.0, http=http)


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def _full(model: str) -> FimRequest:
    return FimRequest(
        model,
        "def add(a, b):\n    ",
        suffix="\n\nprint(add(1, 2))\n",
        max_tokens=64,
        min_tokens=1,
        temperature=0.2,
        top_p=0.9,
        stop=["\n\n"],
        random_seed=7,
    )


async def _collect(backend: Backend, req: FimRequest) -> list[str]:
    return [piece async for piece in backend.fim_stream(req)]


# =========================================================================== Ollama


async def test_ollama_fim_plain_sends_the_native_body(
    ollama: OllamaBackend, ollama_fake: FakeOllama
) -> None:
    completion = await stream_fim(ollama, _full(OLLAMA_MODEL))
    assert completion.text == TEXT
    assert completion.usage is not None and completion.usage["completion_tokens"] > 1
    [recorded] = ollama_fake.fim_requests()
    assert recorded.errors == []
    assert recorded.body == {
        "model": OLLAMA_MODEL,
        "prompt": "def add(a, b):\n    ",
        "suffix": "\n\nprint(add(1, 2))\n",
        "stream": True,
        "options": {
            "temperature": 0.2,
            "top_p": 0.9,
            "num_predict": 64,
            "stop": ["\n\n"],
            "seed": 7,
        },
    }
    assert "authorization" not in recorded.headers
    assert recorded.headers["user-agent"] == f"codestral-ls/{__version__}"


async def test_ollama_fim_stream(ollama: OllamaBackend, ollama_fake: FakeOllama) -> None:
    pieces = await _collect(ollama, _full(OLLAMA_MODEL))
    assert "".join(pieces) == TEXT
    assert len(pieces) > 1
    [recorded] = ollama_fake.fim_requests()
    assert recorded.errors == []
    assert recorded.stream and recorded.body is not None and recorded.body["stream"] is True
    # The NDJSON body was read to its end: the next request reuses the connection.
    assert (await stream_fim(ollama, FimRequest(OLLAMA_MODEL, "x", suffix="y"))).text == TEXT
    assert await _collect(ollama, FimRequest(OLLAMA_MODEL, "x", suffix="y")) != []
    assert ollama_fake.connections_opened == 1
    assert ollama_fake.streams_aborted == 0


def test_ollama_body_minimal_and_edge_cases() -> None:
    assert ollama_body(FimRequest(OLLAMA_MODEL, "x"), stream=True) == {
        "model": OLLAMA_MODEL,
        "prompt": "x",
        "stream": True,
    }
    # An empty suffix would switch Ollama's template out of FIM mode.
    assert ollama_body(FimRequest(OLLAMA_MODEL, "x", suffix=""), stream=False)["suffix"] == "\n"
    # min_tokens has no Ollama equivalent; keep_alive / num_ctx only when configured.
    body = ollama_body(
        FimRequest(OLLAMA_MODEL, "x", min_tokens=3, max_tokens=5),
        stream=False,
        keep_alive="30m",
        num_ctx=8192,
    )
    assert body == {
        "model": OLLAMA_MODEL,
        "prompt": "x",
        "stream": False,
        "options": {"num_predict": 5, "num_ctx": 8192},
        "keep_alive": "30m",
    }


async def test_ollama_options_reach_the_server(
    ollama_fake: FakeOllama, http: httpx.AsyncClient
) -> None:
    ollama_fake.fim_text = "alpha beta gamma delta"
    backend = OllamaBackend(ollama_fake.url, None, http=http, keep_alive="30m", num_ctx=4096)
    completion = await stream_fim(backend, FimRequest(OLLAMA_MODEL, "x", suffix="", max_tokens=2))
    assert completion.text == "alph" + "a"  # cut at max_tokens
    [recorded] = ollama_fake.fim_requests()
    assert recorded.errors == []
    assert recorded.body is not None
    assert recorded.body["keep_alive"] == "30m"
    assert recorded.body["options"] == {"num_predict": 2, "num_ctx": 4096}
    assert recorded.body["suffix"] == "\n"


async def test_ollama_list_models_normalises_tags(ollama: OllamaBackend) -> None:
    cards = {card["id"]: card for card in await ollama.list_models()}
    assert list(cards) == [
        "codestral:22b",
        "qwen2.5-coder:latest",
        "llama3.2:latest",
        "nomic-embed-text:latest",
        "codellama:7b-code",
    ]
    codestral = cards["codestral:22b"]
    assert codestral["name"] == "codestral:22b"
    assert codestral["capabilities"] == {"completion_fim": True, "completion_chat": True}
    assert codestral["max_context_length"] is None
    assert codestral["deprecation"] is None
    assert codestral["aliases"] == []
    assert codestral["description"] == "llama 22.2B Q4_0"
    assert cards["qwen2.5-coder:latest"]["aliases"] == ["qwen2.5-coder"]
    assert cards["llama3.2:latest"]["capabilities"] == {
        "completion_fim": False,
        "completion_chat": True,
    }
    assert cards["nomic-embed-text:latest"]["capabilities"] == {
        "completion_fim": False,
        "completion_chat": False,
    }
    assert cards["codellama:7b-code"]["capabilities"] == {
        "completion_fim": True,
        "completion_chat": False,
    }


@pytest.mark.parametrize(
    ("name", "fim", "chat"),
    [
        ("codestral:latest", True, True),
        ("hf.co/bartowski/Codestral-22B-v0.1-GGUF:Q4_K_M", True, True),
        ("deepseek-coder-v2:16b", True, True),
        ("qwen2.5-coder:1.5b-base", True, True),
        ("starcoder2:3b", True, False),
        ("starcoder2:15b-instruct", True, True),
        ("granite-code:8b", True, True),
        ("codellama:13b-code", True, False),
        ("codellama:latest", False, True),
        ("codellama:7b-instruct", False, True),
        ("codegemma:2b", True, False),
        ("codegemma:7b-instruct", False, True),
        ("llama3.1:8b", False, True),
        ("myregistry:5000/team/codestral", True, True),
        ("mxbai-embed-large:latest", False, False),
    ],
)
def test_ollama_capability_guess(name: str, fim: bool, chat: bool) -> None:
    assert fim_and_chat(name) == (fim, chat)


async def test_ollama_unknown_model(ollama: OllamaBackend, ollama_fake: FakeOllama) -> None:
    for streaming in (False, True):
        with pytest.raises(BadRequestError) as info:
            if streaming:
                async for _ in ollama.fim_stream(FimRequest("nope:7b", "x")):
                    pytest.fail("no piece before the error")
            else:
                await stream_fim(ollama, FimRequest("nope:7b", "x"))
        error = info.value
        assert error.status == 404
        assert error.is_unknown_model
        assert "model 'nope:7b' not found" in error.message
        assert "ollama pull nope:7b" in error.message
        assert f"127.0.0.1:{ollama_fake.port}" in error.message
    # A name without a tag means ":latest", as in Ollama.
    assert (await stream_fim(ollama, FimRequest("qwen2.5-coder", "x"))).text == TEXT


async def test_ollama_model_without_fim_template(ollama: OllamaBackend) -> None:
    with pytest.raises(BadRequestError) as info:
        await stream_fim(ollama, FimRequest("llama3.2:latest", "x", suffix="y"))
    assert info.value.status == 400
    assert "does not support insert" in info.value.message
    assert "cannot fill in the middle" in info.value.message


@pytest.mark.parametrize("streaming", [False, True])
async def test_ollama_server_error(
    ollama: OllamaBackend, ollama_fake: FakeOllama, streaming: bool
) -> None:
    ollama_fake.fail_next(500, {"error": "llama runner process has terminated: signal: killed"})
    with pytest.raises(ServerError) as info:
        if streaming:
            await _collect(ollama, FimRequest(OLLAMA_MODEL, "x"))
        else:
            await stream_fim(ollama, FimRequest(OLLAMA_MODEL, "x"))
    assert info.value.status == 500
    assert "llama runner process has terminated" in info.value.message
    assert (await stream_fim(ollama, FimRequest(OLLAMA_MODEL, "x"))).text == TEXT
    assert ollama_fake.connections_opened == 1


async def test_ollama_error_mid_stream(ollama: OllamaBackend, ollama_fake: FakeOllama) -> None:
    ollama_fake.fim_text = "alpha beta gamma"
    ollama_fake.stream_error = "an error was encountered while running the model"
    ollama_fake.stream_error_after = 2
    pieces: list[str] = []
    with pytest.raises(ServerError) as info:
        async for piece in ollama.fim_stream(FimRequest(OLLAMA_MODEL, "x")):
            pieces.append(piece)
    assert pieces == ["alph", "a"]
    assert "an error was encountered while running the model" in info.value.message


async def test_ollama_connection_refused(http: httpx.AsyncClient) -> None:
    port = _closed_port()
    backend = OllamaBackend(f"127.0.0.1:{port}", KEY, http=http)
    assert backend.endpoint == f"http://127.0.0.1:{port}"
    with pytest.raises(NetworkError) as info:
        await stream_fim(backend, FimRequest(OLLAMA_MODEL, "x"))
    with pytest.raises(NetworkError):
        await _collect(backend, FimRequest(OLLAMA_MODEL, "x"))
    with pytest.raises(NetworkError):
        await backend.list_models()
    assert f"127.0.0.1:{port}" in info.value.message
    assert KEY not in info.value.message


async def test_ollama_behind_a_proxy_wanting_a_key(http: httpx.AsyncClient) -> None:
    with FakeOllama(required_key=KEY) as fake:
        anonymous = OllamaBackend(fake.url, None, http=http)
        with pytest.raises(AuthenticationError) as info:
            await stream_fim(anonymous, FimRequest(OLLAMA_MODEL, "x"))
        assert "requires an API key" in info.value.message
        assert "mistral.ai" not in info.value.message

        wrong = OllamaBackend(fake.url, "wrong-key-123", http=http)
        with pytest.raises(AuthenticationError) as info:
            await stream_fim(wrong, FimRequest(OLLAMA_MODEL, "x"))
        assert "rejected the API key" in info.value.message
        assert "wrong-key-123" not in info.value.message

        keyed = OllamaBackend(fake.url, KEY, http=http)
        assert (await stream_fim(keyed, FimRequest(OLLAMA_MODEL, "x"))).text == "pass"
        assert fake.fim_requests()[-1].headers["authorization"] == f"Bearer {KEY}"


async def test_ollama_closing_a_stream_early_aborts_it(
    ollama: OllamaBackend, ollama_fake: FakeOllama
) -> None:
    ollama_fake.fim_text = "alpha beta gamma delta epsilon"
    ollama_fake.token_delay = 30.0  # the fake wakes up as soon as the client hangs up
    stream = ollama.fim_stream(FimRequest(OLLAMA_MODEL, "x"))
    assert await stream.__anext__() == "alph"
    await stream.aclose()
    assert await ollama_fake.await_until(lambda: ollama_fake.streams_aborted == 1)


async def test_ollama_cancellation_propagates_and_disconnects(
    ollama: OllamaBackend, ollama_fake: FakeOllama
) -> None:
    gate = ollama_fake.gate()
    try:
        task = asyncio.create_task(stream_fim(ollama, FimRequest(OLLAMA_MODEL, "x")))
        assert await ollama_fake.await_requests(1, path=GENERATE_PATH)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await ollama_fake.await_until(lambda: ollama_fake.streams_aborted == 1)
    finally:
        gate.set()
    assert (await stream_fim(ollama, FimRequest(OLLAMA_MODEL, "x"))).text == TEXT


async def test_ollama_timeout(ollama: OllamaBackend, ollama_fake: FakeOllama) -> None:
    gate = ollama_fake.gate()
    ollama.configure(timeout=0.2)
    try:
        with pytest.raises(UpstreamTimeout) as info:
            await stream_fim(ollama, FimRequest(OLLAMA_MODEL, "x"))
        assert f"127.0.0.1:{ollama_fake.port}" in info.value.message
    finally:
        gate.set()


async def test_ollama_endpoint_forms_and_own_client(ollama_fake: FakeOllama) -> None:
    assert OllamaBackend("localhost:11434/").endpoint == "http://localhost:11434"
    assert OllamaBackend("http://gpu-box:11434/api/").endpoint == "http://gpu-box:11434"
    assert OllamaBackend("https://ollama.example/v1").endpoint == "https://ollama.example"
    with pytest.raises(ValueError):
        OllamaBackend(" ")
    async with OllamaBackend(ollama_fake.url + "/api") as backend:
        await stream_fim(backend, FimRequest(OLLAMA_MODEL, "x"))
        assert ollama_fake.requests[0].path == "/api/generate"
        assert ollama_fake.connections_opened == 1
    assert backend.http.is_closed  # it made its own client, so it closed it


async def test_ollama_tags_from_something_else(
    http: httpx.AsyncClient, openai_fake: FakeOpenAI
) -> None:
    backend = OllamaBackend(openai_fake.url, None, http=http)
    with pytest.raises(BadRequestError) as info:
        await backend.list_models()
    assert info.value.status == 404

    def odd(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": []})

    async with OllamaBackend("http://box:11434", transport=httpx.MockTransport(odd)) as b:
        with pytest.raises(ProtocolError) as protocol:
            await b.list_models()
    assert "is this an Ollama server?" in protocol.value.message


# =========================================================================== OpenAI-compatible


async def test_openai_fim_plain_sends_the_completions_body(
    openai: OpenAICompatBackend, openai_fake: FakeOpenAI
) -> None:
    completion = await stream_fim(openai, _full(OPENAI_MODEL))
    assert completion.text == TEXT
    [recorded] = openai_fake.fim_requests()
    assert recorded.errors == []
    assert recorded.body == {
        "model": OPENAI_MODEL,
        "prompt": "def add(a, b):\n    ",
        "suffix": "\n\nprint(add(1, 2))\n",
        "max_tokens": 64,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["\n\n"],
        "seed": 7,
        "stream": True,
    }
    assert "authorization" not in recorded.headers
    assert openai.fim_route == "completions"


async def test_openai_fim_stream(openai: OpenAICompatBackend, openai_fake: FakeOpenAI) -> None:
    pieces = await _collect(openai, _full(OPENAI_MODEL))
    assert "".join(pieces) == TEXT
    assert len(pieces) > 1
    [recorded] = openai_fake.fim_requests()
    assert recorded.errors == []
    assert recorded.body is not None and recorded.body["stream"] is True
    assert (await stream_fim(openai, FimRequest(OPENAI_MODEL, "x"))).text == TEXT
    assert openai_fake.connections_opened == 1
    assert openai_fake.streams_aborted == 0


def test_openai_bodies_minimal() -> None:
    assert completions_body(FimRequest("m", "x"), stream=False) == {
        "model": "m",
        "prompt": "x",
        "stream": False,
    }
    assert completions_body(FimRequest("m", "x", suffix=""), stream=True)["suffix"] == "\n"
    assert infill_body(FimRequest("m", "x", suffix="", max_tokens=3), stream=True) == {
        "model": "m",
        "input_prefix": "x",
        "input_suffix": "",
        "n_predict": 3,
        "stream": True,
    }


async def test_openai_max_tokens_and_key(openai_fake: FakeOpenAI, http: httpx.AsyncClient) -> None:
    openai_fake.fim_text = "alpha beta gamma"
    openai_fake.required_key = KEY
    backend = OpenAICompatBackend(openai_fake.url + "/v1/", f" {KEY}\n", http=http)
    assert backend.endpoint == openai_fake.url
    completion = await stream_fim(backend, FimRequest(OPENAI_MODEL, "x", max_tokens=2))
    assert completion.text == "alpha"  # cut at max_tokens
    assert openai_fake.fim_requests()[0].headers["authorization"] == f"Bearer {KEY}"

    backend.configure(api_key="")
    with pytest.raises(AuthenticationError) as info:
        await stream_fim(backend, FimRequest(OPENAI_MODEL, "x"))
    assert "requires an API key" in info.value.message
    assert "authorization" not in openai_fake.fim_requests()[-1].headers


async def test_openai_list_models(openai: OpenAICompatBackend, openai_fake: FakeOpenAI) -> None:
    openai_fake.models.append(
        {"id": "Qwen/Qwen2.5-Coder-7B", "object": "model", "max_model_len": 32768}
    )
    cards = {card["id"]: card for card in await openai.list_models()}
    assert list(cards) == [
        "codestral-22b-v0.1",
        "qwen2.5-coder-7b-instruct",
        "text-embedding-nomic-embed-text-v1.5",
        "Qwen/Qwen2.5-Coder-7B",
    ]
    codestral = cards["codestral-22b-v0.1"]
    assert codestral["name"] == "codestral-22b-v0.1"
    assert codestral["aliases"] == []
    assert codestral["capabilities"] == {"completion_fim": True, "completion_chat": True}
    assert codestral["max_context_length"] is None
    assert codestral["deprecation"] is None
    assert cards["text-embedding-nomic-embed-text-v1.5"]["capabilities"] == {
        "completion_fim": False,
        "completion_chat": False,
    }
    assert cards["Qwen/Qwen2.5-Coder-7B"]["max_context_length"] == 32768


@pytest.mark.parametrize("streaming", [False, True])
async def test_openai_unknown_model(
    openai: OpenAICompatBackend, openai_fake: FakeOpenAI, streaming: bool
) -> None:
    with pytest.raises(BadRequestError) as info:
        if streaming:
            await _collect(openai, FimRequest("gpt-nope", "x", suffix="y"))
        else:
            await stream_fim(openai, FimRequest("gpt-nope", "x", suffix="y"))
    assert info.value.status == 404
    assert info.value.is_unknown_model
    assert "The model `gpt-nope` does not exist." in info.value.message
    # Not mistaken for a server without FIM: /infill was never tried.
    assert [r.path for r in openai_fake.fim_requests()] == ["/v1/completions"]


@pytest.mark.parametrize("streaming", [False, True])
async def test_openai_server_error_and_recovery(
    openai: OpenAICompatBackend, openai_fake: FakeOpenAI, streaming: bool
) -> None:
    openai_fake.fail_next(503, "<html><title>503 Service Unavailable</title></html>")
    with pytest.raises(ServerError) as info:
        if streaming:
            await _collect(openai, FimRequest(OPENAI_MODEL, "x"))
        else:
            await stream_fim(openai, FimRequest(OPENAI_MODEL, "x"))
    assert info.value.status == 503
    assert "503 Service Unavailable" in info.value.message
    assert (await stream_fim(openai, FimRequest(OPENAI_MODEL, "x"))).text == TEXT


async def test_openai_connection_refused(http: httpx.AsyncClient) -> None:
    port = _closed_port()
    backend = OpenAICompatBackend(f"localhost:{port}/v1", KEY, http=http)
    assert backend.endpoint == f"http://localhost:{port}"
    with pytest.raises(NetworkError) as info:
        await stream_fim(backend, FimRequest(OPENAI_MODEL, "x", suffix="y"))
    with pytest.raises(NetworkError):
        await _collect(backend, FimRequest(OPENAI_MODEL, "x", suffix="y"))
    assert f"localhost:{port}" in info.value.message
    assert KEY not in info.value.message
    assert backend.fim_route is None  # a network failure teaches nothing about the server


async def test_openai_closing_a_stream_early_aborts_it(
    openai: OpenAICompatBackend, openai_fake: FakeOpenAI
) -> None:
    openai_fake.fim_text = "alpha beta gamma delta epsilon"
    openai_fake.token_delay = 30.0
    stream = openai.fim_stream(FimRequest(OPENAI_MODEL, "x"))
    assert await stream.__anext__() == "alph"
    await stream.aclose()
    assert await openai_fake.await_until(lambda: openai_fake.streams_aborted == 1)


async def test_openai_error_event_mid_stream() -> None:
    body = (
        b'data: {"choices": [{"text": "a", "index": 0, "finish_reason": null}]}\n\n'
        b'data: {"error": {"message": "CUDA out of memory", "type": "server_error"}}\n\n'
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"Content-Type": "text/event-stream"})

    async with OpenAICompatBackend("http://box:8080", transport=httpx.MockTransport(handler)) as b:
        pieces: list[str] = []
        with pytest.raises(ServerError) as info:
            async for piece in b.fim_stream(FimRequest(OPENAI_MODEL, "x")):
                pieces.append(piece)
    assert pieces == ["a"]
    assert "CUDA out of memory" in info.value.message


# --------------------------------------------------------------------------- llama.cpp / vLLM


async def test_llamacpp_falls_back_to_infill(http: httpx.AsyncClient) -> None:
    with FakeOpenAI(flavor="proxy", check_models=False) as fake:
        fake.fim_text = TEXT
        backend = OpenAICompatBackend(fake.url, None, http=http)
        request = _full(OPENAI_MODEL)
        for _ in range(2):
            assert "".join(await _collect(backend, request)) == TEXT
        assert backend.fim_route == "infill"
        paths = [r.path for r in fake.fim_requests()]
        # One refused /v1/completions, then /infill only.
        assert paths == ["/v1/completions", INFILL_PATH, INFILL_PATH]
        infill = fake.fim_requests()[1]
        assert infill.errors == []
        assert infill.body == {
            "model": OPENAI_MODEL,
            "input_prefix": "def add(a, b):\n    ",
            "input_suffix": "\n\nprint(add(1, 2))\n",
            "n_predict": 64,
            "temperature": 0.2,
            "top_p": 0.9,
            "stop": ["\n\n"],
            "seed": 7,
            "stream": True,
        }
        assert fake.connections_opened == 1
        # /infill gone (another server on the port): the route is probed again next time.
        fake.flavor = "vllm"
        with pytest.raises(BadRequestError):
            await stream_fim(backend, request)
        assert backend.fim_route is None
        fake.flavor = "proxy"
        assert (await stream_fim(backend, request)).text == TEXT
        assert backend.fim_route == "infill"
        # A new endpoint is probed afresh.
        backend.configure(endpoint="http://127.0.0.1:1")
        assert backend.fim_route is None


async def test_llamacpp_infill_details(http: httpx.AsyncClient) -> None:
    with FakeOpenAI(flavor="proxy", check_models=False) as fake:
        fake.fim_text = "alpha beta gamma delta epsilon"
        backend = OpenAICompatBackend(fake.url, None, http=http)
        completion = await stream_fim(
            backend, FimRequest(OPENAI_MODEL, "x", suffix="y", max_tokens=2)
        )
        assert completion.text == "alpha"  # cut at n_predict
        assert completion.usage == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
        # Early close of an /infill stream reaches the server too.
        fake.token_delay = 30.0
        stream = backend.fim_stream(FimRequest(OPENAI_MODEL, "x", suffix="y"))
        assert await stream.__anext__() == "alph"
        await stream.aclose()
        assert await fake.await_until(lambda: fake.streams_aborted == 1)


@pytest.mark.parametrize("streaming", [False, True])
async def test_vllm_without_suffix_support_says_so(
    http: httpx.AsyncClient, streaming: bool
) -> None:
    with FakeOpenAI(flavor="vllm") as fake:
        backend = OpenAICompatBackend(fake.url, KEY, http=http)
        with pytest.raises(BadRequestError) as info:
            if streaming:
                await _collect(backend, FimRequest(OPENAI_MODEL, "x", suffix="y"))
            else:
                await stream_fim(backend, FimRequest(OPENAI_MODEL, "x", suffix="y"))
        error = info.value
        assert error.status == 400
        assert not error.is_unknown_model
        assert "cannot fill in the middle" in error.message
        assert "suffix is not currently supported" in error.message
        assert KEY not in error.message
        assert [r.path for r in fake.fim_requests()] == ["/v1/completions", INFILL_PATH]
        assert backend.fim_route == "none"
        # Known now: the next refusal is explained without probing /infill again.
        with pytest.raises(BadRequestError) as again:
            await stream_fim(backend, FimRequest(OPENAI_MODEL, "x", suffix="y"))
        assert "cannot fill in the middle" in again.value.message
        assert [r.path for r in fake.fim_requests()][2:] == ["/v1/completions"]
        # Without a suffix the server is usable for plain completion.
        fake.fim_text = TEXT
        assert (await stream_fim(backend, FimRequest(OPENAI_MODEL, "x"))).text == TEXT


# =========================================================================== shared client, factory


async def test_shared_client_is_one_pool_and_outlives_backends(
    ollama_fake: FakeOllama, http: httpx.AsyncClient
) -> None:
    first = create_backend("ollama", endpoint=ollama_fake.url, api_key=None, timeout=5, http=http)
    second = create_backend(
        "ollama", endpoint=ollama_fake.url + "/api/", api_key=None, timeout=5, http=http
    )
    assert isinstance(first, OllamaBackend) and isinstance(second, OllamaBackend)
    assert first.http is http and second.http is http
    assert (await stream_fim(first, FimRequest(OLLAMA_MODEL, "x"))).text == TEXT
    await first.aclose()
    assert not http.is_closed
    assert "".join(await _collect(second, FimRequest(OLLAMA_MODEL, "x"))) == TEXT
    await second.aclose()
    assert not http.is_closed
    # Both backends went through one pool: one connection to 127.0.0.1, reused.
    assert ollama_fake.connections_opened == 1


async def test_mistral_client_accepts_a_shared_client(http: httpx.AsyncClient) -> None:
    with FakeMistral() as fake:
        mistral = MistralClient(fake.url, KEY, http=http)
        assert mistral.http is http
        assert (await stream_fim(mistral, FimRequest("codestral-latest", "x"))).text == "pass"
        await mistral.aclose()
        assert not http.is_closed
        assert fake.fim_requests()[0].errors == []
    with pytest.raises(ValueError):
        MistralClient(
            "https://codestral.mistral.ai",
            KEY,
            http=http,
            transport=httpx.MockTransport(lambda request: httpx.Response(200)),
        )


async def test_make_http_client_settings(http: httpx.AsyncClient) -> None:
    assert http.headers["User-Agent"] == f"codestral-ls/{__version__}"
    assert http.follow_redirects is False
    pool = http._transport._pool  # type: ignore[attr-defined]
    assert pool._http2 is True
    assert pool._keepalive_expiry == 300
    assert pool._max_connections == 8


async def test_create_backend_kinds(http: httpx.AsyncClient) -> None:
    mistral = create_backend(
        "mistral", endpoint="https://codestral.mistral.ai/v1", api_key=KEY, timeout=3, http=http
    )
    ollama = create_backend(
        "Ollama", endpoint="localhost:11434", api_key=None, timeout=3, http=http
    )
    openai = create_backend(
        "openai", endpoint="http://box:1234/v1", api_key=None, timeout=3, http=http
    )
    auto = create_backend(
        "auto", endpoint="http://127.0.0.1:8080", api_key=None, timeout=3, http=http
    )
    assert isinstance(mistral, MistralClient)
    assert isinstance(ollama, OllamaBackend)
    assert isinstance(openai, OpenAICompatBackend)
    assert isinstance(auto, OpenAICompatBackend)
    for backend in (mistral, ollama, openai, auto):
        assert isinstance(backend, Backend)
    assert [(b.kind, b.requires_key) for b in (mistral, ollama, openai)] == [
        ("mistral", True),
        ("ollama", False),
        ("openai", False),
    ]
    assert (mistral.endpoint, ollama.endpoint, openai.endpoint) == (
        "https://codestral.mistral.ai",
        "http://localhost:11434",
        "http://box:1234",
    )
    assert openai.timeout == 3.0
    assert KEY not in repr(mistral)
    with pytest.raises(ValueError, match="unknown backend 'anthropic'"):
        create_backend("anthropic", endpoint="http://x", api_key=None, timeout=3, http=http)


@pytest.mark.parametrize(
    ("endpoint", "kind"),
    [
        ("https://codestral.mistral.ai", "mistral"),
        ("https://api.mistral.ai/v1", "mistral"),
        ("codestral.mistral.ai", "mistral"),
        ("http://localhost:11434", "ollama"),
        ("localhost:11434/", "ollama"),
        ("http://gpu-box:11434/api", "ollama"),
        ("http://localhost:11434/v1", "openai"),
        ("http://localhost:8080", "llamacpp"),
        ("http://127.0.0.1:8012", "llamacpp"),
        ("http://localhost:8080/v1", "openai"),
        ("http://127.0.0.1:1234", "openai"),
        ("http://vllm.internal:8000", "openai"),
        ("https://llm.example.com/v1/", "openai"),
        ("https://gateway.example.com", "mistral"),
        ("https://mistral.ai.evil.example/v1", "openai"),
        ("http://[::1]:11434", "ollama"),
        ("http://host:notaport", "mistral"),
        ("", "mistral"),
    ],
)
def test_detect_backend(endpoint: str, kind: str) -> None:
    assert detect_backend(endpoint) == kind


def test_fake_records_unknown_fields_but_answers(openai_fake: FakeOpenAI) -> None:
    with httpx.Client(base_url=openai_fake.url) as client:
        response = client.post(
            "/v1/completions",
            json={"model": OPENAI_MODEL, "prompt": "x", "min_tokens": 2, "max_tokens": "3"},
        )
    assert response.status_code == 400
    [recorded] = openai_fake.fim_requests()
    assert recorded.errors == ["max_tokens: wrong type str", "min_tokens: unknown field"]
    assert json.loads(response.content)["error"]["type"] == "invalid_request_error"


def test_fake_ollama_checks_fields_like_ollama(ollama_fake: FakeOllama) -> None:
    with httpx.Client(base_url=ollama_fake.url) as client:
        lenient = client.post(
            GENERATE_PATH,
            json={"model": OLLAMA_MODEL, "prompt": "x", "stream": False, "max_tokens": 3},
        )
        strict = client.post(
            GENERATE_PATH,
            json={"model": OLLAMA_MODEL, "prompt": "x", "options": {"num_predict": "3"}},
        )
    assert lenient.status_code == 200  # unknown fields are ignored, as Ollama does
    assert strict.status_code == 400
    assert "options.num_predict: wrong type str" in strict.json()["error"]
    first, second = ollama_fake.fim_requests()
    assert first.errors == ["max_tokens: unknown field"]
    assert second.errors == ["options.num_predict: wrong type str"]
