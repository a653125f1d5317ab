"""Upstream fault matrix, through the protocol (both client capability sets).

For every way the completion endpoint can fail, the server must: answer every request (within
``requestTimeoutMs``; a generous ``asyncio.wait_for`` here only detects hangs, no timing is
asserted), tell the user once per episode, keep its retries bounded (counted at the fake) and
complete normally again once the upstream recovers.  docs/RELIABILITY.md maps each test to
the behaviour it proves.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from lsprotocol import types

from codestral_ls.testing.fake_mistral import FakeMistral
from tests.e2e.conftest import Session, Starter

URI = "file:///work/faults.py"
#: Hang detector around each LSP call: far above any configured timeout.
HANG = 20.0
#: A small request timeout so the timeout cases stay fast.
TIMEOUT_MS = 400


class Typist:
    """Types at the end of one document and asks for a completion each time, so every
    request is at a new spot (never answered from the cache)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.text = "total = "
        session.open(URI, self.text)

    async def ask(self, typed: str = "") -> str | None:
        if typed:
            self.session.replace(URI, len(self.text), len(self.text), typed)
            self.text += typed
        return await asyncio.wait_for(self.session.complete_at(URI, len(self.text)), HANG)


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reconfigure(session: Session, settings: dict[str, Any]) -> None:
    """Change the ``codestral`` workspace settings and tell the server."""
    session.client.set_configuration(settings, section="codestral")
    session.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings=None)
    )


async def recovers(typist: Typist, fake: FakeMistral, typed: str = "a") -> None:
    """A normal completion works (the server is up and calling the upstream again)."""
    fake.fim_text = "42"
    before = len(fake.fim_requests())
    assert await typist.ask(typed) == "42"
    assert len(fake.fim_requests()) == before + 1
    assert all(r.errors == [] for r in fake.fim_requests())


# --- rejections: the key, the model, the request --------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
async def test_rejected_key_pauses_tells_once_and_a_new_key_resumes(
    start: Starter, fake: FakeMistral, status: int
) -> None:
    session = await start(configuration={})
    typist = Typist(session)
    fake.fail_next(status, {"message": "Unauthorized"}, times=10)
    for typed in ("", "1", "2", "3"):
        assert await typist.ask(typed) is None
    assert len(fake.fim_requests()) == 1  # paused after the rejection: no hammering
    [message] = session.messages
    assert "rejected" in message and "test-key" not in message
    # any settings change resumes: one request goes out, is rejected again and pauses again,
    # without a second message (the episode goes on: the key did not change)
    reconfigure(session, {"temperature": 0.1})
    assert await typist.ask("4") is None
    assert await typist.ask("5") is None
    assert len(fake.fim_requests()) == 2
    # a new key is: the next request goes out (the queued failures are gone first)
    fake.reset()
    reconfigure(session, {"apiKey": "another-key-7c1e"})
    await recovers(typist, fake)
    assert fake.fim_requests()[-1].headers["authorization"] == "Bearer another-key-7c1e"
    assert len(session.messages) == 1


