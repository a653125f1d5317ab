"""Variants: named sets of settings to compare.

On the command line: ``--variant name:key=value,key=value``, e.g.
``--variant fast:model=codestral-2508,maxTokens=64``.  In a file (TOML or JSON)::

    [variants.latest]
    model = "codestral-latest"

    [variants.local]
    backend = "ollama"
    endpoint = "http://localhost:11434"
    model = "codestral:22b"

Keys are the server's settings keys (``endpoint``, ``backend``, ``model``, ``maxTokens``,
``prefixChars``...); values are parsed as JSON when they can be (numbers, ``true``) and taken as
text otherwise.  ``context=on|off`` switches the code from other files (the ``context.enable``
setting) on or off, for an ablation.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..settings import Settings, parse_settings

__all__ = [
    "Variant",
    "VariantError",
    "load_variants_file",
    "parse_variant",
    "resolve_settings",
    "supports_context",
]

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$")
ON = {"on", "true", "yes", "1"}
OFF = {"off", "false", "no", "0"}


class VariantError(ValueError):
    """A variant that cannot be used, with a sentence saying why."""


@dataclass(frozen=True)
class Variant:
    name: str
    settings: Mapping[str, Any]
    """Settings keys (camelCase) this variant sets over the base settings."""
    context: bool | None = None
    """``context=on|off``; None leaves the settings as they are."""

    def fingerprint(self, base: Mapping[str, Any]) -> str:
        """Changes when what the variant sends changes (results of another one are not reused)."""
        blob = json.dumps(
            {"base": base, "settings": self.settings, "context": self.context},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha1(blob.encode("utf-8")).hexdigest()[:12]

    def describe(self) -> str:
        parts = [f"{key}={value}" for key, value in self.settings.items() if key != "apiKey"]
        if self.context is not None:
            parts.append(f"context={'on' if self.context else 'off'}")
        return ", ".join(parts)


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _context(value: Any, name: str) -> bool:
    text = str(value).strip().lower()
    if text in ON:
        return True
    if text in OFF:
        return False
    raise VariantError(f"variant {name!r}: context must be on or off, not {value!r}")


def _make(name: str, items: Mapping[str, Any]) -> Variant:
    if not NAME.match(name):
        raise VariantError(
            f"variant name {name!r}: use letters, digits and _ . @ + - (no spaces or colons)"
        )
    settings: dict[str, Any] = {}
    context: bool | None = None
    for key, value in items.items():
        if key == "context" and not isinstance(value, Mapping):
            context = _context(value, name)
        elif key == "apiKey":
            raise VariantError(
                f"variant {name!r}: give keys in the environment (CODESTRAL_API_KEY or "
                "MISTRAL_API_KEY), not in a variant, so they never land in a results file"
            )
        else:
            settings[key] = value
    return Variant(name, settings, context)


def parse_variant(spec: str) -> Variant:
    """``name:key=value,key=value`` (``name`` alone: the base settings unchanged)."""
    name, _, rest = spec.partition(":")
    name = name.strip()
    items: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise VariantError(f"variant {name!r}: expected key=value, got {part!r}")
        items[key.strip()] = _value(value.strip())
    return _make(name, items)


def load_variants_file(path: Path) -> list[Variant]:
    """Variants from a TOML or JSON file: ``{"variants": {name: {settings}}}`` or a list of
    ``{"name": ..., settings...}`` under ``variants``."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as error:
        raise VariantError(f"cannot read {path}: {error.strerror or error}") from error
    try:
        if path.suffix.lower() == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            data: Any = tomllib.loads(raw)
        else:
            data = json.loads(raw)
    except ValueError as error:
        raise VariantError(
            f"{path} is not valid {path.suffix.lstrip('.').upper()}: {error}"
        ) from error
    entries = data.get("variants") if isinstance(data, Mapping) else data
    variants: list[Variant] = []
    if isinstance(entries, Mapping):
        for name, items in entries.items():
            if not isinstance(items, Mapping):
                raise VariantError(f"{path}: variant {name!r} must be a table of settings")
            variants.append(_make(str(name), items))
    elif isinstance(entries, list):
        for items in entries:
            if not isinstance(items, Mapping) or not isinstance(items.get("name"), str):
                raise VariantError(f"{path}: each variant needs a 'name'")
            rest = {k: v for k, v in items.items() if k != "name"}
            variants.append(_make(items["name"], rest))
    else:
        raise VariantError(f"{path}: expected a 'variants' table or list")
    return variants


def supports_context() -> bool:
    """Whether this version has cross-file context settings (``context.enable``)."""
    return any(f.name == "context" for f in fields(Settings))


def resolve_settings(
    variant: Variant, base: Mapping[str, Any], *, forced: Mapping[str, Any] | None = None
) -> Settings:
    """The variant's settings over ``base``; an unknown key or a bad value is an error (a run
    with a value silently replaced by its default would measure something else)."""
    known = {f.name for f in fields(Settings)}
    for key in variant.settings:
        if key not in known:
            raise VariantError(f"variant {variant.name!r}: unknown setting {key!r}")
    merged: dict[str, Any] = {**base, **variant.settings}
    if variant.context is not None and supports_context():
        current = merged.get("context")
        merged["context"] = {
            **(current if isinstance(current, Mapping) else {}),
            "enable": variant.context,
        }
    merged.update(forced or {})
    settings, problems = parse_settings(merged)
    if problems:
        raise VariantError(f"variant {variant.name!r}: {problems[0]}")
    return settings


def check_unique(variants: Sequence[Variant]) -> None:
    seen: set[str] = set()
    for variant in variants:
        if variant.name in seen:
            raise VariantError(f"two variants are named {variant.name!r}")
        seen.add(variant.name)
