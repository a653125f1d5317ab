"""Typed settings for codestral-ls, resolved from their layers in one place.

Settings come from five layers, lowest priority first:

1. the defaults below;
2. the environment (``CODESTRAL_API_KEY``, ``MISTRAL_API_KEY``, ``CODESTRAL_ENDPOINT``);
3. ``initializationOptions`` (either flat or nested under ``"codestral"``);
4. the ``codestral`` section of ``workspace/configuration``;
5. the models picked with ``codestral.selectModel`` on the endpoint in use (remembered per
   endpoint), unless layer 3 or 4 sets ``model`` / ``chatModel`` explicitly.

:func:`resolve_settings` is the one pure function that merges them.

Keys are camelCase, as editors write them.  A value of the wrong type or out of range never
stops the server: the default is used and :func:`parse_settings` reports one problem naming
the key and the default.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from .backends import LOCAL_KINDS, concrete_kind, endpoint_key
from .languages import canonical as canonical_language
from .privacy import is_loopback

SECTION = "codestral"
#: Which setting holds the model of each kind (``codestral.selectModel``'s ``kind``).
MODEL_SETTING = {"completion": "model", "chat": "chatModel"}


@dataclass(frozen=True)
class ContextSettings:
    """The ``context`` object: code from other files sent with a completion (docs/context.md)."""

    enable: bool = True
    openFiles: bool = True
    recentEdits: bool = True
    imports: bool = True
    embeddings: bool = False
    share: float = 0.25
    maxSnippets: int = 8
    embeddingModel: str = "codestral-embed"

    @property
    def any_source(self) -> bool:
        """Whether any source is on."""
        return self.enable and (
            self.openFiles or self.recentEdits or self.imports or self.embeddings
        )


#: How a trial divides requests between its models (docs/stats.md).
TRIAL_SPLITS = ("alternate", "day", "file")
#: Backend kinds a trial entry may name after ``@`` (``codestral:22b@ollama``).
TRIAL_BACKENDS = ("mistral", "ollama", "openai", "llamacpp")


@dataclass(frozen=True)
class TrialSettings:
    """The ``trial`` object: requests divided between models to compare them (docs/stats.md)."""

    models: tuple[str, ...] = ()
    split: str = "alternate"
    endpoints: Mapping[str, str] = field(default_factory=dict)
    """The endpoint of each backend kind named after ``@`` (default: the kind's usual port on
    this machine)."""

    @property
    def active(self) -> bool:
        """Whether a trial runs (two models or more)."""
        return len(self.models) >= 2


#: Bounds and kinds of the numeric keys of ``context``.
_CONTEXT_BOUNDS: dict[str, tuple[float, float]] = {"share": (0.0, 0.75), "maxSnippets": (0, 64)}
_CONTEXT_FLAGS = ("enable", "openFiles", "recentEdits", "imports", "embeddings")

#: ``requestTimeoutMs`` of a local backend when the setting is not given.
LOCAL_REQUEST_TIMEOUT_MS = 30_000

CODESTRAL_ENDPOINT = "https://codestral.mistral.ai"
MISTRAL_ENDPOINT = "https://api.mistral.ai"


@dataclass(frozen=True)
class Settings:
    """Every user-facing setting, with its default.  Attribute names are the camelCase keys."""

    endpoint: str | None = None
    """Base URL of the API.  Unset: ``https://codestral.mistral.ai`` when only
    ``CODESTRAL_API_KEY`` is set, otherwise ``https://api.mistral.ai``."""

    backend: str = "auto"
    """Which API the endpoint speaks: ``mistral`` (/v1/fim/completions), ``ollama``
    (/api/generate), ``openai`` (OpenAI-compatible /v1/completions), ``llamacpp`` (llama.cpp's
    llama-server, /infill), or ``auto``: the endpoint is asked once (/props, /api/tags,
    /v1/models) and, if nothing answers, its URL decides (a mistral.ai host is Mistral, port
    11434 Ollama, 8080/8012 llama.cpp, a /v1 URL or 1234/8000 OpenAI-compatible).  Local
    backends need no key."""

    apiKey: str | None = None
    """API key.  Accepted, but prefer the ``CODESTRAL_API_KEY`` or ``MISTRAL_API_KEY``
    environment variables so the key never lands in a settings file."""

    model: str = "codestral-latest"
    """Model used for fill-in-the-middle completions."""

    chatModel: str = "codestral-latest"
    """Model used for chat-based code actions."""

    maxTokens: int = 256
    """Most tokens generated for a multi-line completion (single-line completions use at most
    64)."""

    temperature: float = 0.0
    """Sampling temperature, 0 to 1.5.  0 gives the same answer for the same context."""

    stop: tuple[str, ...] = ()
    """Extra stop sequences sent with every completion request."""

    debounceMs: int = 150
    """Milliseconds to wait after the last keystroke before asking the model. Unset, VS Code
    (which debounces and cancels inline requests itself) gets a burst debounce instead: a
    keystroke after a pause asks at once, keystrokes inside a burst wait until the document has
    been quiet for 1.5 times the longest recent typing gap (75 to 400 ms)."""

    adaptiveDebounce: bool = False
    """Learn the typing rhythm and wait about 1.5 times the usual gap between keystrokes
    (75 to 600 ms) instead of ``debounceMs``."""

    prefixChars: int = 9000
    """Most characters of text before the cursor sent as the prompt (cut at a line boundary)."""

    suffixChars: int = 3000
    """Most characters of text after the cursor sent as the suffix (cut at a line boundary)."""

    requestTimeoutMs: int = 5000
    """Milliseconds before a completion request to the API is abandoned.  Unset, a local
    backend (Ollama, llama.cpp, OpenAI-compatible) gets 30000: a cold model on a CPU takes
    seconds to read a long prompt."""

    cacheSize: int = 256
    """Most completions kept for reuse (typing through a suggestion, coming back to a spot)."""

    cacheTtlSeconds: int = 600
    """Seconds a cached completion stays usable."""

    enable: bool = True
    """Completions on or off everywhere.  May also be an object of language ids, for example
    ``{"*": true, "markdown": false}``."""

    enableLanguages: Mapping[str, bool] = field(default_factory=dict)
    """Per-language on/off switches, filled from an object given as ``enable``."""

    exclude: tuple[str, ...] = ()
    """Extra glob patterns of files never sent upstream, added to the built-in list (.env,
    .env.*, *.pem, *.key, id_rsa*, *.p12, .npmrc, .netrc, credentials files...).  They follow
    .gitignore's rules: a pattern without "/" matches a file or directory name at any depth,
    ``**`` spans directories (``**/config/prod.yaml``), ``dir/`` excludes a whole directory,
    ``!pattern`` re-includes; case is ignored on Windows and macOS."""

    redactSecrets: bool = True
    """Replace obvious secrets (private keys, cloud tokens, ``password = "..."``) in the text
    sent upstream by ``[REDACTED]``."""

    allowInsecureHttp: bool = False
    """Allow a plain ``http://`` endpoint on another machine.  Plain HTTP to this machine
    (localhost, 127.0.0.1, ::1) is always allowed; TLS is always verified."""

    context: ContextSettings = field(default_factory=ContextSettings)
    """Code from other files sent before the prompt (docs/context.md): ``{"enable": true,
    "openFiles": true, "recentEdits": true, "imports": true, "embeddings": false, "share": 0.25,
    "maxSnippets": 8, "embeddingModel": "codestral-embed"}``.  ``share`` is the part of
    ``prefixChars`` given to it, on top of the prefix; ``embeddings`` (off by default) indexes
    the workspace with ``embeddingModel`` and costs tokens.  Missing keys keep their defaults."""

    languages: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per-language overrides of completion settings, by language id, for example
    ``{"markdown": {"model": "codestral-2508", "maxTokens": 64}}``.  Keys: model, maxTokens,
    temperature, stop, debounceMs, prefixChars, suffixChars, enable."""

    telemetry: bool = True
    """Record acceptance statistics (suggestions shown, accepted, typed through, latency) in a
    file under the state directory, read with ``codestral-ls stats``.  Never sent anywhere;
    no code or file names (docs/stats.md).  false: nothing is written."""

    trial: TrialSettings = field(default_factory=TrialSettings)
    """Compare models on real work: ``{"models": ["codestral-2508", "codestral:22b@ollama"],
    "split": "alternate"}`` sends each request to the next model ("alternate"), or one model
    per day ("day") or per file ("file"); ``model@kind`` is a model on a second backend of that
    kind (at ``endpoints.<kind>`` if given, else its usual local port).  Off with fewer than
    two models.  See docs/stats.md."""

    def for_language(self, language_id: str | None) -> Settings:
        """These settings with the overrides of ``language_id`` applied.

        The overrides are looked up under the id as sent, else under its LSP id
        (:func:`languages.canonical`: eglot's ``python-ts`` finds ``languages.python``)."""
        key = _language_key(self.languages, language_id)
        overrides = self.languages.get(key) if key else None
        if not overrides:
            return self
        values = dict(overrides)
        if "enable" in values:
            values["enableLanguages"] = {**self.enableLanguages, key: values.pop("enable")}
        return dataclasses.replace(self, **values)

    def enabled_for(self, language_id: str | None) -> bool:
        """Whether completions are on for a document of ``language_id`` (looked up like
        :meth:`for_language`)."""
        key = _language_key(self.enableLanguages, language_id)
        if key:
            return self.enableLanguages[key]
        return self.enable

    @property
    def request_timeout(self) -> float:
        """The request timeout in seconds."""
        return self.requestTimeoutMs / 1000.0


#: Bounds for numeric settings: (minimum, maximum), inclusive.
_BOUNDS: dict[str, tuple[float, float]] = {
    "maxTokens": (1, 8192),
    "temperature": (0.0, 1.5),
    "debounceMs": (0, 5000),
    "prefixChars": (0, 2_000_000),
    "suffixChars": (0, 2_000_000),
    "requestTimeoutMs": (100, 600_000),
    "cacheSize": (0, 100_000),
    "cacheTtlSeconds": (0, 86_400),
}

_KEYS = frozenset(f.name for f in dataclasses.fields(Settings)) - {"enableLanguages"}
#: Keys a per-language override may set.
LANGUAGE_KEYS = frozenset(
    {
        "model",
        "maxTokens",
        "temperature",
        "stop",
        "debounceMs",
        "prefixChars",
        "suffixChars",
        "enable",
    }
)


@cache
def field_docs() -> dict[str, str]:
    """The docstring written under each field of :class:`Settings`, keyed by field name."""
    tree = ast.parse(inspect.getsource(Settings))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


@dataclass(frozen=True)
class Environment:
    """The environment variables codestral-ls reads."""

    codestral_api_key: str | None = None
    mistral_api_key: str | None = None
    endpoint: str | None = None

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> Environment:
        """Read the variables from ``env`` (usually ``os.environ``); blank means unset."""

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        return cls(get("CODESTRAL_API_KEY"), get("MISTRAL_API_KEY"), get("CODESTRAL_ENDPOINT"))


@dataclass(frozen=True)
class Connection:
    """Where requests go and with which key, resolved from settings and environment."""

    endpoint: str
    api_key: str | None
    key_source: str | None
    """Where the key came from: ``CODESTRAL_API_KEY``, ``MISTRAL_API_KEY``, ``apiKey`` or None."""
    problem: str | None = None
    """Why nothing may be sent to this endpoint (plain HTTP to another machine), if so."""


def resolve_connection(settings: Settings, env: Environment) -> Connection:
    """Pick the endpoint and the matching key.

    Keys of codestral.mistral.ai and api.mistral.ai are different, so when both variables are
    set, the one that belongs to the endpoint wins.
    """
    endpoint = settings.endpoint or env.endpoint
    if endpoint is None:
        if env.codestral_api_key and not env.mistral_api_key:
            endpoint = CODESTRAL_ENDPOINT
        else:
            endpoint = MISTRAL_ENDPOINT
    endpoint = endpoint.rstrip("/")
    parts = urlsplit(endpoint)
    problem = None
    if (
        parts.scheme == "http"
        and not settings.allowInsecureHttp
        and not is_loopback(parts.hostname)
    ):
        problem = (
            f"codestral-ls: refusing to send code and the API key over plain HTTP to "
            f"{parts.hostname}; use https:// or set 'allowInsecureHttp' to true."
        )
    if settings.apiKey:
        return Connection(endpoint, settings.apiKey, "apiKey", problem)
    host = parts.hostname or ""
    ordered = [
        ("CODESTRAL_API_KEY", env.codestral_api_key),
        ("MISTRAL_API_KEY", env.mistral_api_key),
    ]
    if host != "codestral.mistral.ai":
        ordered.reverse()
    for name, value in ordered:
        if value:
            return Connection(endpoint, value, name, problem)
    return Connection(endpoint, None, None, problem)


@dataclass(frozen=True)
class Resolved:
    """Everything the layers decide: the settings, where requests go and what was wrong."""

    settings: Settings
    connection: Connection
    backend: str
    """The concrete backend kind (``"auto"`` resolved from the endpoint)."""
    endpoint_key: str
    """The endpoint as the backend normalises it: the key of the models remembered on it."""
    problems: tuple[str, ...]
    """One sentence per bad setting (see :func:`parse_settings`)."""
    pinned: frozenset[str]
    """The setting keys given explicitly by layer 3 or 4."""


def resolve_settings(
    env: Environment,
    initialization_options: Any = None,
    workspace_settings: Any = None,
    remembered: Mapping[str, Mapping[str, str]] | None = None,
    *,
    kind_of: Callable[[str, str], str] = concrete_kind,
) -> Resolved:
    """Merge the five layers (see the module docstring); pure.

    ``remembered``: endpoint key → kind (``"completion"``/``"chat"``) → model.
    ``kind_of(backend setting, endpoint)``: the concrete backend kind (the server passes what
    its probe of the endpoint found; by default the URL decides).  A local backend's
    ``requestTimeoutMs`` defaults to :data:`LOCAL_REQUEST_TIMEOUT_MS` unless it is set.
    """
    layers = (initialization_options, workspace_settings)
    settings, problems = parse_settings(*layers)
    connection = resolve_connection(settings, env)
    backend = kind_of(settings.backend, connection.endpoint)
    key = endpoint_key(backend, connection.endpoint)
    pinned = explicit_keys(*layers)
    chosen = (remembered or {}).get(key, {})
    overrides: dict[str, Any] = {
        MODEL_SETTING[kind]: model
        for kind, model in chosen.items()
        if kind in MODEL_SETTING and MODEL_SETTING[kind] not in pinned
    }
    if backend in LOCAL_KINDS and "requestTimeoutMs" not in pinned:
        # A cold model on a CPU reads a long prompt for seconds (docs/RELIABILITY.md).
        overrides["requestTimeoutMs"] = LOCAL_REQUEST_TIMEOUT_MS
    return Resolved(
        settings=dataclasses.replace(settings, **overrides),
        connection=connection,
        backend=backend,
        endpoint_key=key,
        problems=tuple(problems),
        pinned=pinned,
    )


def section_of(options: Any) -> Mapping[str, Any]:
    """Accept settings either flat or nested under ``"codestral"``; anything else is empty."""
    if not isinstance(options, Mapping):
        return {}
    nested = options.get(SECTION)
    if isinstance(nested, Mapping):
        return nested
    return options


#: Client names (``clientInfo.name``) of editors that debounce inline-completion requests
#: themselves and cancel superseded ones: VS Code and its builds (``vscode.env.appName``).
SELF_DEBOUNCING_CLIENTS = (
    "visual studio code",
    "visual-studio-code",
    "code - oss",
    "code-server",
    "vscodium",
)


def burst_debounce_by_default(client_name: str | None, inline_completion: bool) -> bool:
    """Whether a client gets the burst debounce instead of the fixed ``debounceMs`` default.

    VS Code waits before each inline-completion request and cancels the ones a keystroke
    supersedes; a second fixed wait on the server only adds latency.  Such clients get a
    debounce that asks at once after a pause and holds requests only inside typing bursts.
    """
    name = (client_name or "").strip().lower()
    return inline_completion and name.startswith(SELF_DEBOUNCING_CLIENTS)


def explicit_keys(*sources: Any) -> frozenset[str]:
    """The setting keys given a valid value (not null) in any of ``sources``.

    A value that is refused does not count: the default it falls back to pins nothing.
    """
    return frozenset(
        key
        for source in sources
        for key, value in section_of(source).items()
        if key in _KEYS and value is not None and _valid(key, value)
    )


def _valid(key: str, value: Any) -> bool:
    if key in ("languages", "context", "trial"):  # validated key by key (each bad key is told)
        return True
    try:
        _convert(key, value)
    except ValueError:
        return False
    return True


def parse_settings(*sources: Any) -> tuple[Settings, list[str]]:
    """Merge raw settings objects (later ones win) into :class:`Settings`.

    Returns the settings and a list of problems, one sentence per bad key, each naming the key
    and the default that is used instead.  Unknown keys are ignored silently: editors send
    settings of other versions.
    """
    merged: dict[str, Any] = {}
    for source in sources:
        for key, value in section_of(source).items():
            if key in _KEYS and value is not None:
                merged[key] = value

    defaults = Settings()
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, raw in merged.items():
        if key == "languages":
            values[key] = _languages(raw, problems)
            continue
        if key == "context":
            values[key] = _context(raw, problems)
            continue
        if key == "trial":
            values[key] = _trial(raw, problems)
            continue
        try:
            values.update(_convert(key, raw))
        except ValueError as exc:
            default = getattr(defaults, key)
            problems.append(
                f"codestral-ls: setting '{key}' {exc}; using the default ({_show(default)})."
            )
    return dataclasses.replace(defaults, **values), problems


def _languages(raw: Any, problems: list[str]) -> dict[str, dict[str, Any]]:
    """Validate ``languages``: each bad entry is reported and left out, the rest kept."""
    if not isinstance(raw, Mapping):
        problems.append(
            "codestral-ls: setting 'languages' must be an object of language ids, e.g. "
            '{"markdown": {"maxTokens": 64}}; no per-language overrides are used.'
        )
        return {}
    result: dict[str, dict[str, Any]] = {}
    for language, overrides in raw.items():
        if not isinstance(overrides, Mapping):
            problems.append(
                f"codestral-ls: setting 'languages.{language}' must be an object; it is ignored."
            )
            continue
        kept: dict[str, Any] = {}
        for key, value in overrides.items():
            name = f"languages.{language}.{key}"
            if key not in LANGUAGE_KEYS:
                problems.append(
                    f"codestral-ls: setting '{name}' is not a per-language setting (allowed: "
                    f"{', '.join(sorted(LANGUAGE_KEYS))}); it is ignored."
                )
                continue
            try:
                converted = _convert(key, value)
            except ValueError as exc:
                problems.append(f"codestral-ls: setting '{name}' {exc}; it is ignored.")
                continue
            if key == "enable" and not isinstance(value, bool):
                problems.append(f"codestral-ls: setting '{name}' must be true or false; ignored.")
                continue
            kept.update(converted)
        if kept:
            result[str(language)] = kept
    return result


def _context(raw: Any, problems: list[str]) -> ContextSettings:
    """Validate ``context``: each bad key is reported and keeps its default, the rest apply."""
    defaults = ContextSettings()
    if isinstance(raw, bool):
        return dataclasses.replace(defaults, enable=raw)
    if not isinstance(raw, Mapping):
        problems.append(
            "codestral: setting 'context' must be an object such as "
            '{"openFiles": true, "embeddings": false}; using the defaults.'
        )
        return defaults
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if value is None or key not in {f.name for f in dataclasses.fields(ContextSettings)}:
            continue
        default = getattr(defaults, key)
        if key in _CONTEXT_FLAGS:
            if isinstance(value, bool):
                values[key] = value
                continue
            problem = "must be true or false"
        elif key == "embeddingModel":
            if is_model_id(value) and isinstance(value, str):
                values[key] = value.strip()
                continue
            problem = "must be a model id such as 'codestral-embed'"
        else:
            low, high = _CONTEXT_BOUNDS[key]
            kind = int if isinstance(default, int) else float
            if (
                not isinstance(value, bool)
                and isinstance(value, (int, float))
                and math.isfinite(value)
                and low <= value <= high
                and (kind is float or value == int(value))
            ):
                values[key] = kind(value)
                continue
            problem = f"must be a number from {low:g} to {high:g}"
        problems.append(
            f"codestral: setting 'context.{key}' {problem}; using the default ({_show(default)})."
        )
    return dataclasses.replace(defaults, **values)


def _trial(raw: Any, problems: list[str]) -> TrialSettings:
    """Validate ``trial``: a bad key is reported and keeps its default; a bad model entry is
    reported and left out."""
    defaults = TrialSettings()
    if not isinstance(raw, Mapping):
        problems.append(
            "codestral-ls: setting 'trial' must be an object such as "
            '{"models": ["codestral-2508", "codestral:22b@ollama"], "split": "alternate"}; '
            "no trial runs."
        )
        return defaults
    values: dict[str, Any] = {}
    models = raw.get("models")
    if models is not None:
        if not isinstance(models, list):
            problems.append("codestral-ls: setting 'trial.models' must be a list; no trial runs.")
        else:
            kept: list[str] = []
            for entry in models:
                if isinstance(entry, str) and is_model_id(entry.strip()):
                    kept.append(entry.strip())
                else:
                    problems.append(
                        f"codestral-ls: setting 'trial.models' entry {entry!r} is not a model "
                        "such as 'codestral-2508' or 'codestral:22b@ollama'; it is ignored."
                    )
            values["models"] = tuple(dict.fromkeys(kept))
    split = raw.get("split")
    if split is not None:
        if isinstance(split, str) and split.strip().lower() in TRIAL_SPLITS:
            values["split"] = split.strip().lower()
        else:
            problems.append(
                f"codestral-ls: setting 'trial.split' must be {', '.join(TRIAL_SPLITS)}; "
                f"using the default ({defaults.split})."
            )
    endpoints = raw.get("endpoints")
    if endpoints is not None:
        good: dict[str, str] = {}
        if isinstance(endpoints, Mapping):
            for kind, url in endpoints.items():
                try:
                    converted = _convert("endpoint", url).get("endpoint")
                except ValueError:
                    converted = None
                if kind in TRIAL_BACKENDS and converted:
                    good[kind] = converted
                else:
                    problems.append(
                        f"codestral-ls: setting 'trial.endpoints.{kind}' must be an http(s) URL "
                        f"of a backend kind ({', '.join(TRIAL_BACKENDS)}); it is ignored."
                    )
        else:
            problems.append("codestral-ls: setting 'trial.endpoints' must be an object; ignored.")
        values["endpoints"] = good
    return dataclasses.replace(defaults, **values)


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[]" if not value else repr(list(value))
    return str(value)


#: Longest model id accepted (a long GGUF path fits).
MAX_MODEL_ID = 1024


def is_model_id(value: object) -> bool:
    """Whether ``value`` can be a model id: a non-empty string of printable characters.

    Servers name models as they like (``/models/codestral.Q4_K_M.gguf``,
    ``codestral:22b``, ``mistralai/codestral-22b-v0.1``, ``C:\\models\\x.gguf``); only
    the endpoint's list says whether one exists.
    """
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_MODEL_ID
        and value == value.strip()
        and value.isprintable()
    )


