"""Runaway loops and re-written suffix lines (issue 12, item 6).

The tables are built from what small local models really answered through llama-server:
``self.max_lines_per_word = ...`` eleven times, ``if isinstance(name, str):`` fourteen times in
34 lines, and the line below the cursor written again.
"""

from __future__ import annotations

import pytest

from codestral_ls.postprocess import cut_at_suffix_line, cut_loop, loop_start, postprocess

P = pytest.param

# The first real answer: one assignment repeated until max_tokens (11 times).
MAX_LINES = "max_lines_per_word = max_lines_per_word\n" + (
    "        self.max_lines_per_word = max_lines_per_word\n" * 10
)
# The second: an `if isinstance(name, str):` block that keeps coming back with other bodies
# (14 times in 34 lines); adjacent blocks differ, so only the count catches it.
ISINSTANCE = "".join(
    [
        "name = name or self.default_name\n",
        "        if isinstance(name, str):\n",
        "            name = name.strip()\n",
        "        if isinstance(name, str):\n",
        "            name = name.lower()\n",
        "            self.names.append(name)\n",
    ]
    + [
        "        if isinstance(name, str):\n"
        + ("            name = name.replace('-', '_')\n" if i % 2 else "            return name\n")
        for i in range(12)
    ]
)


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        P(
            MAX_LINES,
            "max_lines_per_word = max_lines_per_word\n"
            "        self.max_lines_per_word = max_lines_per_word",
            id="one-line-x11",
        ),
        P(
            ISINSTANCE,
            "name = name or self.default_name\n"
            "        if isinstance(name, str):\n"
            "            name = name.strip()",
            id="isinstance-x14-in-34-lines",
        ),
        P(
            "x = 1\n    a = f(1)\n    b = g(a)\n    a = f(1)\n    b = g(a)\n    a = f(1)\n",
            "x = 1\n    a = f(1)\n    b = g(a)",
            id="two-line-block",
        ),
        P(
            "total = 0\n\n    total += 1\n\n    total += 1\n",
            "total = 0\n\n    total += 1",
            id="blank-lines-between-copies",
        ),
        P(
            "if a:\n        return 1\n    }\n    }\n",
            "if a:\n        return 1\n    }\n    }\n",
            id="closers-repeat-legitimately",
        ),
        P(
            "x = compute()\n    y = compute()\n    z = compute()\n",
            "x = compute()\n    y = compute()\n    z = compute()\n",
            id="similar-lines-are-not-a-loop",
        ),
        P(
            "def a():\n        return value_of(a)\n\n    def b():\n        return value_of(a)\n",
            "def a():\n        return value_of(a)\n\n    def b():\n        return value_of(a)\n",
            id="a-line-twice-not-adjacent-is-fine",
        ),
        P("single line only", "single line only", id="one-line"),
    ],
)
def test_cut_loop(completion: str, expected: str) -> None:
    assert cut_loop(completion) == expected


def test_the_first_line_is_compared_with_the_cursor_line() -> None:
    # "x = a" then "a": no loop; "    a" then "    a": a loop.
    assert cut_loop("a\na\n", line_before="x = ") == "a\na\n"
    assert cut_loop("a\n    a\n", line_before="    ") == "a"


def test_loop_start_offsets() -> None:
    text = "x\n    y = 1\n    y = 1\n"
    start = loop_start(text)
    assert start is not None and text[start:].startswith("    y = 1\n") and start > 2


@pytest.mark.parametrize(
    ("completion", "suffix", "expected"),
    [
        P(
            # The real case: the body, then the line below the cursor again and on and on.
            "    words = text.split()\n        return len(words)\n\n    def count(self):\n",
            "\n    def count(self):\n        return 0\n",
            "    words = text.split()\n        return len(words)",
            id="rewrites-the-next-def",
        ),
        P(
            "value = 1\n    return value\n    return value\n",
            "    return value\n",
            "value = 1",
            id="rewrites-the-return",
        ),
        P(
            "if ok:\n        return value\n    value = 2\n",
            "    return value\n",
            "if ok:\n        return value\n    value = 2\n",
            id="same-statement-deeper-is-not-the-suffix-line",
        ),
        P(
            "items = [\n    1,\n]\n",
            "]\n",
            "items = [\n    1,\n]\n",
            id="closer-only-suffix-line-is-left-to-overlap-trimming",
        ),
        P(
            "result = compute(\n    a,\n    b)\n",
            "    b)\n",
            "result = compute(\n    a,\n    b)\n",
            id="never-leaves-a-bracket-open",
        ),
        P(
            "for x in xs:\n    total += x\n",
            "    total += x\n",
            "for x in xs:\n    total += x\n",
            id="never-leaves-a-block-opener-bare",
        ),
        P("return x", "return x\n", "return x", id="first-line-is-not-compared"),
    ],
)
def test_cut_at_suffix_line(completion: str, suffix: str, expected: str) -> None:
    assert cut_at_suffix_line(completion, suffix) == expected


def test_postprocess_cuts_the_loop_and_the_suffix_line() -> None:
    prefix = "class Wrapper:\n    def __init__(self, max_lines_per_word):\n        self."
    suffix = "\n\n    def wrap(self, text):\n        return text\n"
    text = postprocess("width = width\n" + MAX_LINES[40:], prefix, suffix, single_line=False)
    assert text == "width = width\n        self.max_lines_per_word = max_lines_per_word"
    # Wholly a repeat of one line: dropped, as before.
    assert postprocess(MAX_LINES, prefix, suffix, single_line=False) == ""
    text = postprocess(
        "max_lines = 3\n\n    def wrap(self, text):\n        return text\n",
        prefix,
        suffix,
        single_line=False,
    )
    assert text == "max_lines = 3"
