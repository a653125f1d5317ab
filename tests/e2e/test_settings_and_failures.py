"""Settings layers and upstream failures, through the protocol."""

from __future__ import annotations

from lsprotocol import types

from codestral_ls.testing.fake_mistral import FakeMistral
from tests.e2e.conftest import Starter

URI = "file:///work/example.py"


async def test_initialization_options_then_workspace_configuration(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start(
        {"model": "codestral-2508", "maxTokens": 99},
        configuration={"maxTokens": 77, "temperature": 0.3},
    )
    session.open(URI, "x = ")
    await session.complete_at(URI, 4)
    [request] = fake.fim_requests()
    assert request.body is not None
    assert request.body["model"] == "codestral-2508"  # from initializationOptions
    assert request.body["max_tokens"] == 77  # workspace/configuration wins
    assert request.body["temperature"] == 0.3


async def test_did_change_configuration_applies_to_the_next_request(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start(configuration={})
    session.open(URI, "x = ")
    await session.complete_at(URI, 4)
    session.client.set_configuration({"model": "my-finetune"}, section="codestral")
    session.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings=None)
    )
    await session.complete_at(URI, 4)
    first, second = fake.fim_requests()
    assert first.body is not None and first.body["model"] == "codestral-latest"
    assert second.body is not None and second.body["model"] == "my-finetune"


async def test_invalid_setting_gives_one_message_and_the_default(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start({"maxTokens": "lots", "temperature": 0.1})
    session.open(URI, "x = ")
    await session.complete_at(URI, 4)
    await session.complete_at(URI, 4)
    [message] = [m for m in session.messages if "maxTokens" in m]
    assert "default (256)" in message
    first = fake.fim_requests()[0]
    assert first.body is not None
    assert first.body["max_tokens"] == 256
    assert first.body["temperature"] == 0.1


async def test_no_key_answers_empty_with_one_message(start: Starter, fake: FakeMistral) -> None:
    session = await start(env={"CODESTRAL_API_KEY": None, "MISTRAL_API_KEY": None})
    session.open(URI, "x = ")
    assert await session.complete_at(URI, 4) is None
    assert await session.complete_at(URI, 4) is None
    assert fake.fim_requests() == []
    [message] = session.messages
    assert "CODESTRAL_API_KEY" in message and "MISTRAL_API_KEY" in message


async def test_rejected_key_is_explained_once(start: Starter, fake: FakeMistral) -> None:
    session = await start()
    session.open(URI, "x = ")
    fake.fail_next(401, {"message": "Unauthorized", "request_id": "abc"}, times=5)
    assert await session.complete_at(URI, 4) is None
    assert await session.complete_at(URI, 4) is None
    [message] = session.messages
    assert "127.0.0.1" in message
    assert "codestral.mistral.ai" in message and "api.mistral.ai" in message
    assert "test-key" not in message
    # completions pause after a rejection instead of hammering the endpoint
    assert len(fake.fim_requests()) == 1


async def test_unknown_model_names_the_model(start: Starter, fake: FakeMistral) -> None:
    session = await start({"model": "codestral-nope"})
    session.open(URI, "x = ")
    fake.fail_next(
        400,
        {
            "object": "error",
            "message": "Invalid model: codestral-nope",
            "type": "invalid_model",
            "code": "1500",
        },
    )
    assert await session.complete_at(URI, 4) is None
    [message] = session.messages
    assert "codestral-nope" in message
    assert "codestral.selectModel" in message


async def test_rate_limit_pauses_calls_until_retry_after(start: Starter, fake: FakeMistral) -> None:
    session = await start()
    session.open(URI, "x = ")
    fake.fail_next(429, {"message": "Requests rate limit exceeded"}, headers={"Retry-After": "30"})
    assert await session.complete_at(URI, 4) is None
    for _ in range(3):
        assert await session.complete_at(URI, 4) is None
    assert len(fake.fim_requests()) == 1
    [message] = session.messages
    assert "rate limited" in message and "30 s" in message


async def test_server_errors_are_retried_once_told_once_and_recovery_resumes(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start()
    session.open(URI, "x = ")
    html = "<html><body><h1>503 Service Unavailable</h1></body></html>"
    fake.fail_next(503, html, times=4)
    assert await session.complete_at(URI, 4) is None
    assert len(fake.fim_requests()) == 2  # one retry, then give up
    session.replace(URI, 4, 4, "1")
    assert await session.complete_at(URI, 5) is None
    assert len(fake.fim_requests()) == 4
    [message] = session.messages
    assert "503" in message and "<html>" not in message
    fake.fim_text = "42"
    session.replace(URI, 5, 5, " + ")
    assert await session.complete_at(URI, 8) == "42"
    # after a success, a new failure is a new episode and is told again
    session.replace(URI, 8, 8, "7 + ")
    fake.fail_next(500, {"message": "boom"})
    assert await session.complete_at(URI, 12) is None
    assert len(session.messages) == 2
    assert len(fake.fim_requests()) == 6  # a 500 is not retried


async def test_a_503_then_success_is_invisible(start: Starter, fake: FakeMistral) -> None:
    session = await start()
    session.open(URI, "x = ")
    fake.fim_text = "ok"
    fake.fail_next(503, {"message": "overloaded"})
    assert await session.complete_at(URI, 4) == "ok"
    assert session.messages == []
    assert len(fake.fim_requests()) == 2