async def test_unknown_model_pauses_tells_once_and_another_model_resumes(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start({"model": "codestral-nope"}, configuration={"model": "codestral-nope"})
    typist = Typist(session)
    for typed in ("", "1", "2"):
        assert await typist.ask(typed) is None
    assert len(fake.fim_requests()) == 1  # the fake answers 400 "Invalid model" itself
    [message] = session.messages
    assert "codestral-nope" in message
    reconfigure(session, {"model": "codestral-2508"})
    await recovers(typist, fake)
    assert fake.fim_requests()[-1].body is not None
    assert fake.fim_requests()[-1].body["model"] == "codestral-2508"
    assert len(session.messages) == 1


async def test_validation_error_422_is_not_retried_told_once_and_next_request_passes(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start()
    typist = Typist(session)
    detail = {
        "detail": [
            {
                "type": "less_than_equal",
                "loc": ["body", "temperature"],
                "msg": "Input should be less than or equal to 1.5",
            }
        ]
    }
    fake.fail_next(422, detail, times=3)
    for typed in ("", "1", "2"):
        assert await typist.ask(typed) is None
    # every request goes out once (another context may pass): no retry, no pause
    assert len(fake.fim_requests()) == 3
    [message] = session.messages
    assert "422" in message and "temperature" in message
    await recovers(typist, fake)
    # after a success a new refusal is a new episode
    fake.fail_next(422, detail)
    assert await typist.ask("b") is None
    assert len(session.messages) == 2


# --- rate limits ----------------------------------------------------------------------------


async def test_rate_limit_with_retry_after_zero_resumes_on_the_next_request(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start()
    typist = Typist(session)
    fake.fail_next(429, {"message": "Requests rate limit exceeded"}, headers={"Retry-After": "0"})
    assert await typist.ask() is None
    assert len(fake.fim_requests()) == 1  # a 429 is never retried at once
    [message] = session.messages
    assert "rate limited" in message
    # Retry-After: 0 -> the pause is over: the next request is the probe, and it passes
    await recovers(typist, fake)
    assert len(fake.fim_requests()) == 2


@pytest.mark.parametrize("retry_after", ["30", None])
async def test_rate_limit_pauses_tells_once_and_a_settings_change_resumes(
    start: Starter, fake: FakeMistral, retry_after: str | None
) -> None:
    session = await start(configuration={})
    typist = Typist(session)
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    fake.fail_next(429, {"message": "Requests rate limit exceeded"}, headers=headers, times=5)
    for typed in ("", "1", "2", "3"):
        assert await typist.ask(typed) is None
    # paused: Retry-After when given, else the breaker's backoff (about 2 s, with jitter)
    assert len(fake.fim_requests()) == 1
    [message] = session.messages
    assert "rate limited" in message
    if retry_after is not None:
        assert "30 s" in message
    fake.reset()
    reconfigure(session, {"model": "codestral-2508"})  # a change of model lifts the pause
    await recovers(typist, fake)
    assert len(session.messages) == 1


# --- server errors --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_retry_boundedly_open_the_breaker_and_tell_once(
    start: Starter, fake: FakeMistral, status: int
) -> None:
    session = await start(configuration={})
    typist = Typist(session)
    per_request = 2 if status in (502, 503, 504) else 1  # one retry for gateway errors only
    fake.fail_next(status, {"message": "upstream trouble"}, times=3 * per_request)
    for typed in ("", "1", "2"):
        assert await typist.ask(typed) is None
    assert len(fake.fim_requests()) == 3 * per_request
    # three failures in a row open the breaker: the next keystrokes do not call at all
    for typed in ("3", "4"):
        assert await typist.ask(typed) is None
    assert len(fake.fim_requests()) == 3 * per_request
    [message] = session.messages
    assert str(status) in message
    reconfigure(session, {"model": "codestral-2508"})
    await recovers(typist, fake)
    assert len(session.messages) == 1


# --- the network ----------------------------------------------------------------------------


async def test_connection_refused_answers_tells_once_and_a_working_endpoint_resumes(
    start: Starter, fake: FakeMistral
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    session = await start(configuration={"endpoint": dead})
    typist = Typist(session)
    for typed in ("", "1", "2", "3"):
        assert await typist.ask(typed) is None
    assert fake.fim_requests() == []
    [message] = session.messages
    assert "connect" in message.lower() and "127.0.0.1" in message
    reconfigure(session, {"endpoint": fake.url})
    await recovers(typist, fake)
    assert len(session.messages) == 1


async def test_read_timeout_answers_at_request_timeout_and_tells_once(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start({"requestTimeoutMs": TIMEOUT_MS}, configuration={})
    typist = Typist(session)
    gate = fake.gate()
    try:
        for typed in ("", "1", "2"):
            assert await typist.ask(typed) is None
        assert len(fake.fim_requests()) == 3  # a timeout is not retried
        for typed in ("3", "4"):  # three timeouts in a row opened the breaker
            assert await typist.ask(typed) is None
        assert len(fake.fim_requests()) == 3
    finally:
        gate.set()
    [message] = session.messages
    assert f"{TIMEOUT_MS} ms" in message
    # every held response was abandoned by the server (the client hung up)
    assert await fake.await_until(lambda: fake.responses_aborted + fake.streams_aborted >= 3)
    reconfigure(session, {"requestTimeoutMs": TIMEOUT_MS, "model": "codestral-2508"})
    await recovers(typist, fake)
    assert len(session.messages) == 1


async def test_stream_trickling_forever_ends_at_request_timeout_and_is_closed(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start({"requestTimeoutMs": TIMEOUT_MS})
    typist = Typist(session)
    fake.fim_text = "x" * 4000  # ~1000 pieces, no newline: single-line reading never stops
    fake.token_delay = 0.05  # each piece well inside the read timeout; the whole takes ~50 s
    assert await typist.ask() is None
    assert len(fake.fim_requests()) == 1
    [message] = session.messages
    assert f"{TIMEOUT_MS} ms" in message
    # the stream was closed, so the model stops generating
    assert await fake.await_until(lambda: fake.streams_aborted >= 1)
    fake.token_delay = 0.0
    await recovers(typist, fake)


@pytest.mark.parametrize("fault", ["reset_after:2", "truncate_after:2"])
async def test_connection_broken_mid_stream_is_not_retried_and_told_once(
    start: Starter, fake: FakeMistral, fault: str
) -> None:
    session = await start()
    typist = Typist(session)
    fake.fim_text = "alpha beta gamma delta"
    fake.stream_fault = fault
    assert await typist.ask() is None
    assert await typist.ask("1") is None
    # text had streamed: a retry would repeat it, so none
    assert len(fake.fim_requests()) == 2
    [message] = session.messages
    assert "127.0.0.1" in message
    fake.stream_fault = None
    await recovers(typist, fake)


async def test_connection_reset_before_any_text_is_retried_once(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start()
    typist = Typist(session)
    fake.stream_fault = "reset_after:0"
    assert await typist.ask() is None
    assert len(fake.fim_requests()) == 2  # one jittered retry, then give up
    assert len(session.messages) == 1
    fake.stream_fault = None
    await recovers(typist, fake)
    assert session.messages[1:] == []


# --- malformed answers ----------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["garbage", "not_json", "cut_event"])
async def test_malformed_answer_is_an_error_told_once(
    start: Starter, fake: FakeMistral, fault: str
) -> None:
    session = await start()
    typist = Typist(session)
    fake.fim_text = "alpha beta gamma"
    fake.stream_fault = fault
    assert await typist.ask() is None
    assert await typist.ask("1") is None
    assert len(fake.fim_requests()) == 2  # not retried: the server answered, wrongly
    [message] = session.messages
    assert "127.0.0.1" in message
    fake.stream_fault = None
    await recovers(typist, fake)
    assert len(session.messages) == 1


async def test_html_page_with_status_200_is_an_error_told_once(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start()
    typist = Typist(session)
    fake.stream_fault = "html"
    assert await typist.ask() is None
    assert await typist.ask("1") is None
    assert len(fake.fim_requests()) == 2
    [message] = session.messages
    assert "127.0.0.1" in message and "<html>" not in message
    fake.stream_fault = None
    await recovers(typist, fake)


async def test_stream_ending_without_done_keeps_what_arrived(
    start: Starter, fake: FakeMistral
) -> None:
    # Some compatible servers omit [DONE]; a cleanly ended body is accepted as it is.
    session = await start()
    typist = Typist(session)
    fake.fim_text = "ab cd ef"
    fake.stream_fault = "end_after:3"  # "ab", " ", "cd"
    assert await typist.ask() == "ab cd"
    assert len(fake.fim_requests()) == 1
    assert session.messages == []
