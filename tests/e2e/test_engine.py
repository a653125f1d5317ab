"""The typing-speed engine through the protocol: debounce, cancellation, cache, large files.

Everything is asserted by counts and content (what the fake received, what the editor got),
never by timing.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from codestral_ls.testing.fake_mistral import FakeMistral
from tests.e2e.conftest import Starter

URI = "file:///work/engine.py"


async def test_a_burst_of_keystrokes_makes_one_request(start: Starter, fake: FakeMistral) -> None:
    """Each keystroke asks; only the last one, after the pause, reaches the network."""
    fake.fim_text = "result"
    session = await start({"debounceMs": 1000})
    session.open(URI, "value = ")
    pending = []
    typed = "compute_"
    for index, char in enumerate(typed):
        offset = len("value = ") + index
        session.replace(URI, offset, offset, char)
        msg_id, future = session.request_at(URI, offset + 1)
        if session.inline and pending:
            session.cancel(pending[-1][0])  # VS Code cancels the request it no longer needs
        pending.append((msg_id, future))
    results = await asyncio.gather(*(f for _, f in pending), return_exceptions=True)
    [request] = fake.fim_requests()
    assert request.body is not None
    assert request.body["prompt"] == "value = compute_"
    for result in results[:-1]:  # cancelled (an error) or answered empty
        assert isinstance(result, Exception) or session.inserted(result) is None
    assert session.inserted(results[-1]) is not None


async def test_typing_through_and_backspacing_use_no_requests(
    start: Starter, fake: FakeMistral
) -> None:
    fake.fim_text = "compute(alpha, beta)"
    session = await start({"debounceMs": 150})
    session.open(URI, "value = ")
    base = len("value = ")
    assert await session.complete_at(URI, base) == "compute(alpha, beta)"
    expected = "compute(alpha, beta)"
    for index, char in enumerate("compu"):
        session.replace(URI, base + index, base + index, char)
        assert await session.complete_at(URI, base + index + 1) == expected[index + 1 :]
    # backspace twice: "comp" -> "com"
    for length in (4, 3):
        session.replace(URI, base + length, base + length + 1, "")
        assert await session.complete_at(URI, base + length) == expected[length:]
    assert len(fake.fim_requests()) == 1


async def test_typing_through_a_new_line_of_a_multi_line_suggestion(
    start: Starter, fake: FakeMistral
) -> None:
    source = "def area(w, h):\n"
    fake.fim_text = "    product = w * h\n    return product\n"
    session = await start()
    session.open(URI, source)
    first = await session.complete_at(URI, len(source))
    assert first == "    product = w * h\n    return product"
    session.replace(URI, len(source), len(source), "    product = w * h\n")
    text = session.texts[URI]
    assert await session.complete_at(URI, len(text)) == "    return product"
    assert len(fake.fim_requests()) == 1


async def test_coming_back_to_a_spot_uses_the_cache_within_its_bounds(
    start: Starter, fake: FakeMistral
) -> None:
    lines = [f"v{i} = " for i in range(5)]
    source = "\n".join(lines) + "\n"
    fake.fim_text = lambda body: "1"
    session = await start({"cacheSize": 3})
    session.open(URI, source)
    ends = [source.index(line) + len(line) for line in lines]
    for end in ends:
        await session.complete_at(URI, end)
    assert len(fake.fim_requests()) == 5
    await session.complete_at(URI, ends[4])  # still cached
    await session.complete_at(URI, ends[2])  # the oldest of the three kept
    assert len(fake.fim_requests()) == 5
    await session.complete_at(URI, ends[0])  # evicted: the cache holds 3 entries only
    assert len(fake.fim_requests()) == 6


async def test_a_cancel_closes_the_upstream_stream(start: Starter, fake: FakeMistral) -> None:
    fake.fim_text = "first second third fourth"
    fake.token_delay = 30.0  # the stream stays open until the server hangs up
    session = await start()
    session.open(URI, "name = ")
    msg_id, future = session.request_at(URI, len("name = "))
    assert await fake.await_requests(1)
    session.cancel(msg_id)
    with pytest.raises(Exception, match="cancel"):
        await future
    assert await fake.await_until(lambda: fake.streams_aborted == 1)
    assert len(fake.fim_requests()) == 1


async def test_a_newer_request_supersedes_one_in_flight(start: Starter, fake: FakeMistral) -> None:
    """Neovim does not cancel: a request at another spot must still stop the old stream."""
    fake.fim_text = "42"
    gate = fake.gate()  # hold every answer until the old request has been dropped
    session = await start()
    session.open(URI, "x = \ny = ")
    _, old = session.request_at(URI, len("x = "))
    assert await fake.await_requests(1)
    _, new = session.request_at(URI, len("x = \ny = "))
    assert session.inserted(await old) is None  # superseded: answered empty, at once
    assert await fake.await_until(lambda: fake.streams_aborted == 1)
    gate.set()
    assert session.inserted(await new) is not None
    assert len(fake.fim_requests()) == 2


async def test_single_line_reading_stops_at_the_first_newline(
    start: Starter, fake: FakeMistral
) -> None:
    fake.fim_text = "total + 1\n" + "extra = 2\n" * 50
    session = await start({"stop": ["\n\n\n"]})
    session.open(URI, "print()\n")
    assert await session.complete_at(URI, len("print(")) == "total + 1"
    [request] = fake.fim_requests()
    assert request.body is not None and request.body["stream"] is True


async def test_large_document_stays_exact_after_many_edits(
    start: Starter, fake: FakeMistral
) -> None:
    rng = random.Random(7)
    line = "    value = compute(alpha, beta)  # é 中 😀\n"
    text = line * (1_000_000 // len(line))
    session = await start({"prefixChars": 2_000_000, "suffixChars": 2_000_000})
    session.open(URI, text)
    for _ in range(150):
        current = session.texts[URI]
        start_at = rng.randrange(len(current))
        if current[start_at - 1 : start_at + 1] == "\r\n":
            start_at -= 1
        end_at = min(len(current), start_at + rng.choice([0, 0, 1, 5]))
        session.replace(URI, start_at, end_at, rng.choice(["x", "\n", "😀", "", "ab\ncd"]))
    current = session.texts[URI]
    offset = rng.randrange(len(current))
    while current[offset - 1 : offset + 1] == "\r\n" or (
        0 < offset < len(current) and "\udc00" <= current[offset] <= "\udfff"
    ):
        offset -= 1
    await session.complete_at(URI, offset)
    [request] = fake.fim_requests()
    assert request.body is not None
    assert request.body["prompt"] == current[:offset]
    assert request.body["suffix"] == current[offset:]
