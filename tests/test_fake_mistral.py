"""The fake Mistral server and the request-schema validator used by the other tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from codestral_ls.mistral import ChatMessage, ChatRequest, EmbeddingRequest, FimRequest
from codestral_ls.testing.fake_mistral import FakeMistral, validate_request, validation_details

AUTH = {"Authorization": "Bearer test-key"}
FIM = "/v1/fim/completions"

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
def http(fake: FakeMistral) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, timeout=5.0) as client:
        yield client


# --------------------------------------------------------------------------- validate_request


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("fim", {"model": "codestral-latest", "prompt": "def"}),
        ("fim", FimRequest("codestral-latest", "def f(", suffix="", stop=("\n",)).to_body()),
        (
            "fim",
            {
                "model": "codestral-latest",
                "prompt": "def",
                "suffix": None,
                "temperature": 0.0,
                "top_p": 1,
                "max_tokens": 0,
                "min_tokens": None,
                "stream": True,
                "stop": "\n\n",
                "random_seed": 0,
                "metadata": {"any": ["thing"]},
                "prompt_cache_key": "file.py",
            },
        ),
        (
            "chat",
            ChatRequest(
                "codestral-latest",
                (
                    ChatMessage("system", "s"),
                    ChatMessage("user", "u"),
                    ChatMessage("assistant", "a"),
                ),
                max_tokens=10,
                temperature=0.3,
                top_p=0.9,
                stop=("```",),
                random_seed=3,
                stream=True,
            ).to_body(),
        ),
        (
            "chat",
            {
                "model": "mistral-large-latest",
                "messages": [
                    {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
                    {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                    {"role": "assistant", "content": "prefix", "prefix": True},
                ],
                "response_format": {"type": "text"},
                "presence_penalty": 0.5,
                "n": 1,
                "safe_prompt": False,
            },
        ),
        ("embeddings", EmbeddingRequest("mistral-embed", ("a", "b")).to_body()),
        ("embeddings", {"model": "mistral-embed", "input": "single string"}),
    ],
)
def test_validate_request_accepts_valid_bodies(kind: Any, body: dict[str, Any]) -> None:
    assert validate_request(kind, body) == []


@pytest.mark.parametrize(
    ("kind", "body", "expected"),
    [
        (
            "fim",
            {"model": "m", "prompt": "p", "foo": 1},
            ["body.foo: Extra inputs are not permitted"],
        ),
        ("fim", {"model": "m"}, ["body.prompt: Field required"]),
        ("fim", {"model": "m", "prompt": 3}, ["body.prompt: 3 is not of type 'string'"]),
        ("fim", {"model": "m", "prompt": "p", "stop": 5}, ["body.stop: "]),
        ("fim", {"model": "m", "prompt": "p", "max_tokens": -1}, ["body.max_tokens: "]),
        (
            "chat",
            {"model": "m", "messages": [{"role": "wizard", "content": "x"}]},
            ["body.messages.0: "],
        ),
        ("chat", {"model": "m", "messages": [], "suffix": "x"}, ["body.suffix: Extra inputs"]),
        (
            "embeddings",
            {"model": "mistral-embed", "inputs": ["a"]},
            ["body.input: Field required", "body.inputs: Extra inputs are not permitted"],
        ),
    ],
)
def test_validate_request_rejects_invalid_bodies(
    kind: Any, body: dict[str, Any], expected: list[str]
) -> None:
    errors = validate_request(kind, body)
    assert len(errors) == len(expected), errors
    for error, prefix in zip(sorted(errors), sorted(expected), strict=True):
        assert error.startswith(prefix), errors


def test_validation_details_look_like_the_real_422() -> None:
    [detail] = validation_details("fim", {"model": "m", "prompt": "p", "foo": 1})
    assert detail == {
        "type": "extra_forbidden",
        "loc": ["body", "foo"],
        "msg": "Extra inputs are not permitted",
        "input": 1,
    }


def test_schema_file_is_self_contained() -> None:
    document = json.loads((Path(__file__).parent / "schemas" / "mistral.json").read_text())
    schemas = document["components"]["schemas"]
    for name in (
        "FIMCompletionRequest",
        "ChatCompletionRequest",
        "EmbeddingRequest",
        "SystemMessage",
        "UserMessage",
        "AssistantMessage",
    ):
        assert name in schemas
    assert schemas["FIMCompletionRequest"]["additionalProperties"] is False
    text = json.dumps(document)
    for ref in set(part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]):
        assert ref in schemas


# --------------------------------------------------------------------------- the server


def test_unknown_field_gets_422_and_is_recorded(fake: FakeMistral, http: httpx.Client) -> None:
    body = {"model": "codestral-latest", "prompt": "def", "foo": "bar"}
    response = http.post(FIM, json=body, headers=AUTH)
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "type": "extra_forbidden",
                "loc": ["body", "foo"],
                "msg": "Extra inputs are not permitted",
                "input": "bar",
            }
        ]
    }
    [recorded] = fake.fim_requests()
    assert recorded.errors == ["body.foo: Extra inputs are not permitted"]
    assert recorded.body == body
    assert recorded.method == "POST"


def test_fim_response_shape(fake: FakeMistral, http: httpx.Client) -> None:
    fake.fim_text = lambda body: body["prompt"].upper()
    response = http.post(FIM, json={"model": "codestral-latest", "prompt": "abc"}, headers=AUTH)
    assert response.status_code == 200
    payload = response.json()
    assert payload["object"] == "chat.completion"
    assert payload["model"] == "codestral-2508"
    assert set(payload) >= {"id", "created", "usage", "choices"}
    assert payload["choices"][0]["message"] == {
        "role": "assistant",
        "content": "ABC",
        "prefix": False,
        "tool_calls": None,
    }
    assert payload["choices"][0]["finish_reason"] == "stop"
    assert payload["usage"]["total_tokens"] == (
        payload["usage"]["prompt_tokens"] + payload["usage"]["completion_tokens"]
    )


def test_stream_is_chunked_sse(fake: FakeMistral, http: httpx.Client) -> None:
    fake.fim_text = "print('hello world')"
    body = {"model": "codestral-latest", "prompt": "x", "stream": True}
    with http.stream("POST", FIM, json=body, headers=AUTH) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["transfer-encoding"] == "chunked"
        raw = response.read().decode()
    events = [block for block in raw.split("\n\n") if block]
    assert all(event.startswith("data: ") for event in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(event[len("data: ") :]) for event in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    text = "".join(chunk["choices"][0]["delta"]["content"] for chunk in chunks)
    assert text == "print('hello world')"
    assert len(chunks) > 4
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert "usage" in chunks[-1]
    assert fake.fim_requests()[0].stream is True


def test_auth_is_required(fake: FakeMistral, http: httpx.Client) -> None:
    body = {"model": "codestral-latest", "prompt": "x"}
    response = http.post(FIM, json=body)
    assert response.status_code == 401
    assert response.json()["message"] == "Unauthorized"
    assert "request_id" in response.json()
    assert http.post(FIM, json=body, headers={"Authorization": "Basic dGVzdA=="}).status_code == 401
    fake.valid_keys = {"right"}
    assert http.post(FIM, json=body, headers=AUTH).status_code == 401
    assert http.post(FIM, json=body, headers={"Authorization": "Bearer right"}).status_code == 200
    fake.require_auth = False
    assert http.post(FIM, json=body).status_code == 200


def test_models_embeddings_and_unknown_paths(fake: FakeMistral, http: httpx.Client) -> None:
    models = http.get("/v1/models", headers=AUTH).json()
    assert models["object"] == "list"
    ids = [card["id"] for card in models["data"]]
    assert "codestral-2508" in ids and "mistral-embed" in ids
    deprecated = [card for card in models["data"] if card["deprecation"]]
    assert deprecated and deprecated[0]["deprecation_replacement_model"] == "codestral-2508"
    assert deprecated[0]["capabilities"]["completion_fim"] is True

    body = {"model": "mistral-embed", "input": ["a", "b"]}
    first = http.post("/v1/embeddings", json=body, headers=AUTH).json()
    second = http.post("/v1/embeddings", json=body, headers=AUTH).json()
    assert first["data"] == second["data"]
    assert sorted(item["index"] for item in first["data"]) == [0, 1]

    missing = http.get("/nope", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}
    assert http.get(FIM, headers=AUTH).status_code == 405
    assert fake.connections_opened == 1


def test_unknown_model_is_rejected_like_the_real_api(fake: FakeMistral, http: httpx.Client) -> None:
    response = http.post(FIM, json={"model": "gpt-4", "prompt": "x"}, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["message"] == "Invalid model: gpt-4"
    fake.check_models = False
    response = http.post(FIM, json={"model": "gpt-4", "prompt": "x"}, headers=AUTH)
    assert response.json()["model"] == "gpt-4"


def test_fail_next(fake: FakeMistral, http: httpx.Client) -> None:
    body = {"model": "codestral-latest", "prompt": "x"}
    fake.fail_next(429, {"message": "slow down"}, headers={"Retry-After": "3"}, times=2)
    fake.fail_next(502, "<html><title>Bad gateway</title></html>")
    for _ in range(2):
        response = http.post(FIM, json=body, headers=AUTH)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "3"
        assert response.json() == {"message": "slow down"}
    # GET requests are not affected by queued failures.
    assert http.get("/v1/models", headers=AUTH).status_code == 200
    html = http.post(FIM, json=body, headers=AUTH)
    assert html.status_code == 502
    assert html.headers["content-type"].startswith("text/html")
    assert http.post(FIM, json=body, headers=AUTH).status_code == 200
    assert len(fake.fim_requests()) == 4


def test_gate_and_wait_for_requests(fake: FakeMistral, http: httpx.Client) -> None:
    gate = fake.gate()
    results: list[int] = []

    def call() -> None:
        response = http.post(FIM, json={"model": "codestral-latest", "prompt": "x"}, headers=AUTH)
        results.append(response.status_code)

    worker = threading.Thread(target=call)
    worker.start()
    assert fake.wait_for_requests(1, timeout=5)
    assert results == []
    gate.set()
    worker.join(5)
    assert results == [200]


def test_reset(fake: FakeMistral, http: httpx.Client) -> None:
    fake.fim_text = "changed"
    fake.fail_next(500)
    http.post(FIM, json={"model": "codestral-latest", "prompt": "x"}, headers=AUTH)
    fake.fail_next(500)
    fake.reset()
    assert fake.requests == [] and fake.connections_opened == 0
    assert fake.fim_text == "pass"
    response = http.post(FIM, json={"model": "codestral-latest", "prompt": "x"}, headers=AUTH)
    assert response.json()["choices"][0]["message"]["content"] == "pass"
