"""Minimal line-diff edits, indentation re-basing and answer fitting (pure, no LSP)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lsprotocol import types

from codestral_ls.actions.edits import (
    Hunk,
    detect_eol,
    fit_answer,
    is_fence,
    keeps_code,
    line_hunks,
    rebase_indent,
    split_answer,
)
from codestral_ls.documents import Cursor, Document, split_lines
from tests.edits import StaleEdit, apply_text_edits, apply_workspace_edit, offset_of


def rewrite(text: str, first: int, last: int, answer: str, encoding: str = "utf-16") -> str:
    """Replace lines ``first..last`` of ``text`` by the model's ``answer``, as the feature does,
    and apply the resulting edits as a client would."""
    document = Document("file:///t.py", text, encoding=encoding)
    old = [document.line(i) for i in range(first, last + 1)]
    new = fit_answer(answer, old)
    hunks = line_hunks(
        old,
        new,
        first,
        detect_eol(document.lines, first),
        ends_document=last == document.line_count - 1,
    )
    return apply(document, hunks, text, encoding)


def apply(document: Document, hunks: list[Hunk], text: str, encoding: str = "utf-16") -> str:
    edits = [
        types.TextEdit(
            range=types.Range(start=document.position(h.start), end=document.position(h.end)),
            new_text=h.text,
        )
        for h in hunks
    ]
    return apply_text_edits(text, edits, encoding)


# --------------------------------------------------------------------------------------------
# line_hunks


def test_one_hunk_per_changed_run() -> None:
    old = ["a", "b", "c", "d", "e"]
    new = ["a", "B", "c", "d", "E", "F"]
    hunks = line_hunks(old, new, 10, "\n", ends_document=False)
    assert hunks == [
        Hunk(Cursor(11, 0), Cursor(12, 0), "B\n"),
        Hunk(Cursor(14, 0), Cursor(15, 0), "E\nF\n"),
    ]


def test_identical_lines_give_no_hunk() -> None:
    assert line_hunks(["x", "y"], ["x", "y"], 0, "\n", ends_document=True) == []


def test_pure_insertion_and_deletion() -> None:
    assert line_hunks(["a", "c"], ["a", "b", "c"], 0, "\n", ends_document=False) == [
        Hunk(Cursor(1, 0), Cursor(1, 0), "b\n")
    ]
    assert line_hunks(["a", "b", "c"], ["a", "c"], 0, "\n", ends_document=False) == [
        Hunk(Cursor(1, 0), Cursor(2, 0), "")
    ]


@pytest.mark.parametrize(
    "text, first, last, answer, expected",
    [
        pytest.param(
            "x = 1\ny = 2\nz = 3\n", 1, 1, "y = 20", "x = 1\ny = 20\nz = 3\n", id="middle-line"
        ),
        pytest.param("x = 1\ny = 2", 1, 1, "y = 20", "x = 1\ny = 20", id="last-line-no-break"),
        pytest.param(
            "x = 1\ny = 2", 0, 1, "x = 1\ny = 2\nz = 3", "x = 1\ny = 2\nz = 3", id="append-at-end"
        ),
        pytest.param("x = 1\ny = 2\nz = 3", 0, 2, "x = 1", "x = 1", id="delete-last-lines"),
        pytest.param("a\nb", 0, 1, "c", "c", id="replace-everything"),
        pytest.param(
            "a = 1\r\nb = 2\r\nc = 3\r\n",
            0,
            2,
            "a = 1\nb = 20\nb2 = 4\nc = 3\n",
            "a = 1\r\nb = 20\r\nb2 = 4\r\nc = 3\r\n",
            id="crlf",
        ),
        pytest.param("a\rb\rc", 1, 1, "B", "a\rB\rc", id="cr-only"),
        pytest.param(
            "s = '😀é'; t = 1\nu = 2\n",
            0,
            1,
            "s = '😀é'; t = 1\nu = '中'\n",
            "s = '😀é'; t = 1\nu = '中'\n",
            id="non-ascii",
        ),
        pytest.param(
            "x = 1\n", 0, 1, "x = 2\n", "x = 2\n", id="selection-includes-final-empty-line"
        ),
    ],
)
@pytest.mark.parametrize("encoding", ["utf-16", "utf-8", "utf-32"])
def test_applying_the_hunks_gives_the_expected_text(
    text: str, first: int, last: int, answer: str, expected: str, encoding: str
) -> None:
    assert rewrite(text, first, last, answer, encoding) == expected


_line = st.text(alphabet="ab é😀\t", max_size=6)


@given(
    before=st.lists(_line, max_size=3),
    old=st.lists(_line, min_size=1, max_size=6),
    new=st.lists(_line, min_size=1, max_size=6),
    after=st.lists(_line, max_size=3),
    eol=st.sampled_from(["\n", "\r\n"]),
    final_break=st.booleans(),
)
def test_hunks_rebuild_exactly_the_new_lines(
    before: list[str],
    old: list[str],
    new: list[str],
    after: list[str],
    eol: str,
    final_break: bool,
) -> None:
    lines = before + old + after
    tail = eol if final_break else ""
    text = eol.join(lines) + tail
    document = Document("file:///t", text)
    first = len(before)
    ends = not after and not final_break
    hunks = line_hunks(old, new, first, eol, ends_document=ends)
    assert apply(document, hunks, text) == eol.join(before + new + after) + tail
    # Minimal: every hunk changes what it covers, and hunks stay inside the selected lines.
    for hunk in hunks:
        assert apply(document, [hunk], text) != text
        assert first - 1 <= hunk.start.line and hunk.end.line <= first + len(old)


# --------------------------------------------------------------------------------------------
# Indentation and fitting


def test_rebase_indent_moves_a_dedented_answer_back() -> None:
    original = ["        if x:", "            return 1"]
    answer = ["if x:", "    return 2", "", "return 3"]
    assert rebase_indent(answer, original) == [
        "        if x:",
        "            return 2",
        "",
        "        return 3",
    ]


def test_rebase_indent_keeps_an_answer_already_indented_right() -> None:
    original = ["\tif x:", "\t\tpass"]
    assert rebase_indent(["\tif y:", "\t\tpass"], original) == ["\tif y:", "\t\tpass"]


def test_rebase_indent_removes_extra_indentation() -> None:
    assert rebase_indent(["    a", "      b"], ["a", "  b"]) == ["a", "  b"]


def test_fit_answer_trims_blank_edges_and_keeps_the_originals() -> None:
    original = ["", "    x = 1", ""]
    assert fit_answer("\n\nx = 2  \n\n", original) == ["", "    x = 2", ""]


def test_fit_answer_drops_stray_fences_and_empty_answers() -> None:
    assert fit_answer("```python\nx = 1\n```", ["x = 0"]) == ["x = 1"]
    assert fit_answer("   \n", ["x"]) == []
    assert fit_answer("```\n```", ["x"]) == []


def test_fit_answer_without_rebase_or_original_dedents() -> None:
    assert fit_answer("    def test_a():\n        pass", ()) == ["def test_a():", "    pass"]


def test_detect_eol() -> None:
    assert detect_eol(split_lines("a\r\nb\r\n")) == "\r\n"
    assert detect_eol(split_lines("a")) == "\n"
    assert detect_eol(split_lines("a\nb\r\nc"), prefer=1) == "\r\n"
    assert detect_eol(split_lines("a\rb")) == "\r"


def test_split_answer_and_fences() -> None:
    assert split_answer("a\r\nb\rc\nd") == ["a", "b", "c", "d"]
    assert is_fence("```py") and is_fence("~~~") and is_fence("   ```")
    assert not is_fence("    ```") and not is_fence("x = '```'")


# --------------------------------------------------------------------------------------------
# The test helper itself


def test_offset_of_counts_client_units() -> None:
    text = "é😀x\nb"
    assert offset_of(text, types.Position(line=0, character=3), "utf-16") == 2
    assert offset_of(text, types.Position(line=0, character=6), "utf-8") == 2
    assert offset_of(text, types.Position(line=0, character=2), "utf-32") == 2
    assert offset_of(text, types.Position(line=1, character=1), "utf-16") == len(text)
    with pytest.raises(AssertionError):
        offset_of(text, types.Position(line=0, character=2), "utf-16")  # inside the emoji
    with pytest.raises(AssertionError):
        offset_of(text, types.Position(line=0, character=9), "utf-16")  # past the end


def test_apply_workspace_edit_checks_versions_and_creates_files() -> None:
    edit = types.TextEdit(
        range=types.Range(
            start=types.Position(line=0, character=0), end=types.Position(line=0, character=1)
        ),
        new_text="b",
    )
    versioned = types.WorkspaceEdit(
        document_changes=[
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(uri="u", version=2),
                edits=[edit],
            )
        ]
    )
    assert apply_workspace_edit({"u": "a"}, versioned, "utf-16", {"u": 2}) == {"u": "b"}
    with pytest.raises(StaleEdit):
        apply_workspace_edit({"u": "a"}, versioned, "utf-16", {"u": 3})
    created = types.WorkspaceEdit(
        document_changes=[
            types.CreateFile(uri="n", options=types.CreateFileOptions(ignore_if_exists=True)),
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(uri="n", version=None),
                edits=[
                    types.TextEdit(
                        range=types.Range(
                            start=types.Position(line=0, character=0),
                            end=types.Position(line=0, character=0),
                        ),
                        new_text="new\n",
                    )
                ],
            ),
        ]
    )
    assert apply_workspace_edit({}, created, "utf-8") == {"n": "new\n"}


FUNCTION = [
    "def total(items):",
    "    # sum the prices",
    "    result = 0",
    "    for item in items:",
    "        result += item.price",
    "    return result",
]


@pytest.mark.parametrize(
    "new, kept",
    [
        # a docstring added, a comment reworded, an end-of-line comment: the code is all there
        (
            [
                "def total(items):",
                '    """Sum of the prices of ``items``."""',
                "    # add up the prices",
                "    result = 0",
                "    for item in items:",
                "        result += item.price  # each one",
                "    return result",
            ],
            True,
        ),
        # an existing docstring rewritten
        (["def f():", '    """New."""', "    return 1"], True),
        # most lines dropped (a truncated or careless answer)
        (["def total(items):", '    """Sum of the prices."""'], False),
        (["def total(items):", "    return sum(i.price for i in items)"], False),
    ],
)
def test_a_documenting_answer_must_keep_the_code(new: list[str], kept: bool) -> None:
    old = FUNCTION if new[0] == FUNCTION[0] else ["def f():", '    """Old."""', "    return 1"]
    assert keeps_code(old, new) is kept
