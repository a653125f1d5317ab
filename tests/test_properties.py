"""Property test: the server's view of a document under random edits and completion requests.

A hypothesis state machine applies random incremental edits (in every position encoding, with
CRLF, lone CR, emoji and CJK text) to the server's :class:`Document` and to a plain string, and
asks for completion contexts at random positions.  Invariants: the document equals the string,
its size and line split match, and prompt + suffix are exactly the string split at the cursor.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from lsprotocol import types

from codestral_ls.context import extract_context
from codestral_ls.documents import Document, split_lines
from tests.helpers import position_at

ALPHABET = st.sampled_from(
    ["a", "b", " ", "\t", "\n", "\r\n", "\r", "é", "中", "😀", "(", ")", "\x0c"]
)
TEXT = st.lists(ALPHABET, max_size=12).map("".join)


def valid_offset(text: str, offset: int) -> int:
    """Move ``offset`` off the middle of a CRLF pair (LSP positions cannot point there)."""
    if 0 < offset < len(text) and text[offset - 1] == "\r" and text[offset] == "\n":
        return offset - 1
    return offset


class DocumentMachine(RuleBasedStateMachine):
    @initialize(encoding=st.sampled_from(["utf-8", "utf-16", "utf-32"]), text=TEXT)
    def open(self, encoding: str, text: str) -> None:
        self.encoding = encoding
        self.text = text
        self.document = Document("file:///p.py", text, encoding=encoding)

    @rule(data=st.data(), new=TEXT)
    def edit(self, data: st.DataObject, new: str) -> None:
        start = valid_offset(self.text, data.draw(st.integers(0, len(self.text))))
        end = valid_offset(self.text, data.draw(st.integers(start, len(self.text))))
        self.document.apply_edit(
            types.Range(
                start=position_at(self.text, start, self.encoding),
                end=position_at(self.text, end, self.encoding),
            ),
            new,
        )
        self.text = self.text[:start] + new + self.text[end:]

    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        offset = valid_offset(self.text, data.draw(st.integers(0, len(self.text))))
        cursor = self.document.cursor(position_at(self.text, offset, self.encoding))
        context = extract_context(self.document, cursor, 10**9, 10**9)
        assert context.prefix == self.text[:offset]
        assert context.suffix == self.text[offset:]
        assert self.document.text_above(cursor.line) + context.line_before == self.text[:offset]

    @rule(new=TEXT)
    def replace_all(self, new: str) -> None:
        self.document.replace_all(new)
        self.text = new

    @invariant()
    def same_text(self) -> None:
        assert self.document.text == self.text
        assert self.document.size == len(self.text)
        assert list(self.document.lines) == split_lines(self.text)


DocumentMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestDocumentMachine = DocumentMachine.TestCase
