"""Settings: merging, validation and connection resolution."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from codestral_ls.settings import (
    CODESTRAL_ENDPOINT,
    MISTRAL_ENDPOINT,
    Environment,
    Settings,
    field_docs,
    parse_settings,
    resolve_connection,
    resolve_settings,
)


def test_defaults() -> None:
    settings, problems = parse_settings()
    assert problems == []
    assert settings == Settings()
    assert settings.model == "codestral-latest"
    assert settings.prefixChars / settings.suffixChars == pytest.approx(3, rel=0.01)


def test_every_field_has_a_docstring() -> None:
    docs = field_docs()
    for field in dataclasses.fields(Settings):
        assert docs.get(field.name), f"{field.name} has no docstring"


def test_later_sources_win_and_nesting_is_accepted() -> None:
    settings, problems = parse_settings(
        {"codestral": {"model": "a", "maxTokens": 10}}, {"maxTokens": 20}, None
    )
    assert problems == []
    assert (settings.model, settings.maxTokens) == ("a", 20)


def test_unknown_keys_are_ignored() -> None:
    settings, problems = parse_settings({"someFutureKey": 1, "model": "x"})
    assert problems == [] and settings.model == "x"


@pytest.mark.parametrize(
    "key, value, default_text",
    [
        ("maxTokens", "many", "256"),
        ("maxTokens", 0, "256"),
        ("maxTokens", 1.5, "256"),
        ("maxTokens", True, "256"),
        ("temperature", 3, "0.0"),
        ("temperature", float("nan"), "0.0"),
        ("debounceMs", -5, "150"),
        ("endpoint", "ftp://example.com", "unset"),
        ("endpoint", 42, "unset"),
        ("model", "", "codestral-latest"),
        ("model", "two\nlines", "codestral-latest"),
        ("stop", [1, 2], "[]"),
        ("enable", "yes", "true"),
        ("requestTimeoutMs", 1, "5000"),
    ],
)
def test_bad_values_name_the_key_and_the_default(
    key: str, value: object, default_text: str
) -> None:
    settings, problems = parse_settings({key: value, "chatModel": "mistral-large-latest"})
    [problem] = problems
    assert f"'{key}'" in problem
    assert f"default ({default_text})" in problem
    assert getattr(settings, key) == getattr(Settings(), key)
    assert settings.chatModel == "mistral-large-latest"  # good keys still apply


def test_enable_per_language() -> None:
    settings, _ = parse_settings({"enable": {"*": False, "python": True}})
    assert settings.enabled_for("python")
    assert not settings.enabled_for("markdown")
    assert not settings.enabled_for(None)


def test_stop_accepts_a_single_string() -> None:
    settings, _ = parse_settings({"stop": "\n\n"})
    assert settings.stop == ("\n\n",)


def test_endpoint_is_normalised() -> None:
    settings, _ = parse_settings({"endpoint": "http://localhost:8080/ "})
    assert settings.endpoint == "http://localhost:8080"


@pytest.mark.parametrize(
    "env, endpoint, source",
    [
        ({"CODESTRAL_API_KEY": "c"}, CODESTRAL_ENDPOINT, "CODESTRAL_API_KEY"),
        ({"MISTRAL_API_KEY": "m"}, MISTRAL_ENDPOINT, "MISTRAL_API_KEY"),
        ({"CODESTRAL_API_KEY": "c", "MISTRAL_API_KEY": "m"}, MISTRAL_ENDPOINT, "MISTRAL_API_KEY"),
        ({}, MISTRAL_ENDPOINT, None),
        ({"CODESTRAL_API_KEY": "  "}, MISTRAL_ENDPOINT, None),
        (
            {
                "CODESTRAL_API_KEY": "c",
                "MISTRAL_API_KEY": "m",
                "CODESTRAL_ENDPOINT": "https://codestral.mistral.ai/",
            },
            CODESTRAL_ENDPOINT,
            "CODESTRAL_API_KEY",
        ),
        (
            {"MISTRAL_API_KEY": "m", "CODESTRAL_ENDPOINT": "http://127.0.0.1:9"},
            "http://127.0.0.1:9",
            "MISTRAL_API_KEY",
        ),
    ],
)
def test_connection_from_environment(
    env: dict[str, str], endpoint: str, source: str | None
) -> None:
    connection = resolve_connection(Settings(), Environment.from_mapping(env))
    assert connection.endpoint == endpoint
    assert connection.key_source == source


def test_settings_override_environment() -> None:
    env = Environment.from_mapping({"CODESTRAL_API_KEY": "c", "CODESTRAL_ENDPOINT": "http://x:1"})
    settings, _ = parse_settings({"endpoint": "https://api.mistral.ai", "apiKey": "k"})
    connection = resolve_connection(settings, env)
    assert (connection.endpoint, connection.api_key, connection.key_source) == (
        "https://api.mistral.ai",
        "k",
        "apiKey",
    )


def test_readme_lists_every_setting() -> None:
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for name in field_docs():
        if name != "enableLanguages":
            assert f"| `{name}` |" in readme, f"README's settings table lacks {name}"


def test_language_overrides() -> None:
    settings, problems = parse_settings(
        {
            "maxTokens": 200,
            "languages": {
                "markdown": {"maxTokens": 64, "model": "codestral-2508", "enable": False},
                "python": {"temperature": 9, "stop": ["\n\n"], "color": "red"},
                "go": "fast",
            },
        }
    )
    assert len(problems) == 3
    assert any("'languages.python.temperature'" in p for p in problems)
    assert any("'languages.python.color'" in p for p in problems)
    assert any("'languages.go'" in p for p in problems)
    markdown = settings.for_language("markdown")
    assert (markdown.maxTokens, markdown.model) == (64, "codestral-2508")
    assert not markdown.enabled_for("markdown")
    python = settings.for_language("python")
    assert python.stop == ("\n\n",) and python.temperature == 0.0 and python.maxTokens == 200
    assert settings.for_language("rust") is settings
    assert settings.for_language(None) is settings


def test_languages_must_be_an_object() -> None:
    settings, [problem] = parse_settings({"languages": ["markdown"]})
    assert "'languages'" in problem
    assert settings.languages == {}


# --- resolve_settings: the five layers, as a table ---------------------------------------------

CODESTRAL = Environment(codestral_api_key="c-key")
BOTH = Environment(codestral_api_key="c-key", mistral_api_key="m-key")
LOCAL = Environment(endpoint="http://localhost:11434")
REMEMBERED = {
    "https://codestral.mistral.ai": {"completion": "codestral-2508", "chat": "codestral-2405"},
    "https://api.mistral.ai": {"chat": "mistral-large-latest"},
    "http://localhost:11434": {"completion": "qwen2.5-coder:latest"},
    "http://localhost:8080": {"completion": "model.gguf"},
}


@pytest.mark.parametrize(
    ("env", "init", "workspace", "expected"),
    [
        # defaults: api.mistral.ai without any key
        (
            Environment(),
            None,
            None,
            ("https://api.mistral.ai", "mistral", None, "codestral-latest", "mistral-large-latest"),
        ),
        # the environment: the Codestral key alone picks codestral.mistral.ai (and its choices)
        (
            CODESTRAL,
            None,
            None,
            (
                "https://codestral.mistral.ai",
                "mistral",
                "CODESTRAL_API_KEY",
                "codestral-2508",
                "codestral-2405",
            ),
        ),
        # both keys: api.mistral.ai with the Mistral key; its own remembered chat model
        (
            BOTH,
            None,
            None,
            (
                "https://api.mistral.ai",
                "mistral",
                "MISTRAL_API_KEY",
                "codestral-latest",
                "mistral-large-latest",
            ),
        ),
        # CODESTRAL_ENDPOINT at Ollama's port: ollama, no key needed, Ollama's choice
        (
            LOCAL,
            None,
            None,
            ("http://localhost:11434", "ollama", None, "qwen2.5-coder:latest", None),
        ),
        # initializationOptions win over the environment; the endpoint written differently
        # still finds the choices made on it
        (
            CODESTRAL,
            {"endpoint": "http://localhost:11434/api/"},
            None,
            ("http://localhost:11434", "ollama", "CODESTRAL_API_KEY", "qwen2.5-coder:latest", None),
        ),
        # workspace configuration wins over initializationOptions
        (
            LOCAL,
            {"endpoint": "http://localhost:11434"},
            {"codestral": {"endpoint": "http://localhost:8080", "backend": "openai"}},
            ("http://localhost:8080", "openai", None, "model.gguf", None),
        ),
        # an explicit model setting pins it: the remembered choice does not apply
        (
            CODESTRAL,
            {"model": "codestral-2501"},
            None,
            (
                "https://codestral.mistral.ai",
                "mistral",
                "CODESTRAL_API_KEY",
                "codestral-2501",
                "codestral-2405",
            ),
        ),
        (
            CODESTRAL,
            None,
            {"chatModel": "my-chat", "model": None},
            (
                "https://codestral.mistral.ai",
                "mistral",
                "CODESTRAL_API_KEY",
                "codestral-2508",
                "my-chat",
            ),
        ),
        # apiKey in the settings beats the environment's keys
        (
            BOTH,
            {"apiKey": "s-key", "endpoint": "https://codestral.mistral.ai"},
            None,
            (
                "https://codestral.mistral.ai",
                "mistral",
                "apiKey",
                "codestral-2508",
                "codestral-2405",
            ),
        ),
    ],
)
def test_resolve_settings_layers(
    env: Environment, init: Any, workspace: Any, expected: tuple[Any, ...]
) -> None:
    endpoint, backend, key_source, model, chat = expected
    resolved = resolve_settings(env, init, workspace, REMEMBERED)
    assert resolved.endpoint_key == endpoint
    assert resolved.backend == backend
    assert resolved.connection.key_source == key_source
    assert resolved.settings.model == model
    default_chat = Settings().chatModel
    assert resolved.settings.chatModel == (chat or default_chat)
    assert resolved.problems == ()


def test_resolve_settings_reports_problems_and_pins() -> None:
    resolved = resolve_settings(
        Environment(), {"maxTokens": "many", "model": "m1"}, {"temperature": 9}
    )
    assert resolved.settings.maxTokens == Settings().maxTokens
    assert [p.split("'")[1] for p in resolved.problems] == ["maxTokens", "temperature"]
    # A refused value falls back to the default and pins nothing (issue 12).
    assert resolved.pinned == frozenset({"model"})


def test_resolve_settings_is_pure() -> None:
    init = {"codestral": {"model": "a"}}
    remembered = {"https://api.mistral.ai": {"chat": "b"}}
    first = resolve_settings(Environment(), init, None, remembered)
    assert resolve_settings(Environment(), init, None, remembered) == first
    assert init == {"codestral": {"model": "a"}}
    assert remembered == {"https://api.mistral.ai": {"chat": "b"}}


def test_a_refused_model_value_pins_nothing() -> None:
    # Issue 12: a refused `model` made the picker say the default was "pinned" by the setting.
    from codestral_ls.settings import explicit_keys

    assert "model" not in explicit_keys({"model": "two\nlines"})
    assert "model" in explicit_keys({"model": "/models/codestral-22b.Q4_K_M.gguf"})
    settings, problems = parse_settings({"model": "/models/codestral-22b.Q4_K_M.gguf"})
    assert settings.model == "/models/codestral-22b.Q4_K_M.gguf" and problems == []


def test_a_context_object_counts_as_set_and_resolves() -> None:
    # The merge of issues 11 and 15 once crashed here (KeyError: 'context').
    from codestral_ls.settings import explicit_keys

    assert "context" in explicit_keys({"context": {"enable": False}})
    resolved = resolve_settings(Environment(), {"context": {"enable": False}})
    assert resolved.settings.context.enable is False
    assert "context" in resolved.pinned
