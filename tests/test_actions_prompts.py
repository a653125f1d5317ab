"""Action kinds, covered lines and prompt building (pure, no LSP)."""

from __future__ import annotations

import pytest

from codestral_ls.actions.prompts import (
    ACTIONS,
    CUSTOM_EDIT,
    Destination,
    PromptInput,
    Region,
    build_messages,
    companion_test_file,
    enclosing_block,
    fence_for,
    file_name,
    kind_matches,
    mask_secrets,
    region_for,
    surrounding_context,
    unmask_secrets,
)
from codestral_ls.mistral import ChatRequest
from codestral_ls.privacy import redact
from codestral_ls.testing.fake_mistral import validate_request

CODE = [
    "import os",  # 0
    "",  # 1
    "class A:",  # 2
    "    def f(self):",  # 3
    "        x = 1",  # 4
    "",  # 5
    "        return x",  # 6
    "",  # 7
    "    def g(self):",  # 8
    "        pass",  # 9
    "",  # 10
]


def test_kinds() -> None:
    assert ACTIONS["fix"].kind == "quickfix"
    assert ACTIONS["document"].kind == ACTIONS["simplify"].kind == "refactor.rewrite"
    assert ACTIONS["tests"].kind == "refactor"
    assert CUSTOM_EDIT.kind == "refactor.rewrite"


@pytest.mark.parametrize(
    "kind, only, expected",
    [
        ("quickfix", None, True),
        ("quickfix", [], True),
        ("quickfix", ["quickfix"], True),
        ("refactor.rewrite", ["refactor"], True),
        ("refactor", ["refactor.rewrite"], False),
        ("refactor.rewriteX", ["refactor.rewrite"], False),
        ("codestral.explain", ["quickfix", "refactor"], False),
        (None, ["quickfix"], False),
    ],
)
def test_kind_matches(kind: str | None, only: list[str] | None, expected: bool) -> None:
    assert kind_matches(kind, only) is expected


def test_enclosing_block_of_a_header_takes_its_body() -> None:
    assert enclosing_block(CODE, 3) == Region(3, 6)
    assert enclosing_block(CODE, 2) == Region(2, 9)


def test_enclosing_block_of_a_plain_line_is_the_line() -> None:
    assert enclosing_block(CODE, 4) == Region(4, 4)
    assert enclosing_block(CODE, 1) == Region(1, 1)
    assert enclosing_block([""], 5) == Region(0, 0)


def test_enclosing_block_includes_a_closing_brace() -> None:
    code = ["function f() {", "  return 1;", "}", "f();"]
    assert enclosing_block(code, 0) == Region(0, 2)


def test_region_for_selections() -> None:
    # Empty range: the enclosing block.
    assert region_for(CODE, 3, 5, 3, 5) == Region(3, 6)
    # A selection is widened to whole lines.
    assert region_for(CODE, 4, 3, 6, 2) == Region(4, 6)
    # Ending at the start of a line does not take that line.
    assert region_for(CODE, 3, 0, 5, 0) == Region(3, 4)
    # Reversed and out-of-range ranges are tolerated.
    assert region_for(CODE, 6, 2, 4, 3) == Region(4, 6)
    assert region_for(CODE, 9, 0, 99, 0) == Region(9, 10)


def test_surrounding_context_is_bounded() -> None:
    before, after = surrounding_context(CODE, Region(4, 6))
    assert before == "import os\n\nclass A:\n    def f(self):"
    assert after == "\n    def g(self):\n        pass\n"
    long = [f"line {i}" for i in range(200)]
    before, after = surrounding_context(long, Region(100, 100))
    assert 0 < before.count("\n") < 40 and before.endswith("line 99")
    assert 0 < after.count("\n") < 20 and after.startswith("line 101")


def test_companion_test_files() -> None:
    assert companion_test_file("calc.py", "python") == "test_calc.py"
    assert companion_test_file("test_calc.py", "python") is None
    assert companion_test_file("calc.ts", "typescript") == "calc.test.ts"
    assert companion_test_file("calc.test.ts", "typescript") is None
    assert companion_test_file("calc.go", "go") == "calc_test.go"
    assert companion_test_file("lib.rs", "rust") is None


def test_file_name_keeps_the_directory_private() -> None:
    assert file_name("file:///home/ana/My%20Project/calc.py") == "calc.py"
    assert file_name("untitled:Untitled-1") == "Untitled-1"


def test_fence_for_outgrows_the_code() -> None:
    assert fence_for("x = 1") == "```"
    assert fence_for('s = """\n```py\n"""') == "````"


