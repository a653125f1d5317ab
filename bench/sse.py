"""In-process: the cost of reading one streamed FIM answer, our SSE reader against httpx-sse.

The stream is what Mistral sends for the bench's suggestion (7 chunk events, a final event with
``finish_reason`` and usage, then ``data: [DONE]``), fed from memory, so only the parsing is
timed (CPU time of this thread, median of several rounds).  Used to decide whether the backends
read SSE with ``httpx-sse`` (docs/BENCHMARKS.md, "SSE reader").

    .venv/bin/python bench/sse.py
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import AsyncGenerator, Callable

import httpx
from httpx_sse import EventSource

PIECES = ["(", "alpha", ", ", "beta", ", ", "gamma", ")"]


def body(pieces: list[str]) -> bytes:
    def chunk(delta: dict[str, str], finish: str | None) -> str:
        event = {
            "id": "3a1c",
            "object": "chat.completion.chunk",
            "created": 1764000000,
            "model": "codestral-latest",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(event)}\n\n"

    events = [chunk({"role": "assistant", "content": pieces[0]}, None)]
    events += [chunk({"content": piece}, None) for piece in pieces[1:]]
    events.append(chunk({"content": ""}, "stop"))
    events.append("data: [DONE]\n\n")
    return "".join(events).encode()


def response(raw: bytes) -> httpx.Response:
    return httpx.Response(
        200, headers={"Content-Type": "text/event-stream"}, stream=httpx.ByteStream(raw)
    )


async def hand_written(raw: bytes) -> list[str]:
    """The reader codestral-ls had before: lines from httpx, fields split by hand."""
    data: list[str] = []
    out: list[str] = []
    async for line in response(raw).aiter_lines():
        if not line:
            if data:
                out.append("\n".join(data))
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    return out


async def with_httpx_sse(raw: bytes) -> list[str]:
    return [event.data async for event in EventSource(response(raw)).aiter_sse()]


async def current(raw: bytes) -> list[str]:
    """What the backends use now (codestral_ls.backends.http.sse_events)."""
    from codestral_ls.backends.http import sse_events

    out: list[str] = []
    gen: AsyncGenerator[str, None] = sse_events(response(raw))
    async for data in gen:
        out.append(data)
    return out


def measure(
    readers: list[tuple[str, Callable[[bytes], object]]],
    raw: bytes,
    n: int = 1000,
    rounds: int = 15,
) -> dict[str, tuple[float, float]]:
    """(minimum, median) CPU microseconds per stream of each reader; the readers take turns
    round by round, so a busy machine slows them alike."""
    loop = asyncio.new_event_loop()
    samples: dict[str, list[float]] = {name: [] for name, _ in readers}
    try:
        for _ in range(rounds):
            for name, reader in readers:
                start = time.thread_time()
                for _ in range(n):
                    loop.run_until_complete(reader(raw))  # type: ignore[arg-type]
                samples[name].append((time.thread_time() - start) / n * 1e6)
    finally:
        loop.close()
    return {name: (min(v), statistics.median(v)) for name, v in samples.items()}


def main() -> None:
    raw = body(PIECES)
    expected = loop_run(hand_written, raw)
    assert loop_run(with_httpx_sse, raw) == expected, "httpx-sse reads the stream differently"
    rows: list[tuple[str, Callable[[bytes], object]]] = [
        ("hand-written (before)", hand_written),
        ("httpx-sse", with_httpx_sse),
    ]
    try:
        assert loop_run(current, raw) == expected
        rows.append(("codestral_ls sse_events (now)", current))
    except ImportError:
        pass
    print(f"one FIM stream: {len(expected)} events, {len(raw)} bytes; CPU us per stream")
    print(f"{'reader':<32} {'min':>8} {'median':>8}")
    for name, (low, mid) in measure(rows, raw).items():
        print(f"{name:<32} {low:8.1f} {mid:8.1f}")


def loop_run(reader: Callable[[bytes], object], raw: bytes) -> list[str]:
    return asyncio.run(reader(raw))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
