"""Completion items for clients without inline completion: label, edit, insertTextMode."""

from __future__ import annotations

from lsprotocol import converters, types

from codestral_ls.documents import Cursor, Document
from codestral_ls.engine import Suggestion
from codestral_ls.features.completion import (
    completion_item,
    item_label,
    supports_as_is,
    supports_markdown,
)


def capabilities(item: dict[str, object]) -> types.ClientCapabilities:
    raw = {"textDocument": {"completion": {"completionItem": item}}}
    return converters.get_converter().structure(raw, types.ClientCapabilities)


def document(text: str) -> Document:
    return Document("file:///a.py", text, version=1, language_id="python")


def test_label_reads_as_the_line_from_the_typed_word_on() -> None:
    assert item_label("return a * b") == "return a * b"
    assert item_label("if x:\n        return x") == "if x:"
    assert item_label(" = 1  ") == " = 1"  # what is inserted, trailing blanks aside
    assert item_label("\n    return 1") == "return 1"  # starts on the next line


def test_item_retypes_the_word_and_asks_for_as_is_only_when_multi_line() -> None:
    doc = document("def f(a, b):\n    ret\n")
    cursor = Cursor(1, 7)
    single = completion_item(
        doc, cursor, Suggestion(text="urn a", line_before="    ret"), as_is=True
    )
    assert single.label == single.filter_text == "return a"
    assert isinstance(single.text_edit, types.TextEdit)
    assert single.text_edit.range.start == types.Position(line=1, character=4)
    assert single.text_edit.range.end == types.Position(line=1, character=7)
    assert single.insert_text_mode is None
    multi = completion_item(
        doc, cursor, Suggestion(text="urn (\n        a)", line_before="    ret"), as_is=True
    )
    assert multi.insert_text_mode == types.InsertTextMode.AsIs
    assert multi.label == "return ("
    plain = completion_item(
        doc, cursor, Suggestion(text="urn (\n        a)", line_before="    ret"), markdown=False
    )
    assert plain.insert_text_mode is None
    assert plain.documentation == "return (\n        a)"


def test_capability_checks() -> None:
    assert supports_as_is(capabilities({"insertTextModeSupport": {"valueSet": [1, 2]}}))
    assert not supports_as_is(capabilities({"insertTextModeSupport": {"valueSet": [2]}}))
    assert not supports_as_is(capabilities({}))
    assert not supports_as_is(types.ClientCapabilities())
    assert supports_markdown(capabilities({"documentationFormat": ["markdown", "plaintext"]}))
    assert not supports_markdown(capabilities({"documentationFormat": ["plaintext"]}))
    assert not supports_markdown(capabilities({}))
