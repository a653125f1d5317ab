"""The state file: where it lives, atomic writes, and tolerance of bad files."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from codestral_ls.state import STATE_FILE_NAME, StateFile, is_model_name, state_dir


def test_state_dir_prefers_the_explicit_variable(tmp_path: Path) -> None:
    env = {
        "CODESTRAL_LS_STATE_DIR": str(tmp_path / "mine"),
        "XDG_STATE_HOME": str(tmp_path / "xdg"),
        "HOME": str(tmp_path / "home"),
    }
    assert state_dir(env) == tmp_path / "mine"


def test_state_dir_uses_xdg_state_home_then_home(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    assert state_dir({"XDG_STATE_HOME": str(tmp_path / "xdg"), "HOME": home}) == (
        tmp_path / "xdg" / "codestral-ls"
    )
    assert state_dir({"HOME": home}) == tmp_path / "home" / ".local" / "state" / "codestral-ls"
    # Blank values and a relative XDG_STATE_HOME (invalid per the spec) are ignored.
    assert state_dir({"CODESTRAL_LS_STATE_DIR": " ", "XDG_STATE_HOME": "rel", "HOME": home}) == (
        tmp_path / "home" / ".local" / "state" / "codestral-ls"
    )


def test_default_file_is_in_the_state_dir(tmp_path: Path) -> None:
    state = StateFile.default({"CODESTRAL_LS_STATE_DIR": str(tmp_path)})
    assert state.path == tmp_path / STATE_FILE_NAME


MISTRAL = "https://codestral.mistral.ai"
OLLAMA = "http://localhost:11434"


def test_remember_then_read_back(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "deep" / "dir" / "state.json")  # directories are created
    assert state.selected_models() == {}
    state.remember_model(MISTRAL, "completion", "codestral-2508")
    state.remember_model(MISTRAL, "chat", "mistral-large-latest")
    state.remember_model(OLLAMA, "completion", "qwen2.5-coder:latest")
    again = StateFile(state.path)
    assert again.selected_models() == {
        MISTRAL: {"completion": "codestral-2508", "chat": "mistral-large-latest"},
        OLLAMA: {"completion": "qwen2.5-coder:latest"},
    }
    data = json.loads(state.path.read_text(encoding="utf-8"))
    assert data["version"] == 2


def test_remember_keeps_other_content_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(
        json.dumps({"models": {MISTRAL: {"chat": "c1"}}, "other": [1, 2]}), encoding="utf-8"
    )
    StateFile(path).remember_model(MISTRAL, "completion", "m1")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["models"] == {MISTRAL: {"chat": "c1", "completion": "m1"}}
    assert data["other"] == [1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_version_1_choices_without_an_endpoint_are_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.json"
    path.write_text(
        json.dumps({"version": 1, "models": {"completion": "codestral-2508"}}), encoding="utf-8"
    )
    with caplog.at_level(logging.WARNING, logger="codestral_ls.state"):
        assert StateFile(path).selected_models() == {}
    assert "without its endpoint" in caplog.text
    StateFile(path).remember_model(OLLAMA, "completion", "qwen2.5-coder:latest")
    assert StateFile(path).selected_models() == {OLLAMA: {"completion": "qwen2.5-coder:latest"}}


def test_remember_rejects_unknown_kinds(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        StateFile(tmp_path / "s.json").remember_model(MISTRAL, "embedding", "m")


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[1, 2]",
        '"text"',
        "",
        '{"models": "codestral"}',
        '{"models": {"completion": 3, "chat": "tab\\there"}}',
        '{"models": {"completion": ""}}',
        '{"models": {"https://x": {"completion": 3, "chat": "tab\\there"}}}',
        '{"models": {"https://x": {"completion": ""}}}',
        '{"models": {"https://x": "codestral"}}',
    ],
)
def test_corrupt_files_are_ignored(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.json"
    path.write_text(content, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="codestral_ls.state"):
        assert StateFile(path).selected_models() == {}
    if content != '{"models": "codestral"}':
        assert caplog.records, "a corrupt file is logged"


def test_undecodable_file_is_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with caplog.at_level(logging.WARNING, logger="codestral_ls.state"):
        assert StateFile(path).read() == {}
    assert "state.json" in caplog.text


def test_a_corrupt_file_is_replaced_by_the_next_choice(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{broken", encoding="utf-8")
    StateFile(path).remember_model(MISTRAL, "completion", "codestral-2508")
    assert StateFile(path).selected_models() == {MISTRAL: {"completion": "codestral-2508"}}


def test_a_directory_in_the_way_is_ignored_when_reading(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.mkdir()
    assert StateFile(path).selected_models() == {}
    with pytest.raises(OSError):
        StateFile(path).remember_model(MISTRAL, "completion", "m")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions")
def test_unwritable_directory_raises_and_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    StateFile(path).remember_model(MISTRAL, "completion", "first")
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(OSError):
            StateFile(path).remember_model(MISTRAL, "completion", "second")
    finally:
        tmp_path.chmod(0o700)
    assert StateFile(path).selected_models() == {MISTRAL: {"completion": "first"}}


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("codestral-latest", True),
        ("ft:codestral-latest:abc123:20250101", True),
        ("qwen2.5-coder:7b", True),
        ("", False),
        (" codestral", False),
        ("two\nlines", False),
        ("x" * 1025, False),
        # Whatever a server lists: llama-server's GGUF path, LM Studio's org/model, a Windows
        # path with a space.
        ("/models/codestral-22b-v0.1.Q4_K_M.gguf", True),
        ("mistralai/codestral-22b-v0.1", True),
        ("C:\\My Models\\codestral.gguf", True),
        (None, False),
        (3, False),
    ],
)
def test_model_names(value: object, ok: bool) -> None:
    assert is_model_name(value) is ok
