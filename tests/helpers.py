"""Small helpers shared by unit and end-to-end tests."""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from lsprotocol import types


def position_at(text: str, offset: int, encoding: str) -> types.Position:
    """The LSP position of ``offset`` (a Python index into ``text``) in ``encoding`` units."""
    before = text[:offset]
    line = before.replace("\r\n", "\n").replace("\r", "\n").count("\n")
    start = max(before.rfind("\n"), before.rfind("\r")) + 1
    column_text = before[start:]
    if encoding == "utf-8":
        character = len(column_text.encode("utf-8", "surrogatepass"))
    elif encoding == "utf-32":
        character = len(column_text)
    else:
        character = len(column_text.encode("utf-16-le", "surrogatepass")) // 2
    return types.Position(line=line, character=character)


def column_of(line: str, units: int, encoding: str) -> int:
    """The Python index in ``line`` of a column given in ``encoding`` units."""
    for index in range(len(line) + 1):
        if position_at(line, index, encoding).character >= units:
            return index
    return len(line)


@dataclass
class Streamed:
    """What a backend's FIM stream gave, read to the end."""

    text: str
    usage: dict[str, Any] | None


async def stream_fim(backend: Any, request: Any) -> Streamed:
    """Read ``backend.fim_stream(request)`` to the end, as the engine would without an early
    stop (the backends have no other FIM path)."""
    pieces: list[str] = []
    async with aclosing(backend.fim_stream(request)) as stream:
        async for piece in stream:
            pieces.append(piece)
    return Streamed("".join(pieces), getattr(backend, "last_usage", None))
