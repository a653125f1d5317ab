"""Language ids from clients and file names map to the LSP ids settings are written with."""

from __future__ import annotations

import pytest

from codestral_ls.languages import canonical, from_path
from codestral_ls.settings import parse_settings


@pytest.mark.parametrize(
    ("sent", "lsp_id"),
    [
        ("python", "python"),
        ("python-ts", "python"),  # eglot, python-ts-mode
        ("typescript-ts", "typescript"),
        ("tsx-ts", "typescriptreact"),
        ("js", "javascript"),  # eglot, js-mode
        ("sh", "shellscript"),
        ("c++", "cpp"),
        ("Python", "python"),
        ("markdown", "markdown"),
        ("some-new-lang", "some-new-lang"),
        ("", ""),
        (None, ""),
    ],
)
def test_client_ids_map_to_lsp_ids(sent: str | None, lsp_id: str) -> None:
    assert canonical(sent) == lsp_id


@pytest.mark.parametrize(
    ("path", "lsp_id"),
    [
        ("src/app.py", "python"),
        ("a/b/C.TSX", "typescriptreact"),
        ("lib.rs", "rust"),
        ("init.lua", "lua"),
        ("Makefile", "makefile"),
        ("notes.unknownext", ""),
        ("noext", ""),
    ],
)
def test_file_names_map_to_lsp_ids(path: str, lsp_id: str) -> None:
    assert from_path(path) == lsp_id


def test_an_eglot_tree_sitter_buffer_gets_the_python_overrides() -> None:
    settings, problems = parse_settings(
        {"languages": {"python": {"maxTokens": 17, "enable": False}}}
    )
    assert problems == []
    for sent in ("python", "python-ts", "Python"):
        assert settings.for_language(sent).maxTokens == 17
        assert not settings.for_language(sent).enabled_for(sent)
    assert settings.for_language("rust").maxTokens == settings.maxTokens
    assert settings.for_language("rust").enabled_for("rust")


def test_the_id_as_sent_wins_over_its_lsp_id() -> None:
    settings, _ = parse_settings(
        {"languages": {"python": {"maxTokens": 17}, "python-ts": {"maxTokens": 23}}}
    )
    assert settings.for_language("python-ts").maxTokens == 23
    assert settings.for_language("python").maxTokens == 17


def test_enable_by_language_is_looked_up_the_same_way() -> None:
    settings, _ = parse_settings({"enable": {"*": True, "javascript": False}})
    assert not settings.enabled_for("js")
    assert not settings.enabled_for("javascript")
    assert settings.enabled_for("python")
