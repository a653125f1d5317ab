"""The VS Code extension in a real VS Code (code-server in headless Chromium), against the fake.

The tests share one window and run in file order: the first starts without a key and sets
one through the extension's own notification, the others rely on it.  Every wait is on a
condition, with generous timeouts.
"""

from __future__ import annotations

import re

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from codestral_ls.testing.fake_mistral import FakeMistral
from tests.vscode_real.harness import START_TIMEOUT, UI_TIMEOUT_MS, CodeServer, Window, wait_for

KEY = "test-key-0123456789"


def fim_count(fake: FakeMistral) -> int:
    return len(fake.fim_requests())


def read(server: CodeServer, name: str) -> str:
    return (server.workspace / name).read_text(encoding="utf-8")


def test_key_missing_then_set_through_the_notification(window: Window, fake: FakeMistral) -> None:
    window.wait_status_icon("key")
    assert "key missing" in str(window.status_item().get_attribute("aria-label"))
    button = window.page.locator(".notifications-toasts .monaco-button", has_text="Set API Key")
    button.first.click(timeout=START_TIMEOUT * 1000)
    window.pick("Codestral key")
    box = window.page.locator(".quick-input-widget input[type=password]").first
    box.wait_for()
    box.fill(KEY)
    window.page.keyboard.press("Enter")
    window.wait_status_icon("sparkle")
    label = str(window.status_item().get_attribute("aria-label"))
    assert "Codestral: ready" in label
    assert label.count("codestral-latest") <= 2  # the text and the Model line, once each


def test_ghost_text_appears_and_tab_accepts_it(
    window: Window, code_server: CodeServer, fake: FakeMistral
) -> None:
    fake.fim_text = "'Hello, ' + name"
    window.open_file("ghost.py")
    window.go_to_end()
    window.page.keyboard.type("(")
    window.wait_ghost_text("Hello")
    assert fake.fim_requests()[-1].headers.get("authorization") == f"Bearer {KEY}"
    window.page.keyboard.press("Tab")
    window.page.keyboard.press("Control+s")
    wait_for(
        lambda: read(code_server, "ghost.py").endswith("return ('Hello, ' + name"),
        START_TIMEOUT,
        "the accepted suggestion on disk",
    )


def test_typing_through_keeps_the_suggestion_without_a_request(
    window: Window, fake: FakeMistral
) -> None:
    fake.fim_text = "3.14159 * r * r"
    window.open_file("through.py")
    window.go_to_end()
    window.page.keyboard.type("(")
    window.wait_ghost_text("3.14159 * r * r")
    calls = fim_count(fake)
    window.page.keyboard.type("3.14", delay=80)
    window.wait_ghost_text("159 * r * r")
    assert "3.14" not in window.ghost_text()
    assert fim_count(fake) == calls


def test_status_shows_working_while_a_request_is_under_way(
    window: Window, fake: FakeMistral
) -> None:
    fake.fim_text = "x + 1"
    gate = fake.gate()
    try:
        window.open_file("picker.py")
        window.go_to_end()
        window.page.keyboard.type("y")
        window.wait_status_icon("sync")
    finally:
        gate.set()
    window.wait_status_icon("sparkle")


def test_model_picker_lists_fim_models_and_the_choice_is_used(
    window: Window, fake: FakeMistral
) -> None:
    fake.fim_text = "42"
    window.status_item().click()
    rows = window.page.locator(".quick-input-list .monaco-list-row")
    rows.first.wait_for()
    labels = wait_for(
        lambda: [t for t in rows.all_inner_texts() if t.strip()], START_TIMEOUT, "the model list"
    )
    text = "\n".join(labels)
    assert "codestral-2508" in text and "codestral-2405" in text
    assert "mistral-large-latest" not in text and "mistral-embed" not in text
    window.pick("codestral-2405")
    wait_for(lambda: "codestral-2405" in window.status_text(), START_TIMEOUT, "the new model")
    before = fim_count(fake)
    window.open_file("picker.py")
    window.go_to_end()
    window.page.keyboard.type(" ")
    wait_for(lambda: fim_count(fake) > before, START_TIMEOUT, "a request")
    body = fake.fim_requests()[-1].body
    assert body is not None and body["model"] == "codestral-2405"


def open_code_actions(window: Window) -> list[str]:
    """Select everything and open the code-action menu (Ctrl+.), asking again if a loaded
    machine lost the keystroke."""
    window.editor().click()
    window.page.keyboard.press("Control+a")
    items = window.page.locator(".action-widget .monaco-list-row")
    for attempt in range(3):
        window.page.keyboard.press("Control+.")
        try:
            items.first.wait_for(timeout=UI_TIMEOUT_MS / 2)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            window.page.keyboard.press("Escape")
            window.page.keyboard.press("Control+a")
    return [t.strip() for t in items.all_inner_texts()]


def test_code_action_menu_lists_codestral_actions_and_one_applies(
    window: Window, code_server: CodeServer, fake: FakeMistral
) -> None:
    fake.chat_text = '```python\ndef add(a, b):\n    """Add two numbers."""\n    return a + b\n```'
    window.open_file("actions.py")
    titles = open_code_actions(window)
    for title in (
        "Add docstring/comments",
        "Simplify/refactor",
        "Generate tests",
        "Explain",
    ):
        assert any(title in t for t in titles), titles
    window.page.locator(".action-widget .monaco-list-row", has_text="Add docstring").first.click()
    wait_for(lambda: "Add two numbers" in window.editor_text(), START_TIMEOUT, "the edit")
    window.page.keyboard.press("Control+s")
    wait_for(
        lambda: '"""Add two numbers."""' in read(code_server, "actions.py"),
        START_TIMEOUT,
        "the edit on disk",
    )


def test_explain_opens_a_read_only_document_without_completions(
    window: Window, fake: FakeMistral
) -> None:
    fake.chat_text = "It **adds** two numbers."
    window.open_file("actions.py")
    tab = window.page.locator('.tab[aria-label*="actions.py-L"]').first
    for attempt in range(2):  # a loaded machine may lose the click on the menu
        open_code_actions(window)
        window.page.locator(".action-widget .monaco-list-row", has_text="Explain").first.click()
        try:
            tab.wait_for(timeout=START_TIMEOUT * 1000 / 2)
            break
        except PlaywrightTimeout:
            if attempt == 1:
                raise
            window.page.keyboard.press("Escape")
            window.open_file("actions.py")
    wait_for(lambda: "adds" in window.editor_text(), START_TIMEOUT, "the explanation")
    calls = fim_count(fake)
    window.editor().click()
    window.page.keyboard.type("zzz")
    assert "zzz" not in window.editor_text()  # read-only
    assert fim_count(fake) == calls  # not synced: no completions asked for it
    window.page.keyboard.press("Control+w")


def test_output_channel_has_no_error_lines(window: Window, code_server: CodeServer) -> None:
    output = wait_for(code_server.output_channel, START_TIMEOUT, "the Codestral log")
    assert "codestral_ls.server: settings:" in output
    errors = [line for line in output.splitlines() if "[error]" in line]
    assert errors == []
    # one line per event: no second timestamp inside the message
    assert not [
        line for line in output.splitlines() if len(re.findall(r"\d\d:\d\d:\d\d", line)) > 1
    ]
