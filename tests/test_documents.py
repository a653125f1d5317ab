"""The line-based document store: splitting, positions in every encoding, incremental edits."""

from __future__ import annotations

import random

import pytest
from lsprotocol import types

from codestral_ls.documents import Cursor, Document, PositionError, split_lines
from tests.helpers import position_at

ENCODINGS = ["utf-8", "utf-16", "utf-32"]


@pytest.mark.parametrize(
    "text, lines",
    [
        ("", [""]),
        ("a", ["a"]),
        ("a\n", ["a\n", ""]),
        ("a\r\nb", ["a\r\n", "b"]),
        ("a\rb\n\n", ["a\r", "b\n", "\n", ""]),
        ("form\x0cfeed\u2028x\n", ["form\x0cfeed\u2028x\n", ""]),
        ("a\x0bb\r\rc", ["a\x0bb\r", "\r", "c"]),
    ],
)
def test_split_lines_uses_lsp_line_breaks_only(text: str, lines: list[str]) -> None:
    assert split_lines(text) == lines
    assert "".join(split_lines(text)) == text


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize(
    "line, column",
    [("abc", 2), ("é中😀x", 0), ("é中😀x", 1), ("é中😀x", 2), ("é中😀x", 3), ("é中😀x", 4)],
)
def test_positions_round_trip(encoding: str, line: str, column: int) -> None:
    document = Document("file:///t", f"first\n{line}\n", encoding=encoding)
    position = position_at(document.text, len("first\n") + column, encoding)
    cursor = document.cursor(position)
    assert cursor == Cursor(1, column)
    assert document.position(cursor) == position


def test_utf16_inside_a_surrogate_pair_rounds_down() -> None:
    document = Document("file:///t", "a😀b", encoding="utf-16")
    assert document.cursor(types.Position(line=0, character=2)) == Cursor(0, 1)


def test_utf8_inside_a_character_rounds_down() -> None:
    document = Document("file:///t", "a中b", encoding="utf-8")
    assert document.cursor(types.Position(line=0, character=2)) == Cursor(0, 1)
    assert document.cursor(types.Position(line=0, character=4)) == Cursor(0, 2)


def test_column_past_the_end_means_end_of_line_and_line_past_the_end_raises() -> None:
    document = Document("file:///t", "ab\r\ncd", encoding="utf-16")
    assert document.cursor(types.Position(line=0, character=99)) == Cursor(0, 2)
    with pytest.raises(PositionError):
        document.cursor(types.Position(line=2, character=0))
    assert document.cursor(types.Position(line=9, character=0), strict=False) == Cursor(1, 2)


def _edit(document: Document, text: str, start: int, end: int, new: str) -> str:
    encoding = document.encoding
    document.apply_edit(
        types.Range(start=position_at(text, start, encoding), end=position_at(text, end, encoding)),
        new,
    )
    return text[:start] + new + text[end:]


@pytest.mark.parametrize(
    "text, start, end, new",
    [
        ("hello\nworld\n", 5, 6, ""),  # join two lines
        ("hello\nworld\n", 2, 2, "\n"),  # split a line
        ("hello\nworld\n", 0, 12, "x"),  # replace everything
        ("hello\nworld", 11, 11, "\n!"),  # append at the end
        ("a\r\nb", 1, 1, "\r"),  # CR typed before an existing CRLF
        ("a\rb", 2, 2, ""),  # nothing
        ("a\rXb", 2, 3, ""),
        ("a\r\nb", 3, 3, "\n"),
        ("x😀y\n中\n", 1, 3, "é\r\n"),
    ],
)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_incremental_edits(encoding: str, text: str, start: int, end: int, new: str) -> None:
    document = Document("file:///t", text, encoding=encoding)
    expected = _edit(document, text, start, end, new)
    assert document.text == expected
    assert list(document.lines) == split_lines(expected)


def test_cr_then_lf_merge_into_one_line_break() -> None:
    document = Document("file:///t", "a\r", encoding="utf-16")
    document.apply_edit(
        types.Range(
            start=types.Position(line=1, character=0), end=types.Position(line=1, character=0)
        ),
        "\nb",
    )
    assert document.text == "a\r\nb"
    assert list(document.lines) == ["a\r\n", "b"]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_random_edits_match_a_reference(encoding: str) -> None:
    rng = random.Random(1234)
    alphabet = ["a", "b", " ", "\n", "\r\n", "\r", "é", "中", "😀", "\t"]
    text = "start\n"
    document = Document("file:///t", text, encoding=encoding)
    for _ in range(400):
        start = rng.randint(0, len(text))
        end = rng.randint(start, min(len(text), start + 6))
        # never split a CRLF pair: LSP positions cannot point between \r and \n
        if 0 < start < len(text) and text[start - 1 : start + 1] == "\r\n":
            start -= 1
        if 0 < end < len(text) and text[end - 1 : end + 1] == "\r\n":
            end += 1
        new = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 4)))
        text = _edit(document, text, start, end, new)
        assert document.text == text
    assert list(document.lines) == split_lines(text)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_joined_text_above_and_below_stay_exact(encoding: str) -> None:
    rng = random.Random(99)
    text = "".join(f"line {i} é😀\n" for i in range(30))
    document = Document("file:///t", text, encoding=encoding)
    for _ in range(300):
        lines = split_lines(text)
        line = rng.randrange(len(lines))
        assert document.text_above(line) == "".join(lines[:line])
        assert document.text_below(line) == "".join(lines[line + 1 :])
        # mostly edit the line just read (typing), sometimes elsewhere
        target = line if rng.random() < 0.7 else rng.randrange(len(lines))
        start = sum(map(len, lines[:target])) + rng.randint(0, len(lines[target].rstrip("\n")))
        end = min(len(text), start + rng.choice([0, 0, 1, 3]))
        new = rng.choice(["", "x", "\n", "ab\ncd", "😀"])
        text = _edit(document, text, start, end, new)
    assert document.text == text


def test_joined_text_is_reused_while_typing_on_the_line() -> None:
    document = Document("file:///t", "a\nb\nc\n", encoding="utf-16")
    above, below = document.text_above(1), document.text_below(1)
    document.apply_edit(
        types.Range(
            start=types.Position(line=1, character=1), end=types.Position(line=1, character=1)
        ),
        "x",
    )
    assert document.text_above(1) is above
    assert document.text_below(1) is below
    document.apply_edit(
        types.Range(
            start=types.Position(line=1, character=2), end=types.Position(line=1, character=2)
        ),
        "\n",
    )
    assert document.text_below(2) is below  # shifted down with the new line, not re-joined
