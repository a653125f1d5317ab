"""Rules for the fake API: which answer (or fault) a request gets.

A rules file is TOML or JSON (docs/testing.md)::

    default = "pass"                 # text when no rule matches (optional)

    [[rule]]
    prompt = "def add("              # substring of the prompt (chat: of the messages)
    text = "return a + b"

    [[rule]]
    suffix_regex = "^\\s*$"          # a regular expression, searched
    fault = "429"
    retry_after = 2
    times = 1                        # only the first matching request

Match keys (all given ones must match): ``prompt``/``prompt_regex``, ``suffix``/
``suffix_regex``, ``model`` (exact) and ``endpoint`` (``fim``, ``chat``, ``embeddings``).
Answer keys: ``text``, ``latency_ms``, ``finish_reason`` (``stop``, ``length``), ``fault``
and its knobs ``retry_after`` (seconds, for ``429``) and ``token_delay_ms`` (for
``slow_stream``), and ``times`` (how many requests the rule answers; unset: all).

Faults: ``429`` (with ``Retry-After``), a 5xx status (``500``, ``502``, ``503``, ``504``),
``hang`` (never answers), ``reset`` (the connection is reset before any answer), ``garbage``
(a 200 whose body or events are not JSON), ``slow_stream`` (tokens ``token_delay_ms`` apart),
and the Mistral fake's stream faults (``reset_after:N``, ``truncate_after:N``,
``end_after:N``, ``cut_event``, ``html``, ``not_json``).

The first rule that matches wins; the order is the file's.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = [
    "FAULTS",
    "Rule",
    "RuleError",
    "RuleSet",
    "load_rules",
    "request_texts",
]

#: Faults every fake answers before reading its own answer (any flavor).
EARLY_FAULTS = frozenset({"429", "500", "502", "503", "504", "hang", "reset"})
#: Faults the Mistral fake applies to its answer (garbage: the other flavors too).
ANSWER_FAULTS = frozenset({"garbage", "slow_stream", "cut_event", "html", "not_json"})
#: Stream faults taking a count.
_COUNTED = ("reset_after", "truncate_after", "end_after")
FAULTS = EARLY_FAULTS | ANSWER_FAULTS | {f"{name}:N" for name in _COUNTED}
_ENDPOINTS = ("fim", "chat", "embeddings")
_FINISH = ("stop", "length")


class RuleError(ValueError):
    """A rules file or rule that cannot be used (the message says where and why)."""


def _valid_fault(fault: str) -> bool:
    if fault in EARLY_FAULTS or fault in ANSWER_FAULTS:
        return True
    name, _, count = fault.partition(":")
    return name in _COUNTED and count.isdigit()


@dataclass
class Rule:
    """One rule: what to match and how to answer (see the module doc)."""

    prompt: str | None = None
    prompt_regex: str | None = None
    suffix: str | None = None
    suffix_regex: str | None = None
    model: str | None = None
    endpoint: str | None = None
    text: str | None = None
    latency_ms: float = 0.0
    finish_reason: str | None = None
    fault: str | None = None
    retry_after: float = 1.0
    token_delay_ms: float = 200.0
    times: int | None = None
    _prompt_re: re.Pattern[str] | None = field(default=None, init=False, repr=False)
    _suffix_re: re.Pattern[str] | None = field(default=None, init=False, repr=False)
    used: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.fault is not None:
            self.fault = str(self.fault)
            if not _valid_fault(self.fault):
                raise RuleError(
                    f"unknown fault {self.fault!r}; one of: {', '.join(sorted(FAULTS))}"
                )
        if self.endpoint is not None and self.endpoint not in _ENDPOINTS:
            raise RuleError(f"endpoint must be one of {', '.join(_ENDPOINTS)}")
        if self.finish_reason is not None and self.finish_reason not in _FINISH:
            raise RuleError(f"finish_reason must be one of {', '.join(_FINISH)}")
        if self.latency_ms < 0 or self.token_delay_ms < 0 or self.retry_after < 0:
            raise RuleError("latency_ms, token_delay_ms and retry_after must be >= 0")
        if self.times is not None and self.times < 1:
            raise RuleError("times must be at least 1")
        try:
            self._prompt_re = re.compile(self.prompt_regex) if self.prompt_regex else None
            self._suffix_re = re.compile(self.suffix_regex) if self.suffix_regex else None
        except re.error as error:
            raise RuleError(f"bad regular expression: {error}") from error

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Rule:
        """A rule from a file's table; unknown keys and wrong types are errors."""
        if not isinstance(data, Mapping):
            raise RuleError("a rule must be a table/object")
        known = {f.name: f for f in fields(cls) if f.init}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise RuleError(f"unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name in ("latency_ms", "retry_after", "token_delay_ms"):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise RuleError(f"{name} must be a number")
                values[name] = float(value)
            elif name == "times":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise RuleError("times must be an integer")
                values[name] = value
            elif name == "fault" and isinstance(value, int) and not isinstance(value, bool):
                values[name] = str(value)
            elif not isinstance(value, str):
                raise RuleError(f"{name} must be a string")
            else:
                values[name] = value
        return cls(**values)

    def matches(self, kind: str, prompt: str, suffix: str, model: str) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        if self.endpoint is not None and self.endpoint != kind:
            return False
        if self.model is not None and self.model != model:
            return False
        if self.prompt is not None and self.prompt not in prompt:
            return False
        if self.suffix is not None and self.suffix not in suffix:
            return False
        if self._prompt_re is not None and not self._prompt_re.search(prompt):
            return False
        return not (self._suffix_re is not None and not self._suffix_re.search(suffix))


def request_texts(body: Mapping[str, Any] | None) -> tuple[str, str, str, str]:
    """(kind, prompt, suffix, model) of a request body of any flavor: Mistral/OpenAI/Ollama
    ``prompt``/``suffix``, llama.cpp ``input_prefix``/``input_suffix``, chat ``messages``
    (their text contents, joined by newlines), embeddings ``input``."""
    if not isinstance(body, Mapping):
        return "", "", "", ""
    model = str(body.get("model") or "")
    messages = body.get("messages")
    if isinstance(messages, list):
        contents = [m.get("content") for m in messages if isinstance(m, dict)]
        return "chat", "\n".join(c for c in contents if isinstance(c, str)), "", model
    if "input_prefix" in body or "input_suffix" in body:
        prefix, suffix = body.get("input_prefix"), body.get("input_suffix")
        return "fim", str(prefix or ""), str(suffix or ""), model
    if "prompt" in body:
        return "fim", str(body.get("prompt") or ""), str(body.get("suffix") or ""), model
    if "input" in body:
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        return "embeddings", "\n".join(str(t) for t in texts), "", model
    return "", "", "", model


class RuleSet:
    """An ordered list of rules and a default text; thread-safe (the fakes answer in threads)."""

    def __init__(self, rules: Iterable[Rule] = (), default: str | None = None) -> None:
        self._lock = threading.Lock()
        self._taken = threading.local()  # the rule of the request this thread answers
        self.rules: list[Rule] = list(rules)
        self.default = default

    def __bool__(self) -> bool:
        return bool(self.rules) or self.default is not None

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.default = None

    def take(self, body: Mapping[str, Any] | None) -> Rule | None:
        """The first rule matching ``body``, counted as used (``times``)."""
        self._taken.rule = None
        kind, prompt, suffix, model = request_texts(body)
        if not kind:
            return None
        with self._lock:
            for rule in self.rules:
                if rule.matches(kind, prompt, suffix, model):
                    rule.used += 1
                    self._taken.rule = rule
                    return rule
        return None

    def text_source(
        self, fallback: str | Callable[[dict[str, Any]], str] = "pass"
    ) -> Callable[[dict[str, Any]], str]:
        """A ``fim_text``/``chat_text`` callable for a fake whose ``rules`` is this set: the
        text of the rule its :meth:`take` found for the request being answered, else the
        default, else ``fallback``.  (The Mistral fake reads its rules itself.)"""

        def source(body: dict[str, Any]) -> str:
            rule: Rule | None = getattr(self._taken, "rule", None)
            if rule is not None and rule.text is not None:
                return rule.text
            if self.default is not None:
                return self.default
            return str(fallback(body)) if callable(fallback) else str(fallback)

        return source


def _load_toml(text: str) -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib.loads(text)


def parse_rules(data: Any, where: str = "rules") -> RuleSet:
    """A rule set from parsed TOML/JSON: ``{"default": ..., "rule"|"rules": [...]}`` or a list."""
    if isinstance(data, list):
        data = {"rules": data}
    if not isinstance(data, dict):
        raise RuleError(f"{where}: expected a table with [[rule]] entries or a list of rules")
    unknown = sorted(set(data) - {"default", "rule", "rules"})
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {', '.join(unknown)} (default, rule, rules)")
    default = data.get("default")
    if default is not None and not isinstance(default, str):
        raise RuleError(f"{where}: default must be a string")
    entries = [*(data.get("rule") or []), *(data.get("rules") or [])]
    rules: list[Rule] = []
    for index, entry in enumerate(entries, 1):
        try:
            rules.append(Rule.from_mapping(entry))
        except RuleError as error:
            raise RuleError(f"{where}: rule {index}: {error}") from None
    return RuleSet(rules, default)


def load_rules(path: str | Path) -> RuleSet:
    """Read a rules file: JSON if it ends in ``.json``, TOML otherwise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RuleError(f"{path}: cannot read ({error.strerror})") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else _load_toml(text)
    except ValueError as error:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        raise RuleError(
            f"{path}: not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {error}"
        ) from None
    return parse_rules(data, str(path))
