"""Finding the right code block in a chat answer (pure, no LSP)."""

from __future__ import annotations

import pytest

from codestral_ls.actions.parse import CodeBlock, code_blocks, is_cut, pick_block

SELECTION = "def add(a, b):\n    return a+b"


def test_code_blocks_reads_tags_bodies_and_fence_lengths() -> None:
    answer = (
        "Here you go:\n"
        "```Python title='x'\n"
        "x = 1\n"
        "```\n"
        "and\n"
        "````md\n"
        "```py\n"
        "nested\n"
        "```\n"
        "````\n"
        "~~~\n"
        "tilde\n"
        "~~~\n"
    )
    assert code_blocks(answer) == [
        CodeBlock("python", "x = 1"),
        CodeBlock("md", "```py\nnested\n```"),
        CodeBlock("", "tilde"),
    ]


def test_an_unclosed_block_runs_to_the_end() -> None:
    assert code_blocks("```python\nx = 1\ny = 2") == [CodeBlock("python", "x = 1\ny = 2", False)]


def test_inline_triple_backticks_are_not_fences() -> None:
    assert code_blocks("Use ```x``` here\n```\ncode\n```") == [CodeBlock("", "code")]


def test_indented_fence_removes_its_indentation() -> None:
    assert code_blocks("1. Step\n   ```python\n   x = 1\n     y\n   ```") == [
        CodeBlock("python", "x = 1\n  y")
    ]


def test_crlf_answers() -> None:
    assert code_blocks("```py\r\nx = 1\r\n```\r\n") == [CodeBlock("py", "x = 1")]


def test_prose_around_one_block() -> None:
    answer = "Sure! Here is the code:\n\n```python\ndef add(a, b):\n    return a + b\n```\nDone."
    assert pick_block(answer, "python", SELECTION) == "def add(a, b):\n    return a + b"


def test_the_block_in_the_documents_language_wins() -> None:
    answer = (
        "Install it first:\n```bash\npip install thing\n```\n"
        "Then:\n```py\ndef add(a, b):\n    return a + b\n```\n"
    )
    assert pick_block(answer, "python", SELECTION) == "def add(a, b):\n    return a + b"
    # Untagged blocks come before blocks tagged with another language.
    untagged = "```bash\nls\n```\n```\ndef add(a, b):\n    return a + b\n```"
    assert pick_block(untagged, "python", SELECTION) == "def add(a, b):\n    return a + b"


def test_a_quoted_original_is_skipped_and_the_most_similar_rewrite_wins() -> None:
    answer = (
        "Original:\n```python\ndef add(a, b):\n    return a+b\n```\n"
        "Improved:\n```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```\n"
        "Usage:\n```python\nprint(add(1, 2))\n```\n"
    )
    assert pick_block(answer, "python", SELECTION) == (
        "def add(a: int, b: int) -> int:\n    return a + b"
    )


def test_only_the_original_means_no_change() -> None:
    answer = "It is fine as is:\n```python\ndef add(a, b):\n    return a+b\n```"
    assert pick_block(answer, "python", SELECTION) == SELECTION


def test_new_code_takes_the_longest_block() -> None:
    answer = (
        "```python\nimport pytest\n```\n"
        "```python\ndef test_add():\n    assert add(1, 2) == 3\n```\n"
    )
    assert pick_block(answer, "python") == "def test_add():\n    assert add(1, 2) == 3"


def test_language_aliases() -> None:
    answer = "```js\nconst a = 1;\n```\n```python\nx = 1\n```"
    assert pick_block(answer, "javascript", "const a = 0;") == "const a = 1;"
    assert pick_block("```tsx\n<A/>\n```\n```css\na{}\n```", "typescriptreact") == "<A/>"


def test_prose_without_a_block_or_an_empty_block_means_none() -> None:
    assert pick_block("The code is already fine.", "python", "x = 0") is None
    assert pick_block("  \n", "python", "x") is None
    assert pick_block("```python\n\n```", "python", "x") is None


@pytest.mark.parametrize(
    "answer, cut",
    [
        ("```python\ndef f():\n    return 1\n```", False),
        ("Here:\n```python\ndef f():\n    return 1\n```\nDone.", False),
        ("```python\ndef f():\n    ret", True),  # stopped inside the block
        ("```python\na = 1\n```\nUsage:\n```python\nf(", True),
        ("No code needed.", False),
    ],
)
def test_an_answer_stopping_inside_a_block_is_cut(answer: str, cut: bool) -> None:
    assert is_cut(answer) is cut