def _prompt(**changes: object) -> PromptInput:
    values: dict[str, object] = {
        "language_id": "python",
        "file_name": "calc.py",
        "selection": "    def f(self):\n        return x",
        "before": "class A:",
        "after": "    def g(self): ...",
        "first_line": 3,
    }
    values.update(changes)
    return PromptInput(**values)  # type: ignore[arg-type]


def test_messages_name_language_file_and_lines_and_ask_for_one_block() -> None:
    system, user = build_messages(ACTIONS["simplify"], _prompt())
    assert system.role == "system" and user.role == "user"
    assert "Python" in system.content and "calc.py" in system.content
    assert "lines 4-5" in user.content
    assert "```python\n    def f(self):\n        return x\n```" in user.content
    assert "class A:" in user.content and "def g(self)" in user.content
    assert ACTIONS["simplify"].task in user.content
    assert "exactly one fenced code block" in user.content


def test_fix_prompt_lists_the_diagnostics() -> None:
    _, user = build_messages(
        ACTIONS["fix"], _prompt(diagnostics=("line 5: undefined name 'x' [pyflakes]",))
    )
    assert "- line 5: undefined name 'x' [pyflakes]" in user.content


def test_custom_edit_carries_the_instruction() -> None:
    _, user = build_messages(CUSTOM_EDIT, _prompt(instruction="  add type hints \n"))
    assert "Instruction: add type hints" in user.content


@pytest.mark.parametrize(
    "destination, phrase",
    [
        (Destination("below"), "inserted right after the selected code in calc.py"),
        (Destination("new", "test_calc.py"), "new file test_calc.py"),
        (Destination("append", "test_calc.py"), "appended to the existing test file"),
    ],
)
def test_tests_prompt_says_where_the_tests_go(destination: Destination, phrase: str) -> None:
    _, user = build_messages(ACTIONS["tests"], _prompt(tests=destination))
    assert phrase in user.content


def test_explain_asks_for_markdown() -> None:
    _, user = build_messages(ACTIONS["explain"], _prompt())
    assert "Markdown" in user.content and "exactly one fenced" not in user.content


def test_no_context_no_context_sections() -> None:
    _, user = build_messages(ACTIONS["document"], _prompt(before="", after=""))
    assert "before the selection" not in user.content and "after the selection:" not in user.content


def test_messages_make_a_valid_chat_body() -> None:
    messages = build_messages(ACTIONS["fix"], _prompt(diagnostics=("line 1: boom",)))
    body = ChatRequest(
        model="codestral-latest", messages=messages, max_tokens=2048, temperature=0.2, stream=True
    ).to_body()
    assert validate_request("chat", body) == []


# --------------------------------------------------------------------------------------------
# Secrets


def test_secrets_get_numbered_placeholders_and_come_back() -> None:

    token = "ghp_" + "a1" * 18
    text = f'API_KEY = "abcd1234efgh"\nheaders = {{"x": "{token}"}}\nsame = "{token}"\n'
    secrets: list[str] = []
    masked, restorable = mask_secrets(text, redact, secrets)
    assert restorable
    assert masked == (
        'API_KEY = "[REDACTED-1]"\nheaders = {"x": "[REDACTED-2]"}\nsame = "[REDACTED-2]"\n'
    )
    assert secrets == ["abcd1234efgh", token]
    answer = 'API_KEY: str = "[REDACTED-1]"\nheaders = {"x": "[REDACTED-2]"}  # [REDACTED-9]'
    assert unmask_secrets(answer, secrets) == (
        f'API_KEY: str = "abcd1234efgh"\nheaders = {{"x": "{token}"}}  # [REDACTED-9]'
    )


def test_multi_line_private_keys_are_masked_whole() -> None:

    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nxyz\n-----END RSA PRIVATE KEY-----"
    secrets: list[str] = []
    masked, restorable = mask_secrets(f'KEY = """\n{key}\n"""', redact, secrets)
    assert restorable and masked == 'KEY = """\n[REDACTED-1]\n"""' and secrets == [key]


def test_text_without_secrets_is_unchanged_and_unalignable_text_stays_redacted() -> None:

    assert mask_secrets("x = 1", redact, []) == ("x = 1", True)
    secrets: list[str] = []
    masked, restorable = mask_secrets('a = "[REDACTED]"; password = "hunter22"', redact, secrets)
    assert not restorable and "hunter22" not in masked and secrets == []