def _convert(key: str, raw: Any) -> dict[str, Any]:
    """Turn one raw value into the typed value(s) for ``key`` or raise ValueError."""
    if key == "endpoint":
        text = _string(raw).strip()
        if not text:
            return {}
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http(s) URL, got {text!r}")
        return {key: text.rstrip("/")}
    if key == "backend":
        text = _string(raw).strip().lower()
        if text not in ("auto", "mistral", "ollama", "openai", "llamacpp"):
            raise ValueError(f"must be auto, mistral, ollama, openai or llamacpp, got {raw!r}")
        return {key: text}
    if key == "apiKey":
        text = _string(raw).strip()
        return {key: text or None}
    if key in ("model", "chatModel"):
        # Whatever the server lists: a GGUF path (llama.cpp), name:tag (Ollama), org/model
        # (LM Studio)...  The endpoint's own list is the check, not a pattern.
        text = _string(raw).strip()
        if not is_model_id(text):
            raise ValueError(f"must be a model id such as 'codestral-latest', got {text!r}")
        return {key: text}
    if key in ("stop", "exclude"):
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not all(isinstance(s, str) and s for s in raw):
            raise ValueError("must be a list of non-empty strings")
        return {key: tuple(raw)}
    if key in ("adaptiveDebounce", "redactSecrets", "allowInsecureHttp", "telemetry"):
        if not isinstance(raw, bool):
            raise ValueError("must be true or false")
        return {key: raw}
    if key == "enable":
        if isinstance(raw, bool):
            return {key: raw}
        if isinstance(raw, Mapping) and all(
            isinstance(k, str) and isinstance(v, bool) for k, v in raw.items()
        ):
            per_language = {k: v for k, v in raw.items() if k != "*"}
            return {"enable": raw.get("*", True), "enableLanguages": per_language}
        raise ValueError('must be true, false or an object such as {"*": true, "markdown": false}')
    if key == "temperature":
        return {key: _number(key, raw, float)}
    return {key: _number(key, raw, int)}


def _string(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"must be a string, got {type(raw).__name__}")
    return raw


def _number(key: str, raw: Any, kind: type) -> Any:
    low, high = _BOUNDS[key]
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise ValueError(f"must be a number from {_show(low)} to {_show(high)}")
    if kind is int and (not math.isfinite(raw) or raw != int(raw)):
        raise ValueError(f"must be a whole number from {low:g} to {high:g}, got {raw}")
    if not (low <= raw <= high):
        raise ValueError(f"must be from {low:g} to {high:g}, got {raw}")
    return kind(raw)


def _language_key(table: Mapping[str, Any], language_id: str | None) -> str | None:
    """The key of ``table`` that applies to ``language_id``: the id as sent, else its LSP id."""
    if not language_id:
        return None
    if language_id in table:
        return language_id
    lsp_id = canonical_language(language_id)
    return lsp_id if lsp_id in table else None
