"""Bad LSP input: the server answers (with the protocol's error where it has one), stays up and
tells the user once."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import Future
from typing import Any

import pytest
from lsprotocol import types

from codestral_ls.testing.fake_mistral import FakeMistral
from tests.e2e.conftest import Session, Starter

URI = "file:///work/bad.py"


async def raw_request(session: Session, method: str, params: Any) -> Any:
    """Send a request exactly as given (bypassing the client's types); its result or error."""
    msg_id = f"raw-{id(params)}-{method}"
    future: Future[Any] = Future()
    protocol = session.client.protocol
    protocol._request_futures[msg_id] = future
    protocol._result_types[msg_id] = None
    await write_raw(
        session,
        json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}).encode(),
    )
    return await asyncio.wait_for(asyncio.wrap_future(future), 20)


async def write_raw(session: Session, body: bytes) -> None:
    server = session.client._server
    assert server is not None and server.stdin is not None
    server.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    await server.stdin.drain()


async def still_answers(session: Session) -> None:
    session.open("file:///work/alive.py", "ok = ")
    assert await session.complete_at("file:///work/alive.py", 5) is not None


@pytest.mark.parametrize(
    "position",
    [{"line": 0, "character": -1}, {"line": -3, "character": 0}, {"line": "x", "character": 0}],
)
async def test_invalid_positions_get_the_protocols_error(
    start: Starter, fake: FakeMistral, position: dict[str, Any]
) -> None:
    session = await start()
    session.open(URI, "x = 1\n")
    method = (
        types.TEXT_DOCUMENT_INLINE_COMPLETION if session.inline else types.TEXT_DOCUMENT_COMPLETION
    )
    params: dict[str, Any] = {"textDocument": {"uri": URI}, "position": position}
    if session.inline:
        params["context"] = {"triggerKind": 2}
    with pytest.raises(Exception, match=r"(?i)invalid|params|error"):
        await raw_request(session, method, params)
    await still_answers(session)


async def test_huge_numbers_are_clamped_or_empty(start: Starter, fake: FakeMistral) -> None:
    session = await start()
    session.open(URI, "value = 1\n")
    big = 2**31 - 1
    assert await session.complete(URI, types.Position(line=big, character=0)) is None
    assert await session.complete(URI, types.Position(line=0, character=big)) is not None
    [request] = fake.fim_requests()
    assert request.body is not None and request.body["prompt"] == "value = 1"


async def test_malformed_json_rpc_and_unknown_methods(start: Starter, fake: FakeMistral) -> None:
    session = await start()
    await write_raw(session, b'{"jsonrpc": "2.0", "id": 7, "method": ')  # truncated JSON
    await write_raw(session, b"[1, 2, 3]")  # valid JSON, not a message
    await write_raw(session, b'{"jsonrpc": "2.0", "method": "textDocument/didOpen"}')  # no params
    await write_raw(session, b"{}")  # no "jsonrpc"
    with pytest.raises(Exception, match=r"(?i)method not found|not found|unknown"):
        await raw_request(session, "codestral/noSuchMethod", {})
    await write_raw(
        session, json.dumps({"jsonrpc": "2.0", "method": "custom/unknownNotification"}).encode()
    )
    await still_answers(session)
    assert session.messages == []  # the client's mistakes are logged, not shown to the user


async def test_utf16_position_inside_a_surrogate_pair(start: Starter, fake: FakeMistral) -> None:
    session = await start()
    text = "s = '😀x'\n"
    session.open(URI, text)
    # In UTF-16 the emoji is two units (5 and 6); 6 points between them.  In UTF-8 (Neovim)
    # the emoji is four bytes (5..8); 7 points inside it.  Both round down to its start.
    inside = 6 if session.encoding == "utf-16" else 7
    await session.complete(URI, types.Position(line=0, character=inside))
    [request] = fake.fim_requests()
    assert request.body is not None
    assert request.body["prompt"] == "s = '"
    assert request.body["suffix"] == "😀x'\n"


async def test_mixed_line_endings(start: Starter, fake: FakeMistral) -> None:
    session = await start()
    text = "a = 1\r\nb = 2\nc = 3\rd = \r\ne = 5"
    session.open(URI, text)
    offset = text.index("d = ") + 4
    await session.complete_at(URI, offset)
    [request] = fake.fim_requests()
    assert request.body is not None
    assert request.body["prompt"] == text[:offset]
    assert request.body["suffix"] == text[offset:]


async def test_binary_content_is_not_sent(start: Starter, fake: FakeMistral) -> None:
    session = await start()
    session.open("file:///work/blob.py", "data = '\x00\x01\x02'\nx = ")
    assert (
        await session.complete_at(
            "file:///work/blob.py", len(session.texts["file:///work/blob.py"])
        )
        is None
    )
    assert await session.complete_at("file:///work/blob.py", 3) is None
    assert fake.fim_requests() == []
    assert len([m for m in session.messages if "binary" in m]) == 1
    await still_answers(session)


async def test_a_50_mb_document_is_declined_once_and_the_server_stays_up(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start()
    line = "x = 1  # filler filler filler filler filler filler filler filler\n"
    huge = line * (50_000_000 // len(line) + 1)
    session.open("file:///work/huge.py", huge)
    session.texts["file:///work/huge.py"] = huge
    assert (
        await session.complete("file:///work/huge.py", types.Position(line=10, character=5)) is None
    )
    assert (
        await session.complete("file:///work/huge.py", types.Position(line=20, character=5)) is None
    )
    assert fake.fim_requests() == []
    assert len([m for m in session.messages if "larger than" in m]) == 1
    await still_answers(session)
