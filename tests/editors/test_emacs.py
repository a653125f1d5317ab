"""The README's Emacs set-ups (eglot, lsp-mode) in a real Emacs 28, driven through tmux.

Each test takes a set-up block verbatim from editors/README.md, starts ``emacs -nw -Q`` with
it in a tmux session of its own (``tmux -L <unique socket>``), and types as a user would
(``send-keys``): a single-line completion, a half-typed word, a multi-line completion and a
code action, each saved with ``C-x C-s`` and checked in the file on disk.  Emacs runs a server
socket, so the test reads state (is the language server up, ``*Messages*``) with
``emacsclient``; the screen is read with ``capture-pane``.  Everything waits on conditions with
generous timeouts; on failure the pane, ``*Messages*`` and the server's stderr are saved
under ``tests/editors/artifacts/`` (gitignored).

Needs Debian's emacs-nox, elpa-eglot, elpa-lsp-mode, elpa-company and tmux (tests/system-deps
installs them); without them the tests are skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from codestral_ls.testing.fake_mistral import FakeMistral

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
README = ROOT / "editors" / "README.md"
ARTIFACTS = HERE / "artifacts"
TEST_KEY = "test-key-emacs-3b9d"
#: Seconds to wait for any one thing (the machine is shared and loaded).
WAIT = 60.0
ELPA = Path("/usr/share/emacs/site-lisp/elpa")

MISSING = [tool for tool in ("emacs", "emacsclient", "tmux") if shutil.which(tool) is None]
if not any(ELPA.glob("eglot-*")) or not any(ELPA.glob("lsp-mode-*")):
    MISSING.append("elpa-eglot/elpa-lsp-mode")
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"missing {', '.join(MISSING)} (bash tests/system-deps installs them)"
)

SOURCE = (
    "import math\n"  # 1
    "\n"  # 2
    "\n"  # 3
    "def add(a, b):\n"  # 4
    "    return \n"  # 5
    "\n"  # 6
    "\n"  # 7
    "def mul(a, b):\n"  # 8
    "    \n"  # 9
    "\n"  # 10
    "\n"  # 11
    "def find(xs, t):\n"  # 12
    "    for x in xs:\n"  # 13
    "        \n"  # 14
    "\n"  # 15
    "\n"  # 16
    "def area(r):\n"  # 17
    "    result = math.pi * r * r\n"  # 18
    "    return result\n"  # 19
)

SIMPLIFIED = "```python\ndef area(r):\n    return math.pi * r ** 2\n```"


def fim_answer(body: dict[str, Any]) -> str:
    """What the fake model answers, by where the cursor is (the end of the prompt)."""
    prompt: str = body["prompt"]
    if prompt.endswith("return "):
        return "a + b"
    if prompt.endswith("    ret"):
        return "urn a * b"
    if prompt.endswith("for x in xs:\n        "):
        return "if x == t:\n            return x"
    return ""


def chat_answer(body: dict[str, Any]) -> str:
    return SIMPLIFIED if "Simplify" in body["messages"][-1]["content"] else "No."


def readme_block(heading: str) -> str:
    """The first ```elisp block under ``heading`` in editors/README.md."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    found = re.search(r"```elisp\n(.*?)```", section, re.DOTALL)
    assert found, f"no elisp block under {heading}"
    return found.group(1)


def elisp_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Emacs:
    """One ``emacs -nw`` in a tmux session on a socket of its own."""

    def __init__(self, work: Path, init: Path, file: Path, env: dict[str, str]) -> None:
        self.work = work
        self.init = init
        self.file = file
        self.env = env
        self.socket = f"codestral-emacs-{uuid.uuid4().hex[:12]}"
        self.server = work / "server" / "emacs-server"

    # --- tmux --------------------------------------------------------------------------

    def tmux(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def start(self) -> None:
        command = [
            "env",
            *[f"{k}={v}" for k, v in self.env.items()],
            "emacs",
            "-nw",
            "-Q",
            "-l",
            str(self.init),
            str(self.file),
        ]
        self.tmux(
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            "150",
            "-y",
            "45",
            " ".join(_shell_quote(part) for part in command),
        )

    def stop(self) -> None:
        self.tmux("kill-server", check=False)

    def keys(self, *keys: str) -> None:
        """``send-keys`` with tmux key names (``C-x``, ``M-x``, ``Enter``...)."""
        self.tmux("send-keys", "-t", "main", *keys)

    def type(self, text: str) -> None:
        """Type ``text`` literally."""
        self.tmux("send-keys", "-t", "main", "-l", text)

    def pane(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "main", check=False)

    # --- emacsclient ---------------------------------------------------------------------

    def eval(self, expression: str) -> str | None:
        """Evaluate ``expression`` in Emacs; its printed value, or None if Emacs did not answer."""
        try:
            done = subprocess.run(
                ["emacsclient", "-s", str(self.server), "--eval", expression],
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    def in_file_buffer(self, expression: str) -> str | None:
        return self.eval(
            f"(with-current-buffer (find-buffer-visiting {elisp_string(str(self.file))}) "
            f"{expression})"
        )

    def messages(self) -> str:
        value = self.eval('(with-current-buffer "*Messages*" (buffer-string))')
        return _unprint(value) if value is not None else ""

    def wait(self, what: str, condition: Callable[[], bool], timeout: float = WAIT) -> None:
        """Poll ``condition`` until it holds; fail naming ``what`` (with the pane) if not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.2)  # polling interval, not synchronisation
        raise AssertionError(f"timed out waiting for {what}\n--- pane ---\n{self.pane()}")

    def save_artifacts(self, name: str) -> Path:
        folder = ARTIFACTS / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "pane.txt").write_text(self.pane(), encoding="utf-8")
        (folder / "messages.txt").write_text(self.messages(), encoding="utf-8")
        (folder / "init.el").write_text(self.init.read_text(encoding="utf-8"), encoding="utf-8")
        if self.file.exists():
            (folder / self.file.name).write_text(self.file.read_text(encoding="utf-8"))
        buffers = self.eval(
            '(mapconcat (lambda (b) (format "=== %s\\n%s" (buffer-name b)'
            " (with-current-buffer b (buffer-substring-no-properties"
            " (point-min) (min (point-max) 20000)))))"
            ' (seq-filter (lambda (b) (string-match-p "EGLOT\\\\|lsp\\\\|stderr"'
            ' (buffer-name b))) (buffer-list)) "\\n")'
        )
        (folder / "lsp-buffers.txt").write_text(_unprint(buffers or ""), encoding="utf-8")
        return folder


def _shell_quote(part: str) -> str:
    return "'" + part.replace("'", "'\\''") + "'"


def _unprint(value: str) -> str:
    """Emacs' printed representation of a string, back to the string."""
    if not (value.startswith('"') and value.endswith('"')):
        return value
    body = value[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeMistral]:
    with FakeMistral() as server:
        yield server


#: Elisp that is t once the buffer's client is connected to codestral-ls.
CONNECTED = {
    "eglot": "(and (eglot-current-server) t)",
    "lsp-mode": "(and (lsp-workspaces) (eq (lsp--workspace-status (car (lsp-workspaces)))"
    " 'initialized))",
}

SETUPS = {
    "eglot": ("## Emacs (eglot)", None),
    "lsp-mode": ("## Emacs (lsp-mode)", HERE / "emacs" / "after-lsp-mode.el"),
}


@pytest.fixture
def emacs(
    request: pytest.FixtureRequest, tmp_path: Path, fake: FakeMistral
) -> Iterator[Callable[[str], Emacs]]:
    """``emacs(client)``: Emacs with the README's set-up for ``client``, the file open and the
    language server connected (restarted once if it does not come up)."""
    fake.reset()
    fake.fim_text = fim_answer
    fake.chat_text = chat_answer
    started: list[Emacs] = []
    failures_before = request.session.testsfailed

    def launch(client: str) -> Emacs:
        heading, after = SETUPS[client]
        work = tmp_path / "home"
        project = tmp_path / "project"
        for folder in (work, project):
            folder.mkdir(exist_ok=True)
        (work / "server").mkdir(mode=0o700, exist_ok=True)  # Emacs wants it private
        (project / ".git").mkdir(exist_ok=True)  # a project root, as users have
        file = project / "calc.py"
        file.write_text(SOURCE, encoding="utf-8")
        init = work / "init.el"
        parts = [f"(load {elisp_string(str(HERE / 'emacs' / 'prelude.el'))} nil t)"]
        parts.append(readme_block(heading))
        if after is not None:
            parts.append(f"(load {elisp_string(str(after))} nil t)")
        init.write_text("\n".join(parts) + "\n", encoding="utf-8")
        env = {
            "HOME": str(work),
            "CODESTRAL_TEST_DIR": str(work),
            "CODESTRAL_TEST_SERVER_DIR": str(work / "server"),
            "CODESTRAL_API_KEY": TEST_KEY,
            "CODESTRAL_ENDPOINT": fake.url,
            "CODESTRAL_LS_STATE_DIR": str(work / "state"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "TERM": "xterm-256color",
            "LANG": "C.UTF-8",
        }
        connected = CONNECTED[client]
        for attempt in (1, 2):
            editor = Emacs(work, init, file, env)
            started.append(editor)
            editor.start()
            try:
                editor.wait(
                    f"{client} to connect to codestral-ls",
                    lambda editor=editor: editor.in_file_buffer(connected) == "t",
                )
                return editor
            except AssertionError:
                if attempt == 2:
                    raise
                editor.save_artifacts(f"{request.node.name}-start-{attempt}")
                editor.stop()
        raise AssertionError("unreachable")

    yield launch

    failed = request.session.testsfailed > failures_before  # the call's report came first
    for editor in started:
        if failed:
            editor.save_artifacts(request.node.name)
        editor.eval("(kill-emacs)")
        editor.stop()


# --------------------------------------------------------------------------------------------


def goto_line_end(editor: Emacs, line: int) -> None:
    editor.keys("M-g", "g")
    editor.wait("the goto-line prompt", lambda: "Goto line" in editor.pane())
    editor.type(str(line))
    editor.keys("Enter", "C-e")


def buffer_text(editor: Emacs) -> str:
    return _unprint(
        editor.in_file_buffer("(buffer-substring-no-properties 1 (1+ (buffer-size)))") or ""
    )


def save_and_read(editor: Emacs, expect: Callable[[str], bool], what: str) -> str:
    """Wait until the buffer reads as expected (no key may interrupt the client's request
    meanwhile: eglot cancels a request when input arrives), save, and read the file."""
    editor.wait(what, lambda: expect(buffer_text(editor)))
    editor.keys("C-x", "C-s")
    editor.wait(f"{what} saved", lambda: expect(editor.file.read_text(encoding="utf-8")))
    return editor.file.read_text(encoding="utf-8")


def line(text: str, number: int) -> str:
    """Line ``number`` (1-based) of ``text``; "" past the end (a file being written)."""
    lines = text.splitlines()
    return lines[number - 1] if number <= len(lines) else ""


def complete(editor: Emacs, client: str, how: str) -> None:
    if how == "company":
        editor.keys("M-x")
        editor.type("company-complete")
        editor.keys("Enter")
    else:
        editor.keys("C-M-i")  # completion-at-point


def run_code_action(editor: Emacs, client: str) -> None:
    # Select the body of area(), then ask for the code actions and pick Simplify.
    editor.keys("M-g", "g")
    editor.type("17")
    editor.keys("Enter", "C-a", "C-Space")
    editor.keys("M-g", "g")
    editor.type("19")
    editor.keys("Enter", "C-e")
    editor.keys("M-x")
    editor.type("eglot-code-actions" if client == "eglot" else "lsp-execute-code-action")
    editor.keys("Enter")
    # eglot: "[eglot] Pick an action (default ...)"; lsp-mode: "Select code action:".
    editor.wait(
        "the code-action menu", lambda: re.search(r"(?i)action.*:", editor.pane()) is not None
    )
    # completing-read: SPC would complete a word, so the space is quoted (C-q SPC).
    editor.type("Codestral:")
    editor.keys("C-q", "Space")
    editor.type("Simplify/refactor")
    editor.keys("Enter")


def no_warnings_from_the_server(editor: Emacs) -> None:
    messages = editor.messages()
    for bad in (
        "Unknown notification",
        "unknown method",
        "Ignoring notification",
        "codestral/status",
        "internal error",
        "Warning",
        "Server reports",  # eglot's echo of a window/showMessage
    ):
        assert bad not in messages, f"{bad!r} in *Messages*:\n{messages}"


@pytest.mark.parametrize(
    "client, single_line, multi_line",
    [
        # eglot: plain completion-at-point (C-M-i) throughout.
        ("eglot", "capf", "capf"),
        # lsp-mode: company, and completion-at-point for the half-typed word (the label
        # alone must then give the right line).  Multi-line goes through company: lsp-mode's
        # completion-at-point asks the server again after inserting the label, so it never
        # applies the item's edit.
        ("lsp-mode", "company", "company"),
    ],
)
def test_readme_setup_completes_and_applies_a_code_action(
    emacs: Callable[[str], Emacs],
    fake: FakeMistral,
    client: str,
    single_line: str,
    multi_line: str,
) -> None:
    editor = emacs(client)

    # 1. Single line, after "return ".
    goto_line_end(editor, 5)
    complete(editor, client, single_line)
    text = save_and_read(
        editor, lambda t: line(t, 5) == "    return a + b", "the single-line completion"
    )

    # 2. A half-typed word: "ret" becomes "return a * b", not "urn a * b".
    goto_line_end(editor, 9)
    editor.type("ret")
    complete(editor, client, "capf")
    text = save_and_read(
        editor, lambda t: line(t, 9) == "    return a * b", "the half-typed-word completion"
    )

    # 3. Multi-line, inside a loop: the nested line keeps its indentation.
    goto_line_end(editor, 14)
    complete(editor, client, multi_line)
    text = save_and_read(
        editor,
        lambda t: "        if x == t:\n            return x\n" in t,
        "the multi-line completion",
    )
    assert line(text, 13) == "    for x in xs:"
    assert line(text, 16) == "", text  # nothing else moved

    # 4. A code action, applied (eglot asks before applying a server's edit).
    start = len(fake.requests)
    run_code_action(editor, client)

    def applied() -> bool:
        if "(y or n)" in editor.pane():
            editor.type("y")
        return "return math.pi * r ** 2" in buffer_text(editor)

    editor.wait("the code action's edit", applied)
    text = save_and_read(editor, lambda t: "return math.pi * r ** 2" in t, "the edit")
    assert "result = math.pi" not in text
    assert line(text, 5) == "    return a + b"  # the rest of the file is untouched
    assert any(r.path == "/v1/chat/completions" for r in fake.requests[start:])

    # 5. Another language's mode (js-mode) starts the server too: the set-up is not Python's.
    other = editor.file.with_name("util.js")
    other.write_text("const x = 1;\n", encoding="utf-8")
    editor.keys("C-x", "C-f")
    editor.wait("the find-file prompt", lambda: "Find file" in editor.pane())
    editor.keys("C-a", "C-k")
    editor.type(str(other))
    editor.keys("Enter")
    editor.wait(
        "the server in a js-mode buffer",
        lambda: (
            editor.eval(
                f"(with-current-buffer (find-buffer-visiting {elisp_string(str(other))}) "
                f"(and (eq major-mode 'js-mode) {CONNECTED[client]}))"
            )
            == "t"
        ),
    )

    no_warnings_from_the_server(editor)
    assert all(r.errors == [] for r in fake.requests)
