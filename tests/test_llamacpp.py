"""llama.cpp's llama-server, endpoint probing, context sizes and overflow (issue 12).

Against the fakes in tests/fake_backends.py, which behave like today's llama-server (suffix
ignored on /v1/completions, /infill with input_extra, /props, /health, the GGUF path as the
model id, the real context-size 400) and like Ollama (/api/show, /api/ps).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from codestral_ls.backends import LlamaCppBackend, OpenAICompatBackend, detect_backend
from codestral_ls.backends.errors import BadRequestError, ServerError
from codestral_ls.backends.llamacpp import llamacpp_model_card, props_n_ctx, short_model_name
from codestral_ls.backends.openai_compat import infill_body
from codestral_ls.backends.probe import (
    OLLAMA_DEFAULT_NUM_CTX,
    EndpointProbe,
    ollama_context,
    probe_base,
)
from codestral_ls.catalog import Catalog, picker_titles
from codestral_ls.mistral import FimRequest
from codestral_ls.overflow import (
    Overflow,
    cap_budget,
    fitting_chars,
    overflow_of,
    shrink_request,
)
from codestral_ls.snippets import ContextFile
from tests.fake_backends import LLAMACPP_MODEL_PATH, FakeOllama, FakeOpenAI
from tests.fake_mistral import FakeMistral
from tests.helpers import stream_fim


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --------------------------------------------------------------------------- the fake itself


def test_the_fake_is_todays_llama_server() -> None:
    with FakeOpenAI(flavor="llamacpp") as fake, httpx.Client(base_url=fake.url) as client:
        fake.fim_text = "pass"
        # suffix accepted and ignored on /v1/completions: 200, and no FIM
        answer = client.post("/v1/completions", json={"model": "x", "prompt": "a", "suffix": "b"})
        assert answer.status_code == 200
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/props").json()["default_generation_settings"]["n_ctx"] == 4096
        [card] = client.get("/v1/models").json()["data"]
        assert card["id"] == LLAMACPP_MODEL_PATH and card["owned_by"] == "llamacpp"
        fake.n_ctx = 16
        refused = client.post("/infill", json={"input_prefix": "x" * 200, "input_suffix": ""})
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert error["type"] == "exceed_context_size_error"
        assert error["n_ctx"] == 16 and error["n_prompt_tokens"] > 16
        assert "exceeds the available context size (16 tokens)" in error["message"]


# --------------------------------------------------------------------------- /infill


def test_infill_body_sends_context_files_as_input_extra() -> None:
    request = FimRequest(
        model=LLAMACPP_MODEL_PATH,
        prompt="def f():\n    ",
        suffix="\n",
        max_tokens=32,
        context_files=(ContextFile("pkg/util.py", "def helper():\n    return 1\n"),),
        path="pkg/main.py",
    )
    body = infill_body(request, stream=True)
    # the prefix bare (no "+++++" layout), the files beside it
    assert body["input_prefix"] == "def f():\n    "
    assert body["input_extra"] == [
        {"filename": "pkg/util.py", "text": "def helper():\n    return 1\n"}
    ]
    assert "input_extra" not in infill_body(FimRequest("m", "x", suffix=""), stream=False)


@pytest.mark.parametrize("streaming", [False, True])
async def test_llamacpp_backend_fills_through_infill(
    http: httpx.AsyncClient, streaming: bool
) -> None:
    with FakeOpenAI(flavor="llamacpp") as fake:
        fake.fim_text = "return 1"
        backend = LlamaCppBackend(fake.url, None, http=http)
        request = FimRequest(
            "codestral-latest",
            "def f():\n    ",
            suffix="\n",
            context_files=(ContextFile("a.py", "A = 1\n"),),
        )
        if streaming:
            text = "".join([piece async for piece in backend.fim_stream(request)])
        else:
            text = (await stream_fim(backend, request)).text
        assert text == "return 1"
        [sent] = fake.fim_requests()
        assert sent.path == "/infill" and sent.errors == []
        assert sent.body is not None
        assert sent.body["input_extra"] == [{"filename": "a.py", "text": "A = 1\n"}]
        assert await backend.context_size() == 4096


async def test_llamacpp_model_without_fim_tokens_is_explained(http: httpx.AsyncClient) -> None:
    with FakeOpenAI(flavor="llamacpp") as fake:
        fake.infill_supported = False
        backend = LlamaCppBackend(fake.url, None, http=http)
        with pytest.raises(BadRequestError) as info:
            await stream_fim(backend, FimRequest("m", "x", suffix="y"))
        assert "no FIM tokens" in info.value.message
        assert not info.value.is_unknown_model


async def test_llamacpp_models_show_the_path_and_a_short_name(http: httpx.AsyncClient) -> None:
    with FakeOpenAI(flavor="llamacpp") as fake:
        fake.n_ctx = 1024
        cards = await LlamaCppBackend(fake.url, None, http=http).list_models()
    [card] = cards
    assert card["id"] == LLAMACPP_MODEL_PATH
    assert card["aliases"] == ["codestral-22b-v0.1.Q4_K_M.gguf"]
    assert card["max_context_length"] == 1024
    assert card["capabilities"]["completion_fim"] is True
    catalog = Catalog.from_cards(cards)
    assert catalog.find("codestral-22b-v0.1.Q4_K_M.gguf") is not None
    assert picker_titles(catalog.models) == {"codestral-22b-v0.1.Q4_K_M.gguf": LLAMACPP_MODEL_PATH}


async def test_openai_backend_on_llama_server_switches_to_infill(http: httpx.AsyncClient) -> None:
    with FakeOpenAI(flavor="llamacpp") as fake:
        backend = OpenAICompatBackend(fake.url, None, http=http)
        await backend.list_models()
        assert backend.fim_route == "infill"
        await stream_fim(backend, FimRequest("m", "x", suffix="y"))
        assert [r.path for r in fake.fim_requests()] == ["/infill"]


def test_llamacpp_helpers() -> None:
    assert props_n_ctx({"default_generation_settings": {"n_ctx": 1024}}) == 1024
    assert props_n_ctx({"n_ctx": 2048}) == 2048
    assert props_n_ctx({"n_ctx": True}) is None
    assert props_n_ctx("nope") is None
    assert short_model_name("/m/a.gguf") == "a.gguf"
    assert short_model_name("C:\\models\\b.gguf") == "b.gguf"
    assert short_model_name("codestral:22b") == "codestral:22b"
    aliased = llamacpp_model_card({"id": "/m/a.gguf", "aliases": ["coder"], "owned_by": "x"})
    assert aliased is not None and aliased["aliases"] == ["coder", "a.gguf"]


def test_picker_titles() -> None:
    catalog = Catalog.from_cards(
        [
            {"id": "codestral-2508", "aliases": ["codestral-latest"], "capabilities": {}},
            {"id": "mistralai/codestral-22b-v0.1", "capabilities": {}},
            {"id": "/a/x.gguf", "aliases": ["x.gguf"], "capabilities": {}},
            {"id": "/b/y.gguf", "capabilities": {}},
        ]
    )
    titles = picker_titles(catalog.models)
    assert titles == {
        "codestral-2508 (codestral-latest)": "codestral-2508",
        "mistralai/codestral-22b-v0.1": "mistralai/codestral-22b-v0.1",
        "x.gguf": "/a/x.gguf",
        "/b/y.gguf": "/b/y.gguf",  # no short name known: the id
    }


# --------------------------------------------------------------------------- probing


async def test_probe_tells_the_servers_apart(http: httpx.AsyncClient) -> None:
    probe = EndpointProbe(http, detect_backend)
    with (
        FakeOpenAI(flavor="llamacpp") as llama,
        FakeOllama() as ollama,
        FakeOpenAI() as lmstudio,
        FakeOpenAI(flavor="vllm") as vllm,
        FakeMistral() as mistral,
    ):
        found = {
            name: await probe.detect(url)
            for name, url in [
                ("llama", llama.url),
                ("llama-v1", f"{llama.url}/v1"),
                ("ollama", ollama.url),
                ("lmstudio", f"{lmstudio.url}/v1"),
                ("vllm", vllm.url),
                ("mistral", mistral.url),
            ]
        }
        # every probe went out once, without code: GETs only
        assert all(r.method == "GET" for r in llama.requests)
        probes = len(llama.requests)
        assert (await probe.detect(llama.url)).kind == "llamacpp"
        assert len(llama.requests) == probes  # cached
    assert found["llama"].kind == "llamacpp" and "/props" in found["llama"].reason
    assert found["llama"].context_length == 4096
    assert found["llama-v1"] == found["llama"]
    assert found["ollama"].kind == "ollama" and "/api/tags" in found["ollama"].reason
    assert found["lmstudio"].kind == "openai"
    assert found["vllm"].kind == "openai"
    # Mistral's API wants a key even for its list: the URL decides, and says Mistral
    assert found["mistral"].kind == "mistral" and "without a key" in found["mistral"].reason


async def test_probe_without_an_answer_falls_back_to_the_url(http: httpx.AsyncClient) -> None:
    probe = EndpointProbe(http, detect_backend, timeout=2.0)
    url = closed_port_url()
    detection = await probe.detect(url)
    assert detection.kind == detect_backend(url) == "mistral"
    assert not detection.probed and "no server answered" in detection.reason
    assert probe.cached(url) == detection
    # the server may start after the editor: asked again after a while
    now = probe.clock()
    probe.clock = lambda: now + 31
    assert probe.cached(url) is None
    assert (await probe.detect("https://codestral.mistral.ai")).kind == "mistral"
    assert probe_base("http://h:1/v1/") == "http://h:1"
    assert probe_base("localhost:11434/api") == "http://localhost:11434"


# --------------------------------------------------------------------------- context sizes


async def test_context_sizes_read_from_the_servers(http: httpx.AsyncClient) -> None:
    probe = EndpointProbe(http, detect_backend)
    with FakeOpenAI(flavor="llamacpp") as llama, FakeOllama() as ollama:
        llama.n_ctx = 1024
        assert await probe.read_context_size("llamacpp", llama.url, "anything") == 1024
        assert probe.context_size(llama.url, "other") == 1024
        model = "codestral:22b"
        assert await probe.read_context_size("ollama", ollama.url, model) == 4096
        assert probe.context_source(ollama.url, model) == "Ollama's default num_ctx"
        ollama.num_ctx_parameter = 16384
        assert await probe.read_context_size("ollama", ollama.url, model) == 16384
        ollama.loaded = {model: 8192}
        assert await probe.read_context_size("ollama", ollama.url, model) == 8192
        ollama.trained_context = 2048
        assert await probe.read_context_size("ollama", ollama.url, model) == 2048


@pytest.mark.parametrize(
    ("show", "running", "num_ctx", "expected"),
    [
        (None, None, None, OLLAMA_DEFAULT_NUM_CTX),
        ({"model_info": {"qwen2.context_length": 32768}}, None, None, 4096),
        ({"parameters": "num_ctx 12000\nstop x"}, None, None, 12000),
        ({}, {"models": [{"name": "m:latest", "context_length": 9000}]}, None, 9000),
        ({}, {"models": [{"name": "other", "context_length": 9000}]}, 6000, 6000),
        ({"model_info": {"llama.context_length": 1000}}, None, 6000, 1000),
    ],
)
def test_ollama_context(show: object, running: object, num_ctx: int | None, expected: int) -> None:
    assert ollama_context(show, running, "m", num_ctx=num_ctx)[0] == expected


# --------------------------------------------------------------------------- overflow


def test_overflow_of_real_refusals() -> None:
    llama = BadRequestError(
        "127.0.0.1:8080 rejected the request (400 Bad Request): request (1630 tokens) "
        "exceeds the available context size (1024 tokens), try increasing it",
        status=400,
        detail="request (1630 tokens) exceeds the available context size (1024 tokens), "
        "try increasing it",
    )
    assert overflow_of(llama) == Overflow(prompt_tokens=1630, context=1024)
    vllm = BadRequestError(
        "x",
        status=400,
        detail="This model's maximum context length is 4096 tokens. However, you requested "
        "5000 tokens (4744 in the messages, 256 in the completion).",
    )
    assert overflow_of(vllm) == Overflow(prompt_tokens=5000, context=4096)
    assert overflow_of(BadRequestError("x", status=400, detail="context_length_exceeded")) == (
        Overflow()
    )
    assert overflow_of(BadRequestError("x", status=400, detail="invalid model")) is None
    assert overflow_of(ServerError("exceeds the available context", status=500)) is None


def test_fitting_chars_and_shrinking() -> None:
    # 3,000 characters were 1,630 tokens; 1,024 fit with 256 for the answer
    fits = fitting_chars(Overflow(1630, 1024), 3000, 256)
    assert fits == int((1024 - 256) * (3000 / 1630) * 0.85)
    assert fitting_chars(Overflow(), 3000, 256) == 1500
    assert fitting_chars(Overflow(1100, 1024), 3000, 256) <= 2400  # always a real cut
    request = FimRequest(
        "m",
        "".join(f"line {i}\n" for i in range(300)) + "cursor = ",
        suffix="".join(f"after {i}\n" for i in range(100)),
        context_files=(ContextFile("a.py", "x"),),
    )
    shrunk = shrink_request(request, 1000)
    assert len(shrunk.prompt) + len(shrunk.suffix or "") <= 1000
    assert shrunk.prompt.endswith("cursor = ") and shrunk.prompt.startswith("line ")
    assert (shrunk.suffix or "").startswith("after 0\n") and (shrunk.suffix or "").endswith("\n")
    assert shrunk.context_files == ()
    assert cap_budget(9000, 3000, None) == (9000, 3000)
    assert cap_budget(9000, 3000, 1200) == (900, 300)
