"""Completions through the protocol, checked against what the fake API received."""

from __future__ import annotations

import pytest
from lsprotocol import types

from codestral_ls import __version__
from codestral_ls.testing.fake_mistral import FakeMistral
from tests.e2e.conftest import TEST_KEY, Starter

URI = "file:///work/example.py"


async def test_capabilities(start: Starter) -> None:
    session = await start()
    capabilities = session.result.capabilities
    assert capabilities.inline_completion_provider is not None
    if session.inline:
        assert capabilities.completion_provider is None
        assert capabilities.position_encoding in (None, "utf-16")
    else:
        assert capabilities.completion_provider is not None
        assert capabilities.position_encoding == "utf-8"
    assert session.result.server_info is not None
    assert session.result.server_info.version == __version__


@pytest.mark.parametrize(
    "text, marker",
    [
        pytest.param("def add(a, b):\n    return ▌\n", "▌", id="end-of-line"),
        pytest.param("name = 'é中😀'; x = ▌\nprint(x)\n", "▌", id="after-emoji"),
        pytest.param("s = '😀😀▌😀'\n", "▌", id="between-surrogate-pairs"),
        pytest.param("a = 1\r\nb = ▌\r\nc = 3\r\n", "▌", id="crlf"),
        pytest.param("▌", "▌", id="empty-document"),
        pytest.param("x = 1\n▌", "▌", id="last-empty-line"),
        pytest.param("# 中文注释\nfor i in range(▌10):\n    pass\n", "▌", id="cjk-above"),
    ],
)
async def test_prompt_and_suffix_split_the_document_at_the_cursor(
    start: Starter, fake: FakeMistral, text: str, marker: str
) -> None:
    offset = text.index(marker)
    text = text.replace(marker, "")
    fake.fim_text = "foo"
    session = await start()
    session.open(URI, text)
    await session.complete_at(URI, offset)
    [request] = fake.fim_requests()
    assert request.errors == []
    assert request.body is not None
    assert request.body["prompt"] == text[:offset]
    assert request.body["suffix"] == text[offset:]
    assert request.body["model"] == "codestral-latest"


async def test_request_headers(start: Starter, fake: FakeMistral) -> None:
    session = await start()
    session.open(URI, "x = ")
    await session.complete_at(URI, 4)
    [request] = fake.fim_requests()
    assert request.headers["authorization"] == f"Bearer {TEST_KEY}"
    assert request.headers["user-agent"] == f"codestral-ls/{__version__}"


async def test_single_line_when_text_follows_the_cursor(start: Starter, fake: FakeMistral) -> None:
    source = "total = compute( + 1\n"
    fake.fim_text = "1, 2)\nextra line"
    session = await start({"maxTokens": 300})
    session.open(URI, source)
    inserted = await session.complete_at(URI, source.index("(") + 1)
    [request] = fake.fim_requests()
    assert request.body is not None
    assert request.body["max_tokens"] == 64
    assert request.body["stop"] == ["\n"]
    assert inserted == "1, 2)"


async def test_multi_line_at_end_of_line(start: Starter, fake: FakeMistral) -> None:
    text = "def greet(name):\n"
    fake.fim_text = '    message = f"hi {name}"\n    return message\n'
    session = await start({"maxTokens": 300, "stop": ["\n\n\n"]})
    session.open(URI, text)
    inserted = await session.complete_at(URI, len(text))
    [request] = fake.fim_requests()
    assert request.body is not None
    assert request.body["max_tokens"] == 300
    assert request.body["stop"] == ["\n\n\n"]
    assert request.body["temperature"] == 0.0
    assert set(request.body) <= {
        "model",
        "prompt",
        "suffix",
        "max_tokens",
        "temperature",
        "stop",
        "stream",
    }
    assert inserted == '    message = f"hi {name}"\n    return message'


async def test_completion_drops_what_the_suffix_already_has(
    start: Starter, fake: FakeMistral
) -> None:
    source = "result = max(values)\n"
    fake.fim_text = "values)"
    session = await start()
    session.open(URI, source)
    offset = source.index("values")
    session.replace(URI, offset, offset + len("values"), "")
    inserted = await session.complete_at(URI, offset)
    assert inserted == "values"


async def test_incremental_edits_reach_the_prompt(start: Starter, fake: FakeMistral) -> None:
    session = await start()
    session.open(URI, "import os\n\n")
    session.replace(URI, 11, 11, "def main():\n    path = os.")
    session.replace(URI, 0, 0, "# 😀 header\n")
    session.replace(URI, len("# 😀 header\n"), len("# 😀 header\nimport os"), "import sys")
    text = session.texts[URI]
    await session.complete_at(URI, len(text))
    [request] = fake.fim_requests()
    assert request.body is not None
    assert request.body["prompt"] == text
    assert request.body["prompt"].endswith("import sys\n\ndef main():\n    path = os.")


async def test_whitespace_and_repeated_completions_are_dropped(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start()
    session.open(URI, "x = 1\n")
    fake.fim_text = "   \n  "
    assert await session.complete_at(URI, 6) is None
    assert len(fake.fim_requests()) == 1


async def test_unknown_document_and_bad_positions_answer_empty(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start()
    assert (
        await session.complete("file:///never/opened.py", types.Position(line=0, character=0))
        is None
    )
    session.open(URI, "a = 1\n")
    assert await session.complete(URI, types.Position(line=40, character=0)) is None
    assert fake.fim_requests() == []
    # a column past the end of the line means the end of the line
    assert await session.complete(URI, types.Position(line=0, character=999)) is not None
    assert session.last_range is not None
    assert session.last_range.start == types.Position(line=0, character=5)
    [request] = fake.fim_requests()
    assert request.body is not None and request.body["prompt"] == "a = 1"


async def test_disabled_for_a_language(start: Starter, fake: FakeMistral) -> None:
    session = await start({"enable": {"*": True, "markdown": False}})
    session.open("file:///work/notes.md", "# Title\n", language_id="markdown")
    session.open(URI, "x = ")
    assert await session.complete_at("file:///work/notes.md", 8) is None
    assert await session.complete_at(URI, 4) is not None
    assert len(fake.fim_requests()) == 1


async def test_language_overrides_change_the_request(start: Starter, fake: FakeMistral) -> None:
    session = await start(
        {"maxTokens": 200, "languages": {"markdown": {"maxTokens": 40, "model": "codestral-2508"}}}
    )
    session.open("file:///work/notes.md", "Intro: ", language_id="markdown")
    session.open(URI, "x = ")
    await session.complete_at("file:///work/notes.md", 7)
    await session.complete_at(URI, 4)
    markdown, python = fake.fim_requests()
    assert markdown.body is not None and python.body is not None
    assert (markdown.body["max_tokens"], markdown.body["model"]) == (40, "codestral-2508")
    assert (python.body["max_tokens"], python.body["model"]) == (200, "codestral-latest")
