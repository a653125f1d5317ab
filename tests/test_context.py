"""Prompt and suffix extraction and request building."""

from __future__ import annotations

import dataclasses

import pytest

from codestral_ls.context import (
    SINGLE_LINE_MAX_TOKENS,
    build_fim_request,
    extract_context,
    prompt_budget,
    request_profile,
)
from codestral_ls.documents import Cursor, Document
from codestral_ls.settings import Settings, TrialSettings


def context_at(text: str, prefix_chars: int = 100, suffix_chars: int = 100):
    offset = text.index("▌")
    text = text.replace("▌", "")
    document = Document("file:///t", text, encoding="utf-32")
    before = text[:offset]
    cursor = Cursor(before.count("\n"), len(before) - (before.rfind("\n") + 1))
    return text, offset, extract_context(document, cursor, prefix_chars, suffix_chars)


def test_whole_document_when_it_fits() -> None:
    text, offset, context = context_at("a = 1\nb = ▌2\nc = 3\n")
    assert context.prefix == text[:offset]
    assert context.suffix == text[offset:]
    assert context.line_before == "b = "
    assert context.line_after == "2"
    assert context.single_line


def test_budget_cuts_at_line_boundaries() -> None:
    lines = [f"line {i:02d}\n" for i in range(20)]  # 8 chars each
    text = "".join(lines[:10]) + "x = ▌\n" + "".join(lines[10:])
    _, _, context = context_at(text, prefix_chars=30, suffix_chars=20)
    assert context.prefix == "".join(lines[7:10]) + "x = "  # 4 + 3 * 8 = 28 <= 30
    assert context.suffix == "\n" + "".join(lines[10:12])  # 1 + 2 * 8 = 17 <= 20
    assert not context.single_line


def test_a_huge_cursor_line_is_cut_by_characters() -> None:
    _, _, context = context_at("x" * 500 + "▌" + "y" * 500, prefix_chars=50, suffix_chars=20)
    assert context.prefix == "x" * 50
    assert context.suffix == "y" * 20


def test_zero_budgets() -> None:
    _, _, context = context_at("abc\nde▌f\n", prefix_chars=0, suffix_chars=0)
    assert (context.prefix, context.suffix) == ("", "")


@pytest.mark.parametrize("text, single", [("x = ▌", False), ("f(▌)", True), ("x▌   \n", False)])
def test_single_line_decision(text: str, single: bool) -> None:
    assert context_at(text)[2].single_line is single


def test_request_for_single_and_multi_line() -> None:
    settings = Settings(maxTokens=200, stop=("#end",), model="m", temperature=0.2)
    single = build_fim_request(context_at("f(▌)")[2], settings)
    assert single.max_tokens == SINGLE_LINE_MAX_TOKENS
    assert single.stop == ("#end", "\n")
    multi = build_fim_request(context_at("def f():\n▌")[2], settings)
    assert multi.max_tokens == 200
    assert multi.stop == ("#end",)
    body = multi.to_body()
    assert body.pop("stream", False) is False
    assert body == {
        "model": "m",
        "prompt": "def f():\n",
        "suffix": "",
        "max_tokens": 200,
        "temperature": 0.2,
        "stop": ["#end"],
    }


def test_prompt_budget_fits_the_model() -> None:
    from codestral_ls.context import prompt_budget

    settings = Settings(prefixChars=9000, suffixChars=3000, maxTokens=256)
    assert prompt_budget(settings, None) == (9000, 3000)
    assert prompt_budget(settings, 256_000) == (9000, 3000)  # settings are the upper bound
    prefix, suffix = prompt_budget(settings, 2048)
    assert prefix + suffix == int((2048 - 256 - 64) * 3.0)
    assert prefix == 3 * suffix  # the ratio is kept
    assert prompt_budget(settings, 100) == (0, 0)


def _alternative(value: object) -> object:
    """Another value of the same kind, for the setting check below."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return max(1, value // 2)
    if isinstance(value, float):
        return value + 0.3
    if isinstance(value, str):
        return value + "-other"
    if isinstance(value, tuple):
        return (*value, "\n\n")
    if value is None:
        return "http://127.0.0.1:1"
    if isinstance(value, TrialSettings):
        return TrialSettings(models=("codestral-2508", "codestral:22b@ollama"))
    return {"python": {"maxTokens": 1}}


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(Settings)])
def test_every_setting_that_changes_the_request_changes_the_cache_key(name: str) -> None:
    """The completion cache keys on ``request_profile``: a setting that changes the body sent
    (or the prompt window cut for it) must change the profile (issue 10, item 9)."""
    text = "".join(f"line_{i} = {i}  # password = 'hunter2secret'\n" for i in range(800))
    document = Document("file:///t.py", text + "value = ", encoding="utf-32")
    cursor = Cursor(800, len("value = "))

    def body_and_profile(settings: Settings) -> tuple[dict[str, object], tuple[object, ...]]:
        budget = prompt_budget(settings, None)
        context = extract_context(document, cursor, *budget)
        body = build_fim_request(context, settings, stream=True).to_body()
        return body, request_profile(settings, budget)

    base = Settings()
    other = dataclasses.replace(base, **{name: _alternative(getattr(base, name))})
    base_body, base_profile = body_and_profile(base)
    other_body, other_profile = body_and_profile(other)
    if other_body != base_body:
        assert other_profile != base_profile
