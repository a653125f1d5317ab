"""Fixtures for the real-VS Code tests: one code-server, one Chromium page, one fake API.

The window starts without an API key (the first test sees "key missing" and the notification),
then the key is set through the extension's own "Set API Key" flow.  On failure, a screenshot,
code-server's log and VS Code's logs (the Codestral output channel included) are saved under
``tests/vscode_real/artifacts/`` (gitignored).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codestral_ls.testing.fake_mistral import FakeMistral
from tests.vscode_real.harness import (
    ARTIFACTS,
    UI_TIMEOUT_MS,
    VSIX,
    CodeServer,
    Window,
    chromium,
    install,
    server_executable,
    started,
)

sync_api = pytest.importorskip("playwright.sync_api")

#: What the files of the workspace hold at the start.
FILES = {
    "ghost.py": "def greet(name):\n    return ",
    "through.py": "def area(r):\n    return ",
    "picker.py": "x = ",
    "actions.py": "def add(a, b):\n    return a + b\n",
}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        item.stash.setdefault(FAILED, []).append(report.when)
    return report


FAILED = pytest.StashKey[list[str]]()


@pytest.fixture(scope="module")
def fake_api() -> Iterator[FakeMistral]:
    with FakeMistral() as fake:
        yield fake


@pytest.fixture(scope="module")
def code_server(
    fake_api: FakeMistral, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CodeServer]:
    if not VSIX.exists():
        pytest.fail(f"{VSIX} is missing: run `npm run package` in editors/vscode (tests/run does)")
    root = install()
    base = tmp_path_factory.mktemp("code-server")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CODESTRAL_API_KEY", "MISTRAL_API_KEY", "CODESTRAL_ENDPOINT")
    }
    env["CODESTRAL_LS_STATE_DIR"] = str(base / "state")
    server = CodeServer(
        root=root,
        base=base,
        settings={
            "codestral.endpoint": fake_api.url,
            "codestral.server.logLevel": "INFO",
        },
        # In a remote window (code-server, SSH, WSL, containers) VS Code reads this
        # machine-scoped setting from the Remote settings, which is what the README says.
        machine_settings={"codestral.server.path": server_executable()},
        env=env,
    )
    server.prepare()
    for name, text in FILES.items():
        (server.workspace / name).write_text(text, encoding="utf-8")
    with started(server):
        yield server


@pytest.fixture(scope="module")
def window(code_server: CodeServer, request: pytest.FixtureRequest) -> Iterator[Window]:
    with sync_api.sync_playwright() as playwright:
        browser = None
        for attempt in range(2):  # restart the browser once if it fails to start
            try:
                browser = chromium(playwright)
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.set_default_timeout(UI_TIMEOUT_MS)
                win = Window(page)
                win.open(code_server.url)
                break
            except Exception:
                if browser is not None:
                    browser.close()
                    browser = None
                if attempt == 1:
                    raise
        assert browser is not None
        try:
            yield win
        finally:
            browser.close()


@pytest.fixture(autouse=True)
def artifacts_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not request.node.stash.get(FAILED, []):
        return
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    target = ARTIFACTS / name
    win = _fixture(request, "window")
    if isinstance(win, Window):
        win.screenshot(target / "screenshot.png")
    server = _fixture(request, "code_server")
    if isinstance(server, CodeServer):
        server.save_artifacts(target)


def _fixture(request: pytest.FixtureRequest, name: str) -> Any:
    if name not in request.fixturenames:
        return None
    try:
        return request.getfixturevalue(name)
    except Exception:
        return None


@pytest.fixture
def fake(fake_api: FakeMistral) -> FakeMistral:
    fake_api.reset()
    return fake_api


def workspace_file(server: CodeServer, name: str) -> Path:
    return server.workspace / name
