#!/usr/bin/env python3
"""Write the server's settings into package.json's ``contributes.configuration``.

The server's :class:`codestral_ls.settings.Settings` is the single source: every field (except
``apiKey``, which lives in SecretStorage, and internal ones) becomes a ``codestral.<field>``
property with the same default, a JSON-schema type, the numeric bounds and the field's
docstring as its description.  The extension's own properties (``codestral.server.*``,
``codestral.trace.*``) are kept as they are.

Run from the repository root after changing settings.py::

    .venv/bin/python editors/vscode/scripts/sync_settings.py

``tests/test_vscode_manifest.py`` fails when package.json and settings.py disagree.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PACKAGE_JSON = HERE.parent / "package.json"
REPO = HERE.parent.parent.parent
sys.path.insert(0, str(REPO))

from codestral_ls import settings as server_settings  # noqa: E402

#: Fields never offered as VS Code settings.
EXCLUDED = frozenset({"apiKey", "enableLanguages"})
#: Property-name prefixes owned by the extension itself (kept untouched).
CLIENT_PREFIXES = ("codestral.server.", "codestral.trace.")
#: Schema details the type annotation cannot say.
OVERRIDES: dict[str, dict[str, Any]] = {
    "enable": {
        "type": ["boolean", "object"],
        "additionalProperties": {"type": "boolean"},
    },
    "languages": {
        "type": "object",
        "additionalProperties": {"type": "object"},
    },
    "context": {
        "type": "object",
        "properties": {
            "enable": {"type": "boolean"},
            "openFiles": {"type": "boolean"},
            "recentEdits": {"type": "boolean"},
            "imports": {"type": "boolean"},
            "embeddings": {"type": "boolean"},
            "share": {"type": "number", "minimum": 0, "maximum": 0.75},
            "maxSnippets": {"type": "integer", "minimum": 0, "maximum": 64},
            "embeddingModel": {"type": "string"},
        },
        "additionalProperties": False,
    },
    "trial": {
        "type": "object",
        "properties": {
            "models": {"type": "array", "items": {"type": "string"}},
            "split": {"type": "string", "enum": ["alternate", "day", "file"]},
            "endpoints": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "additionalProperties": False,
    },
}


def json_default(value: Any) -> Any:
    """A Settings default as JSON (tuples become lists, mappings objects)."""
    if isinstance(value, tuple):
        return [json_default(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): json_default(item) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: json_default(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def field_default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return json_default(field.default)
    if field.default_factory is not dataclasses.MISSING:
        return json_default(field.default_factory())
    return None


def schema_for(annotation: Any) -> dict[str, Any]:
    """A JSON-schema fragment for a type annotation of Settings."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        parts = [schema_for(arg) for arg in args if arg is not type(None)]
        nullable = type(None) in args
        if len(parts) == 1:
            schema = dict(parts[0])
            if nullable:
                kind = schema["type"]
                schema["type"] = [*(kind if isinstance(kind, list) else [kind]), "null"]
            return schema
        kinds: list[str] = []
        for part in parts:
            kind = part.get("type", "object")
            kinds.extend(kind if isinstance(kind, list) else [kind])
        if nullable:
            kinds.append("null")
        return {"type": kinds}
    if origin is typing.Literal:
        return {"type": "string", "enum": list(args)}
    if annotation is bool:
        return {"type": "boolean"}
    if annotation is int:
        return {"type": "integer"}
    if annotation is float:
        return {"type": "number"}
    if annotation is str:
        return {"type": "string"}
    if origin in (tuple, list) or annotation in (tuple, list):
        item = args[0] if args else Any
        return {"type": "array", "items": schema_for(item) if item is not Any else {}}
    return {"type": "object"}


def markdown(doc: str) -> str:
    """reStructuredText literals (``x``) as Markdown (`x`)."""
    return re.sub(r"``(.+?)``", r"`\1`", doc)


def server_properties() -> dict[str, dict[str, Any]]:
    """The ``codestral.*`` properties for the server's settings, in declaration order."""
    hints = typing.get_type_hints(server_settings.Settings)
    docs = server_settings.field_docs()
    bounds: Mapping[str, tuple[float, float]] = getattr(server_settings, "_BOUNDS", {})
    properties: dict[str, dict[str, Any]] = {}
    for order, field in enumerate(dataclasses.fields(server_settings.Settings)):
        if field.name in EXCLUDED:
            continue
        schema = schema_for(hints[field.name])
        schema.update(OVERRIDES.get(field.name, {}))
        choices = getattr(server_settings, "CHOICES", {}).get(field.name)
        if choices:  # settings.py may list the allowed values of a string setting
            schema["enum"] = list(choices)
        schema["default"] = field_default(field)
        if field.name in bounds:
            low, high = bounds[field.name]
            schema["minimum"] = low
            schema["maximum"] = high
        schema["order"] = order
        schema["markdownDescription"] = markdown(docs.get(field.name, field.name))
        properties[f"codestral.{field.name}"] = schema
    return properties


def merged_properties(current: Mapping[str, Any]) -> dict[str, Any]:
    """The server's properties followed by the extension's own, as package.json should have."""
    own = {key: value for key, value in current.items() if key.startswith(CLIENT_PREFIXES)}
    return {**server_properties(), **own}


def main() -> int:
    manifest = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))
    configuration = manifest["contributes"]["configuration"]
    updated = merged_properties(configuration["properties"])
    if updated == configuration["properties"]:
        print("package.json: settings already in sync")
        return 0
    configuration["properties"] = updated
    PACKAGE_JSON.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"package.json: wrote {len(updated)} settings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
