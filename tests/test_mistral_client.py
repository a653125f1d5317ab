"""MistralClient against the real FakeMistral server (plus httpx.MockTransport for odd bodies)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing
from typing import Any

import httpx
import pytest

from codestral_ls import __version__
from codestral_ls.backends.errors import (
    AuthenticationError,
    BackendError,
    BadRequestError,
    NetworkError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    UpstreamTimeout,
)
from codestral_ls.backends.mistral import MistralClient
from codestral_ls.mistral import ChatMessage, ChatRequest, EmbeddingRequest, FimRequest
from tests.fake_mistral import FakeMistral, validate_request
from tests.helpers import stream_fim

KEY = "sk-test-SECRET-0123456789"
MODEL = "codestral-latest"

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake() -> Iterator[FakeMistral]:
    with FakeMistral() as server:
        yield server


@pytest.fixture
async def client(fake: FakeMistral) -> AsyncIterator[MistralClient]:
    mistral = MistralClient(fake.url, KEY, timeout=5.0)
    yield mistral
    await mistral.aclose()


def _mock_client(handler: Callable[[httpx.Request], Any]) -> MistralClient:
    return MistralClient(
        "https://codestral.mistral.ai", KEY, transport=httpx.MockTransport(handler)
    )


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


# --------------------------------------------------------------------------- happy paths


async def test_fim_plain(client: MistralClient, fake: FakeMistral) -> None:
    fake.fim_text = "b):\n    return a + b\n"
    completion = await stream_fim(
        client, FimRequest(MODEL, "def add(a, ", suffix="\n\nprint(add(1, 2))")
    )
    assert completion.text == "b):\n    return a + b\n"
    assert completion.usage is not None and completion.usage["completion_tokens"] > 0
    [recorded] = fake.fim_requests()
    assert recorded.errors == []
    assert recorded.stream is True


async def test_fim_stream(client: MistralClient, fake: FakeMistral) -> None:
    fake.fim_text = "for i in range(10):\n    print(i)\n"
    pieces = [piece async for piece in client.fim_stream(FimRequest(MODEL, "x"))]
    assert len(pieces) > 3
    assert all(pieces)
    assert "".join(pieces) == fake.fim_text
    [recorded] = fake.fim_requests()
    assert recorded.stream is True
    assert recorded.body is not None and recorded.body["stream"] is True
    assert recorded.errors == []


async def test_fake_honours_stop_and_max_tokens(client: MistralClient, fake: FakeMistral) -> None:
    fake.fim_text = "one two\n\nthree four"
    stopped = await stream_fim(client, FimRequest(MODEL, "x", stop=("\n\n",)))
    assert stopped.text == "one two"
    capped = await stream_fim(client, FimRequest(MODEL, "x", max_tokens=2))
    assert capped.text == "one "  # cut at max_tokens
    streamed = [p async for p in client.fim_stream(FimRequest(MODEL, "x", stop=("two",)))]
    assert "".join(streamed) == "one "


async def test_fim_body_contains_exactly_the_given_fields(
    client: MistralClient, fake: FakeMistral
) -> None:
    await stream_fim(client, FimRequest(MODEL, "def f("))
    full = FimRequest(
        MODEL,
        "def f(",
        suffix="\n",
        max_tokens=64,
        min_tokens=1,
        temperature=0.2,
        top_p=0.95,
        stop=("\n\n", "```"),
        random_seed=42,
    )
    await stream_fim(client, full)
    minimal_rec, full_rec = fake.fim_requests()
    assert minimal_rec.body == {"model": MODEL, "prompt": "def f(", "stream": True}
    assert full_rec.body == {
        "model": MODEL,
        "prompt": "def f(",
        "suffix": "\n",
        "max_tokens": 64,
        "min_tokens": 1,
        "temperature": 0.2,
        "top_p": 0.95,
        "stop": ["\n\n", "```"],
        "random_seed": 42,
        "stream": True,
    }
    assert minimal_rec.errors == [] and full_rec.errors == []
    assert validate_request("fim", full.to_body()) == []


async def test_headers(client: MistralClient, fake: FakeMistral) -> None:
    await stream_fim(client, FimRequest(MODEL, "x"))
    [recorded] = fake.fim_requests()
    assert recorded.headers["authorization"] == f"Bearer {KEY}"
    assert recorded.headers["user-agent"] == f"codestral-ls/{__version__}"
    assert recorded.headers["content-type"] == "application/json"


async def test_http_client_settings(client: MistralClient) -> None:
    http = client._http
    assert http.headers["User-Agent"] == f"codestral-ls/{__version__}"
    pool = http._transport._pool  # type: ignore[attr-defined]
    assert pool._http2 is True
    assert pool._max_connections == 8
    assert pool._max_keepalive_connections == 4
    assert pool._keepalive_expiry == 300


async def test_no_key_omits_authorization_header(fake: FakeMistral) -> None:
    async with MistralClient(fake.url, None) as mistral:
        assert not mistral.has_key
        with pytest.raises(AuthenticationError) as info:
            await stream_fim(mistral, FimRequest(MODEL, "x"))
    assert "No API key" in info.value.message
    assert "authorization" not in fake.fim_requests()[0].headers


async def test_chat_stream(client: MistralClient, fake: FakeMistral) -> None:
    fake.chat_text = "Use a list comprehension."
    request = ChatRequest(
        MODEL,
        (
            ChatMessage("system", "You are terse."),
            ChatMessage("user", "How do I square a list?"),
            ChatMessage("assistant", "In Python?"),
            ChatMessage("user", "Yes."),
        ),
        max_tokens=50,
        temperature=0.1,
    )
    pieces = [p async for p in client.chat_stream(request)]
    assert "".join(pieces) == "Use a list comprehension."
    chats = [r for r in fake.requests if r.path == "/v1/chat/completions"]
    assert len(chats) == 1
    assert all(r.errors == [] for r in chats)
    assert chats[0].body is not None and chats[0].body["messages"][0] == {
        "role": "system",
        "content": "You are terse.",
    }


async def test_list_models_and_embeddings(client: MistralClient, fake: FakeMistral) -> None:
    models = await client.list_models()
    assert [m["id"] for m in models] == [m["id"] for m in fake.models]
    codestral = models[0]
    assert codestral["aliases"] == ["codestral-latest"]
    assert codestral["capabilities"]["completion_fim"] is True

    vectors = await client.embeddings(EmbeddingRequest("mistral-embed", ("alpha", "beta", "gamma")))
    assert len(vectors) == 3
    # The fake answers in reverse order; the client restores input order via "index".
    again = await client.embeddings(EmbeddingRequest("mistral-embed", ("beta",)))
    assert vectors[1] == again[0]
    embeds = [r for r in fake.requests if r.path == "/v1/embeddings"]
    assert embeds[0].body == {"model": "mistral-embed", "input": ["alpha", "beta", "gamma"]}
    assert all(r.errors == [] for r in embeds)


# --------------------------------------------------------------------------- configuration


async def test_configure_keeps_the_same_async_client(
    client: MistralClient, fake: FakeMistral
) -> None:
    http = client._http
    with FakeMistral(valid_keys={"other-key"}) as second:
        client.configure(endpoint=second.url + "/", api_key="other-key", timeout=3.0)
        assert client.endpoint == second.url
        assert client.timeout == 3.0
        assert client.has_key
        await stream_fim(client, FimRequest(MODEL, "x"))
        [recorded] = second.fim_requests()
        assert recorded.headers["authorization"] == "Bearer other-key"
        assert fake.fim_requests() == []
        assert client._http is http

        client.configure(api_key="")
        assert not client.has_key
        with pytest.raises(AuthenticationError):
            await stream_fim(client, FimRequest(MODEL, "x"))
        assert "authorization" not in second.fim_requests()[-1].headers
        assert client._http is http


def test_endpoint_normalisation_and_repr() -> None:
    mistral = MistralClient("https://codestral.mistral.ai/v1/", KEY)
    assert mistral.endpoint == "https://codestral.mistral.ai"
    assert MistralClient("api.mistral.ai", None).endpoint == "https://api.mistral.ai"
    assert KEY not in repr(mistral)
    assert "has_key=True" in repr(mistral)
    with pytest.raises(ValueError):
        MistralClient("  ", KEY)


# --------------------------------------------------------------------------- streams & connections


async def test_closing_stream_early_aborts_it_on_the_server(
    client: MistralClient, fake: FakeMistral
) -> None:
    fake.fim_text = "alpha beta gamma delta epsilon"
    fake.token_delay = 30.0  # the fake wakes up as soon as the client hangs up
    stream = client.fim_stream(FimRequest(MODEL, "x"))
    first = await stream.__anext__()
    assert first == "alph"
    await stream.aclose()
    assert await fake.await_until(lambda: fake.streams_aborted == 1)


async def test_breaking_out_of_an_aclosing_stream_aborts_it(
    client: MistralClient, fake: FakeMistral
) -> None:
    fake.fim_text = "alpha beta gamma delta epsilon"
    fake.token_delay = 30.0
    async with aclosing(client.fim_stream(FimRequest(MODEL, "x"))) as stream:
        async for _piece in stream:
            break
    assert await fake.await_until(lambda: fake.streams_aborted == 1)


async def test_cancelling_a_stream_consumer_aborts_it(
    client: MistralClient, fake: FakeMistral
) -> None:
    fake.fim_text = "alpha beta gamma delta epsilon"
    fake.token_delay = 30.0
    got_first = asyncio.Event()
    pieces: list[str] = []

    async def consume() -> None:
        async for piece in client.fim_stream(FimRequest(MODEL, "x")):
            pieces.append(piece)
            got_first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_first.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pieces == ["alph"]
    assert await fake.await_until(lambda: fake.streams_aborted == 1)


async def test_sequential_calls_reuse_one_connection(
    client: MistralClient, fake: FakeMistral
) -> None:
    for _ in range(5):
        await stream_fim(client, FimRequest(MODEL, "x"))
    assert fake.connections_opened == 1
    for _ in range(3):
        assert "".join([p async for p in client.fim_stream(FimRequest(MODEL, "x"))]) == "pass"
    await stream_fim(client, FimRequest(MODEL, "x"))
    assert fake.connections_opened == 1
    assert fake.streams_aborted == 0


# --------------------------------------------------------------------------- errors over the wire


@pytest.mark.parametrize(
    ("status", "body", "headers", "cls", "needles"),
    [
        (401, None, None, AuthenticationError, ["codestral.mistral.ai and api.mistral.ai"]),
        (403, {"message": "Forbidden"}, None, AuthenticationError, ["Forbidden"]),
        (404, {"detail": "Not Found"}, None, BadRequestError, ["Not Found"]),
        (
            422,
            {
                "detail": [
                    {
                        "loc": ["body", "max_tokens"],
                        "msg": "Input should be a valid integer",
                        "type": "int_parsing",
                    }
                ]
            },
            None,
            BadRequestError,
            ["body.max_tokens: Input should be a valid integer"],
        ),
        (
            429,
            {"message": "Requests rate limit exceeded"},
            {"Retry-After": "2"},
            RateLimitedError,
            ["Requests rate limit exceeded", "retry after 2 s"],
        ),
        (500, None, None, ServerError, ["Internal Server Error"]),
        (
            503,
            "<html><head><title>503 Service Temporarily Unavailable</title></head>"
            "<body><h1>503</h1></body></html>",
            None,
            ServerError,
            ["503 Service Temporarily Unavailable"],
        ),
        (502, b"", None, ServerError, ["HTTP 502 Bad Gateway"]),
    ],
)
@pytest.mark.parametrize("streaming", [False, True])
async def test_error_statuses_map_through_the_wire(
    client: MistralClient,
    fake: FakeMistral,
    status: int,
    body: Any,
    headers: dict[str, str] | None,
    cls: type[BackendError],
    needles: list[str],
    streaming: bool,
) -> None:
    fake.fail_next(status, body, headers)
    request = FimRequest(MODEL, "x")
    with pytest.raises(cls) as info:
        if streaming:
            async for _ in client.fim_stream(request):
                pytest.fail("no piece may be yielded before the error")
        else:
            await stream_fim(client, request)
    err = info.value
    assert err.status == status
    assert f"127.0.0.1:{fake.port}" in err.message
    for needle in needles:
        assert needle in err.message
    assert KEY not in err.message
    if isinstance(err, RateLimitedError):
        assert err.retry_after == 2.0
    if status == 404:
        # a bare "Not Found" is a wrong path, not the documented unknown-model answer
        assert isinstance(err, BadRequestError)
        assert not err.is_unknown_model and err.model == MODEL
    # The error response was read completely: the connection is reused afterwards.
    assert (await stream_fim(client, request)).text == "pass"
    assert fake.connections_opened == 1


async def test_real_validation_error_from_the_fake(
    client: MistralClient, fake: FakeMistral
) -> None:
    with pytest.raises(BadRequestError) as info:
        await stream_fim(client, FimRequest(MODEL, "x", temperature=5.0))
    assert "body.temperature" in info.value.message
    assert not info.value.is_unknown_model
    assert fake.fim_requests()[0].errors


async def test_unknown_model_from_the_fake(client: MistralClient) -> None:
    with pytest.raises(BadRequestError) as info:
        await stream_fim(client, FimRequest("codestral-1999", "x"))
    assert info.value.status == 400
    assert info.value.is_unknown_model
    assert "Invalid model: codestral-1999" in info.value.message


async def test_wrong_key_is_rejected(fake: FakeMistral) -> None:
    fake.valid_keys = {"the-right-key"}
    async with MistralClient(fake.url, KEY) as mistral:
        with pytest.raises(AuthenticationError) as info:
            await stream_fim(mistral, FimRequest(MODEL, "x"))
    assert info.value.status == 401
    assert "rejected" in info.value.message
    assert KEY not in info.value.message


async def test_connection_refused() -> None:
    port = _closed_port()
    async with MistralClient(f"http://127.0.0.1:{port}", KEY) as mistral:
        with pytest.raises(NetworkError) as info:
            await stream_fim(mistral, FimRequest(MODEL, "x"))
        with pytest.raises(NetworkError):
            async for _ in mistral.fim_stream(FimRequest(MODEL, "x")):
                pass
    assert info.value.status is None
    assert f"127.0.0.1:{port}" in info.value.message
    assert KEY not in info.value.message


async def test_timeout(client: MistralClient, fake: FakeMistral) -> None:
    gate = fake.gate()
    client.configure(timeout=0.2)
    try:
        with pytest.raises(UpstreamTimeout) as info:
            await stream_fim(client, FimRequest(MODEL, "x"))
        assert f"127.0.0.1:{fake.port}" in info.value.message
        assert info.value.status is None
        # The server notices that the client gave up.
        assert await fake.await_until(lambda: fake.streams_aborted == 1)
    finally:
        gate.set()


async def test_cancelling_fim_propagates_and_disconnects(
    client: MistralClient, fake: FakeMistral
) -> None:
    gate = fake.gate()
    try:
        task = asyncio.create_task(stream_fim(client, FimRequest(MODEL, "x")))
        assert await fake.await_requests(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await fake.await_until(lambda: fake.streams_aborted == 1)
    finally:
        gate.set()
    # The client still works afterwards.
    assert (await stream_fim(client, FimRequest(MODEL, "x"))).text == "pass"


# --------------------------------------------------------------------------- MockTransport


def _sse(*events: str) -> bytes:
    return "".join(events).encode()


def _chunk(content: Any, finish: str | None = None) -> str:
    event = {
        "id": "1",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}],
    }
    return f"data: {json.dumps(event)}\n\n"


def _respond(
    status: int, content: bytes, content_type: str
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content, headers={"Content-Type": content_type})

    return handler


async def test_content_chunks_are_joined() -> None:
    payload = {
        "model": "codestral-2508",
        "choices": [
            {
                "index": 0,
                "finish_reason": "length",
                "message": {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "foo"},
                        {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]},
                        {"type": "text", "text": "bar"},
                    ],
                },
            }
        ],
    }
    async with _mock_client(_respond(200, json.dumps(payload).encode(), "application/json")) as m:
        completion = await stream_fim(m, FimRequest(MODEL, "x"))
    assert completion.text == "foobar"
    assert completion.usage is None


async def test_missing_content_is_empty_text() -> None:
    for payload in ({"choices": [{"message": {"role": "assistant"}}]}, {"choices": []}, {}):
        async with _mock_client(
            _respond(200, json.dumps(payload).encode(), "application/json")
        ) as m:
            assert (await stream_fim(m, FimRequest(MODEL, "x"))).text == ""


async def test_non_json_success_body_is_a_protocol_error() -> None:
    async with _mock_client(_respond(200, b"<html>hello</html>", "text/html")) as m:
        with pytest.raises(ProtocolError) as info:
            await stream_fim(m, FimRequest(MODEL, "x"))
    assert isinstance(info.value, ServerError)
    assert info.value.status == 200


async def test_sse_parsing_tolerates_comments_events_crlf_and_missing_done() -> None:
    body = (
        ": keep-alive\r\n\r\n"
        "event: message\r\n"
        + _chunk("he").replace("\n", "\r\n")
        + "id: 7\nretry: 100\n"
        + _chunk([{"type": "text", "text": "ll"}])
        + _chunk(None)
        + _chunk("o", "stop")
    ).encode()
    async with _mock_client(_respond(200, body, "text/event-stream")) as m:
        pieces = [p async for p in m.fim_stream(FimRequest(MODEL, "x"))]
    assert pieces == ["he", "ll", "o"]


async def test_sse_stops_at_done() -> None:
    body = _sse(_chunk("a"), "data: [DONE]\n\n", _chunk("ignored"))
    async with _mock_client(_respond(200, body, "text/event-stream")) as m:
        assert [p async for p in m.fim_stream(FimRequest(MODEL, "x"))] == ["a"]


async def test_malformed_sse_line_is_a_protocol_error() -> None:
    body = _sse(_chunk("a"), "data: {not json\n\n")
    async with _mock_client(_respond(200, body, "text/event-stream")) as m:
        pieces: list[str] = []
        with pytest.raises(ProtocolError):
            async for piece in m.fim_stream(FimRequest(MODEL, "x")):
                pieces.append(piece)
    assert pieces == ["a"]


async def test_error_event_mid_stream() -> None:
    body = _sse(_chunk("a"), 'data: {"object": "error", "message": "model overloaded"}\n\n')
    async with _mock_client(_respond(200, body, "text/event-stream")) as m:
        with pytest.raises(ServerError) as info:
            async for _ in m.fim_stream(FimRequest(MODEL, "x")):
                pass
    assert "model overloaded" in info.value.message


async def test_stream_request_answered_with_json() -> None:
    payload = {"choices": [{"message": {"content": "whole"}, "finish_reason": "stop"}]}
    async with _mock_client(_respond(200, json.dumps(payload).encode(), "application/json")) as m:
        assert [p async for p in m.fim_stream(FimRequest(MODEL, "x"))] == ["whole"]


async def test_list_models_accepts_a_bare_list() -> None:
    cards = [{"id": "a"}, {"id": "b"}, "junk"]
    async with _mock_client(_respond(200, json.dumps(cards).encode(), "application/json")) as m:
        assert await m.list_models() == [{"id": "a"}, {"id": "b"}]
    async with _mock_client(_respond(200, b'{"object": "list"}', "application/json")) as m:
        with pytest.raises(ProtocolError):
            await m.list_models()


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), NetworkError),
        (httpx.ConnectError(f"name resolution failed for Bearer {KEY}"), NetworkError),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            NetworkError,
        ),
        (httpx.ReadError("connection reset by peer"), NetworkError),
        (httpx.ReadTimeout("timed out"), UpstreamTimeout),
        (httpx.ConnectTimeout("timed out"), UpstreamTimeout),
        (httpx.PoolTimeout("timed out"), UpstreamTimeout),
    ],
)
async def test_transport_exceptions_are_mapped(exc: Exception, cls: type[BackendError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    async with _mock_client(handler) as m:
        with pytest.raises(cls) as info:
            await stream_fim(m, FimRequest(MODEL, "x"))
        with pytest.raises(cls):
            async for _ in m.fim_stream(FimRequest(MODEL, "x")):
                pass
    assert "codestral.mistral.ai" in info.value.message
    assert KEY not in info.value.message
    assert info.value.__cause__ is exc


async def test_key_echoed_by_the_server_is_redacted() -> None:
    body = json.dumps({"message": f"Key {KEY} is not valid for this workspace"}).encode()
    async with _mock_client(_respond(400, body, "application/json")) as m:
        with pytest.raises(BadRequestError) as info:
            await stream_fim(m, FimRequest(MODEL, "x"))
    assert KEY not in info.value.message
    assert KEY not in repr(info.value)
    assert "[redacted]" in info.value.message


async def test_redirect_is_not_followed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(301, headers={"Location": "https://elsewhere.example/"})

    async with _mock_client(handler) as m:
        with pytest.raises(BackendError) as info:
            await stream_fim(m, FimRequest(MODEL, "x"))
    assert info.value.status == 301


async def test_key_whitespace_is_stripped(fake: FakeMistral) -> None:
    async with MistralClient(fake.url, f"  {KEY}\n") as mistral:
        await stream_fim(mistral, FimRequest(MODEL, "x"))
        assert fake.fim_requests()[0].headers["authorization"] == f"Bearer {KEY}"
        mistral.configure(api_key="   ")
        assert not mistral.has_key


async def test_unsendable_key_does_not_leak(fake: FakeMistral) -> None:
    bad_key = "sk-abc\ndef"
    async with MistralClient(fake.url, bad_key) as mistral:
        with pytest.raises(NetworkError) as info:
            await stream_fim(mistral, FimRequest(MODEL, "x"))
    assert "API key" in info.value.message
    assert "sk-abc" not in info.value.message
    assert fake.requests == []
