"""The VS Code extension's settings mirror the server's Settings, so the two cannot drift.

When this fails after a change to codestral_ls/settings.py, run
``.venv/bin/python editors/vscode/scripts/sync_settings.py`` and commit package.json.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from jsonschema import Draft7Validator

from codestral_ls.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
EXTENSION = ROOT / "editors" / "vscode"
SYNC_HINT = "run: .venv/bin/python editors/vscode/scripts/sync_settings.py"
#: Schema keywords VS Code adds to JSON schema.
VSCODE_KEYWORDS = {"order", "markdownDescription", "scope", "enumDescriptions", "tags"}


def load_sync() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "sync_settings", EXTENSION / "scripts" / "sync_settings.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return json.loads((EXTENSION / "package.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def properties(manifest: dict[str, Any]) -> dict[str, Any]:
    return manifest["contributes"]["configuration"]["properties"]


def offered_fields() -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(Settings) if f.name not in ("apiKey", "enableLanguages")]


def default_of(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        value = field.default
    else:
        assert field.default_factory is not dataclasses.MISSING
        value = field.default_factory()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return json.loads(json.dumps(value))  # tuples become lists, as in JSON


@pytest.mark.parametrize("field", offered_fields(), ids=lambda f: f.name)
def test_every_server_setting_is_offered_with_the_same_default(
    field: dataclasses.Field[Any], properties: dict[str, Any]
) -> None:
    key = f"codestral.{field.name}"
    assert key in properties, f"{key} is missing from package.json; {SYNC_HINT}"
    assert properties[key]["default"] == default_of(field), SYNC_HINT
    description = properties[key].get("markdownDescription") or properties[key].get("description")
    assert description, f"{key} has no description"


def test_the_api_key_is_never_a_setting(properties: dict[str, Any]) -> None:
    assert "codestral.apiKey" not in properties
    assert not [key for key in properties if "key" in key.lower().rsplit(".", 1)[-1]]


def test_no_setting_the_server_does_not_know(properties: dict[str, Any]) -> None:
    known = {f"codestral.{f.name}" for f in offered_fields()}
    extension_own = ("codestral.server.", "codestral.trace.")
    stale = [key for key in properties if key not in known and not key.startswith(extension_own)]
    assert stale == [], f"package.json offers settings the server lacks: {stale}; {SYNC_HINT}"


def test_types_bounds_and_descriptions_match_settings_py(properties: dict[str, Any]) -> None:
    expected = load_sync().merged_properties(properties)
    assert properties == expected, SYNC_HINT


def test_the_extension_offers_its_own_server_settings(properties: dict[str, Any]) -> None:
    for key in ("codestral.server.path", "codestral.server.pythonPath"):
        assert key in properties
        assert properties[key]["default"] is None


def test_all_defaults_are_valid_under_their_schemas(properties: dict[str, Any]) -> None:
    for key, prop in properties.items():
        schema = {k: v for k, v in prop.items() if k not in VSCODE_KEYWORDS}
        errors = [e.message for e in Draft7Validator(schema).iter_errors(prop["default"])]
        assert errors == [], key


def test_manifest_has_what_packaging_needs(manifest: dict[str, Any]) -> None:
    for field in ("name", "publisher", "license", "repository", "version", "engines", "main"):
        assert manifest.get(field), field
    assert manifest["main"] == "./out/extension.js"
    assert (EXTENSION / "LICENSE").is_file()
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert "node_modules/" in ignored and "*.vsix" in ignored
    assert (EXTENSION / "package-lock.json").is_file()
