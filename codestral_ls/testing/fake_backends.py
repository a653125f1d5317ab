"""Fake self-hosted completion servers: real HTTP servers on 127.0.0.1 (see ``FakeServer`` in
:mod:`codestral_ls.testing.fake_mistral` for the shared machinery: recording, gates, ``fail_next``,
``wait_*``/``await_*``, abort and connection counters).

* :class:`FakeOllama` - Ollama's native API: ``POST /api/generate`` and ``POST /api/chat``
  (JSON or NDJSON stream), ``GET /api/tags``, ``POST /api/show`` (``model_info`` context
  length, ``parameters``), ``GET /api/ps`` (loaded models and their runtime
  ``context_length``), ``GET /`` ("Ollama is running"), ``GET /api/version``.
* :class:`FakeOpenAI` - an OpenAI-compatible server: ``POST /v1/completions`` and
  ``POST /v1/chat/completions`` (JSON or SSE), ``GET /v1/models``; ``flavor="llamacpp"`` is
  today's llama-server (``suffix`` accepted and silently ignored on ``/v1/completions``;
  ``/infill`` with ``input_extra``, ``/props``, ``/health``; the model listed by its GGUF path;
  the real 400 when a prompt exceeds ``n_ctx``); ``flavor="proxy"`` refuses ``suffix`` but
  forwards ``/infill`` (older llama-server builds, proxies); ``flavor="vllm"`` refuses
  ``suffix`` and has no ``/infill``.

Like the real servers they are lenient: unknown fields are accepted.  Every request is still
checked against the fields the real server knows and their types; what looks wrong lands in
``Recorded.errors`` (wrong types are also answered with 400, as the real servers do), so tests
assert ``errors == []`` and the exact ``body``.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any

from .fake_mistral import (
    FakeServer,
    Recorded,
    _embedding,
    _encode_body,
    _Handler,
    _pieces,
    _send,
    _send_json,
)

__all__ = [
    "EMBED_PATH",
    "GENERATE_PATH",
    "HEALTH_PATH",
    "INFILL_PATH",
    "LLAMACPP_MODEL_PATH",
    "OLLAMA_CHAT_PATH",
    "OPENAI_CHAT_PATH",
    "OPENAI_COMPLETIONS_PATH",
    "OPENAI_EMBEDDINGS_PATH",
    "OPENAI_MODELS_PATH",
    "PROPS_PATH",
    "TAGS_PATH",
    "FakeOllama",
    "FakeOpenAI",
    "default_ollama_models",
    "default_openai_models",
    "llamacpp_models",
]

GENERATE_PATH = "/api/generate"
OLLAMA_CHAT_PATH = "/api/chat"
TAGS_PATH = "/api/tags"
SHOW_PATH = "/api/show"
PS_PATH = "/api/ps"
VERSION_PATH = "/api/version"
OPENAI_COMPLETIONS_PATH = "/v1/completions"
OPENAI_EMBEDDINGS_PATH = "/v1/embeddings"
EMBED_PATH = "/api/embed"
OPENAI_MODELS_PATH = "/v1/models"
OPENAI_CHAT_PATH = "/v1/chat/completions"
INFILL_PATH = "/infill"
PROPS_PATH = "/props"
HEALTH_PATH = "/health"
#: llama-server lists its model by the path given to ``-m``.
LLAMACPP_MODEL_PATH = "/models/codestral-22b-v0.1.Q4_K_M.gguf"

TextSource = str | Callable[[dict[str, Any]], str]

# --------------------------------------------------------------------------------------------
# Field checks shared by both fakes

_NUMBER = (int, float)


def _is_number(value: Any) -> bool:
    return isinstance(value, _NUMBER) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_stop(value: Any) -> bool:
    return isinstance(value, str) or _is_str_list(value)


Checks = dict[str, Callable[[Any], bool]]


def _is_chat_message(value: Any) -> bool:
    """``{"role": "system" | "user" | "assistant" | "tool", "content": str}``."""
    return (
        isinstance(value, dict)
        and value.get("role") in ("system", "user", "assistant", "tool")
        and isinstance(value.get("content"), str)
    )


def _check_fields(
    body: Any, checks: Checks, *, required: tuple[str, ...], where: str = ""
) -> tuple[list[str], list[str]]:
    """(type errors, unknown fields) of ``body`` against ``checks``."""
    if not isinstance(body, dict):
        return [f"{where or 'body'}: expected a JSON object"], []
    problems = [f"{where}{name}: required" for name in required if name not in body]
    unknown: list[str] = []
    for name, value in body.items():
        check = checks.get(name)
        if check is None:
            unknown.append(f"{where}{name}: unknown field")
        elif value is not None and not check(value):
            problems.append(f"{where}{name}: wrong type {type(value).__name__}")
    return problems, unknown


def _cut(text: str, stops: list[str], limit: Any) -> tuple[list[str], str]:
    """Pieces of ``text`` up to the first stop and at most ``limit`` pieces; finish reason."""
    cuts = [text.find(stop) for stop in stops if stop and stop in text]
    if cuts:
        text = text[: min(cuts)]
    pieces = _pieces(text)
    if _is_int(limit) and limit >= 0 and len(pieces) > limit:
        return pieces[:limit], "length"
    return pieces, "stop"


def _stops_of(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _text(source: TextSource, body: dict[str, Any]) -> str:
    return str(source(body)) if callable(source) else str(source)


# --------------------------------------------------------------------------------------------
# Ollama

_OLLAMA_GENERATE: Checks = {
    "model": lambda v: isinstance(v, str),
    "prompt": lambda v: isinstance(v, str),
    "suffix": lambda v: isinstance(v, str),
    "images": _is_str_list,
    "format": lambda v: isinstance(v, (str, dict)),
    "options": lambda v: isinstance(v, dict),
    "system": lambda v: isinstance(v, str),
    "template": lambda v: isinstance(v, str),
    "context": lambda v: isinstance(v, list),
    "stream": lambda v: isinstance(v, bool),
    "raw": lambda v: isinstance(v, bool),
    "keep_alive": lambda v: isinstance(v, (str, int, float)) and not isinstance(v, bool),
    "think": lambda v: isinstance(v, (bool, str)),
    "logprobs": lambda v: isinstance(v, bool),
    "top_logprobs": _is_int,
}
_OLLAMA_CHAT: Checks = {
    "model": lambda v: isinstance(v, str),
    "messages": lambda v: isinstance(v, list) and all(_is_chat_message(m) for m in v),
    "tools": lambda v: isinstance(v, list),
    "format": lambda v: isinstance(v, (str, dict)),
    "options": lambda v: isinstance(v, dict),
    "stream": lambda v: isinstance(v, bool),
    "keep_alive": lambda v: isinstance(v, (str, int, float)) and not isinstance(v, bool),
    "think": lambda v: isinstance(v, (bool, str)),
    "logprobs": lambda v: isinstance(v, bool),
    "top_logprobs": _is_int,
}
_OLLAMA_OPTIONS: Checks = {
    "num_keep": _is_int,
    "seed": _is_int,
    "num_predict": _is_int,
    "top_k": _is_int,
    "top_p": _is_number,
    "min_p": _is_number,
    "typical_p": _is_number,
    "repeat_last_n": _is_int,
    "temperature": _is_number,
    "repeat_penalty": _is_number,
    "presence_penalty": _is_number,
    "frequency_penalty": _is_number,
    "stop": _is_str_list,
    "num_ctx": _is_int,
    "num_batch": _is_int,
    "num_gpu": _is_int,
    "main_gpu": _is_int,
    "use_mmap": lambda v: isinstance(v, bool),
    "num_thread": _is_int,
}


def default_ollama_models() -> list[dict[str, Any]]:
    """``/api/tags`` entries like a real Ollama with a few code models pulled."""

    def entry(name: str, family: str, size: str, quant: str = "Q4_0") -> dict[str, Any]:
        return {
            "name": name,
            "model": name,
            "modified_at": "2025-10-03T23:34:03.409490317-07:00",
            "size": 12569170041,
            "digest": "0898a8b286d5" + "0" * 52,
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": family,
                "families": [family],
                "parameter_size": size,
                "quantization_level": quant,
            },
        }

    return [
        entry("codestral:22b", "llama", "22.2B"),
        entry("qwen2.5-coder:latest", "qwen2", "7.6B", "Q4_K_M"),
        entry("llama3.2:latest", "llama", "3.2B", "Q4_K_M"),
        entry("nomic-embed-text:latest", "nomic-bert", "137M", "F16"),
        entry("codellama:7b-code", "llama", "7B"),
    ]


class FakeOllama(FakeServer):
    """A fake Ollama server (native API).

    Knobs: ``fim_text`` (str or ``callable(body) -> str``), ``models`` (``/api/tags``
    entries; a request for a model not listed - by name, or by name without ``:latest`` -
    gets 404 ``{"error": "model 'x' not found"}``), ``no_insert`` (model names whose template
    has no suffix support: a non-empty ``suffix`` gets 400 "... does not support insert"),
    ``required_key`` (None: no auth, like Ollama; a string: a proxy wanting that bearer key),
    ``stream_error`` / ``stream_error_after`` (send ``{"error": ...}`` after that many pieces
    instead of finishing), ``trained_context`` (``/api/show``), ``num_ctx_parameter`` (a
    ``num_ctx`` line in the model's parameters), ``loaded`` (name → runtime context, for
    ``/api/ps``).
    """

    thread_name = "fake-ollama"
    default_path = GENERATE_PATH
    fim_paths = (GENERATE_PATH,)

    def __init__(
        self,
        *,
        latency: float = 0.0,
        ttft: float = 0.0,
        token_delay: float = 0.0,
        required_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(latency=latency, ttft=ttft, token_delay=token_delay, host=host, port=port)
        self._initial_key = required_key
        self.required_key: str | None = required_key
        self.fim_text: TextSource = "pass"
        self.chat_text: TextSource = "pass"
        self.models: list[dict[str, Any]] = []
        self.no_insert: set[str] = set()
        self.stream_error: str | None = None
        self.stream_error_after = 0
        self.trained_context = 32768
        self.num_ctx_parameter: int | None = None
        self.loaded: dict[str, int] = {}
        self._restore_defaults()

    def _restore_defaults(self) -> None:
        super()._restore_defaults()
        self.required_key = self._initial_key
        self.fim_text = "pass"
        self.chat_text = "pass"
        self.models = default_ollama_models()
        self.no_insert = {"llama3.2:latest", "nomic-embed-text:latest"}
        self.stream_error = None
        self.stream_error_after = 0
        self.trained_context = 32768
        self.num_ctx_parameter = None
        self.loaded = {}

    def _encode_error(self, body: Any, status: int) -> tuple[bytes, str]:
        if body is None:
            return _encode_body({"error": _phrase(status).lower()}, status)
        return _encode_body(body, status)

    def _resolve(self, name: Any) -> str | None:
        if not isinstance(name, str) or not name:
            return None
        wanted = {name, f"{name}:latest"}
        for entry in self.models:
            if entry.get("name") in wanted or entry.get("model") in wanted:
                return str(entry.get("name"))
        return None

    @staticmethod
    def _validate(method: str, path: str, raw: bytes, parsed: Any) -> list[str]:
        if method != "POST" or path not in (GENERATE_PATH, OLLAMA_CHAT_PATH):
            return []
        if raw and parsed is None:
            return ["body: invalid JSON"]
        checks = _OLLAMA_GENERATE if path == GENERATE_PATH else _OLLAMA_CHAT
        problems, unknown = _check_fields(parsed, checks, required=("model",))
        options = parsed.get("options") if isinstance(parsed, dict) else None
        if isinstance(options, dict):
            more, extra = _check_fields(options, _OLLAMA_OPTIONS, required=(), where="options.")
            problems += more
            unknown += extra
        return problems + unknown

    def _handle(self, handler: _Handler) -> None:
        record, _raw = self._receive(handler, self._validate)
        if not self._hold(handler, record):
            return
        if self._send_failure(handler):
            return
        method, path = record.method, record.path
        if self.required_key is not None and self._bearer(record.headers) != self.required_key:
            _send_json(handler, 401, {"error": "unauthorized"})
            return
        if method == "GET" and path == "/":
            _send(handler, 200, b"Ollama is running", "text/plain; charset=utf-8")
        elif method == "GET" and path == VERSION_PATH:
            _send_json(handler, 200, {"version": "0.12.6"})
        elif method == "GET" and path == TAGS_PATH:
            _send_json(handler, 200, {"models": copy.deepcopy(self.models)})
        elif method == "POST" and path == SHOW_PATH:
            self._show(handler, record)
        elif method == "GET" and path == PS_PATH:
            running = [
                {"name": name, "model": name, "context_length": size, "size_vram": 0}
                for name, size in self.loaded.items()
            ]
            _send_json(handler, 200, {"models": running})
        elif method == "POST" and path == GENERATE_PATH:
            self._generate_answer(handler, record)
        elif method == "POST" and path == OLLAMA_CHAT_PATH:
            self._chat_answer(handler, record)
        elif method == "POST" and path == EMBED_PATH:
            self._embed_answer(handler, record)
        else:
            _send(handler, 404, b"404 page not found", "text/plain")

    def _embed_answer(self, handler: _Handler, record: Recorded) -> None:
        """``/api/embed``: ``{"model", "input": str | [str]}`` -> ``{"embeddings": [...]}``."""
        body = record.body
        if not isinstance(body, dict) or not body.get("model"):
            _send_json(handler, 400, {"error": "model is required"})
            return
        model = self._resolve(body["model"])
        if model is None:
            _send_json(
                handler,
                404,
                {"error": f'model "{body["model"]}" not found, try pulling it first'},
            )
            return
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        _send_json(
            handler,
            200,
            {
                "model": model,
                "embeddings": [_embedding(model, text) for text in texts],
                "total_duration": 1000,
                "load_duration": 100,
                "prompt_eval_count": sum(len(text.split()) for text in texts),
            },
        )

    def _show(self, handler: _Handler, record: Recorded) -> None:
        """``POST /api/show``: the model's trained context and its parameters."""
        body = record.body if isinstance(record.body, dict) else {}
        requested = body.get("model") or body.get("name")
        model = self._resolve(requested)
        if model is None:
            _send_json(handler, 404, {"error": f"model '{requested}' not found"})
            return
        parameters = 'stop                           "[INST]"'
        if self.num_ctx_parameter is not None:
            parameters += f"\nnum_ctx                        {self.num_ctx_parameter}"
        _send_json(
            handler,
            200,
            {
                "modelfile": "# Modelfile generated by the fake",
                "parameters": parameters,
                "template": "{{ .Prompt }}",
                "details": {"format": "gguf", "family": "llama"},
                "model_info": {
                    "general.architecture": "llama",
                    "llama.context_length": self.trained_context,
                    "llama.embedding_length": 6144,
                },
                "capabilities": ["completion", "insert"],
            },
        )

    def _generate_answer(self, handler: _Handler, record: Recorded) -> None:
        body = record.body
        type_errors = [e for e in record.errors if "unknown field" not in e]
        if body is None or type_errors:
            _send_json(handler, 400, {"error": "; ".join(type_errors) or "invalid JSON"})
            return
        requested = body.get("model")
        if not requested:
            _send_json(handler, 400, {"error": "model is required"})
            return
        model = self._resolve(requested)
        if model is None:
            _send_json(handler, 404, {"error": f"model '{requested}' not found"})
            return
        if body.get("suffix") and model in self.no_insert:
            _send_json(
                handler,
                400,
                {"error": f"registry.ollama.ai/library/{model} does not support insert"},
            )
            return
        options = body.get("options") or {}
        pieces, reason = _cut(
            _text(self.fim_text, body), _stops_of(options.get("stop")), options.get("num_predict")
        )
        prompt_tokens = len(_pieces(str(body.get("prompt") or "") + str(body.get("suffix") or "")))

        def final(response: str) -> dict[str, Any]:
            return {
                "model": requested,
                "created_at": _now(),
                "response": response,
                "done": True,
                "done_reason": reason,
                "total_duration": 1000,
                "load_duration": 10,
                "prompt_eval_count": prompt_tokens,
                "prompt_eval_duration": 100,
                "eval_count": len(pieces),
                "eval_duration": 800,
            }

        if body.get("stream") is False:
            if not self._generate(handler, len(pieces)):
                return
            _send_json(handler, 200, final("".join(pieces)))
            return

        def line(obj: dict[str, Any]) -> bytes:
            return json.dumps(obj).encode() + b"\n"

        shown = pieces
        if self.stream_error is not None:
            shown = pieces[: self.stream_error_after]
        lines = [
            line({"model": requested, "created_at": _now(), "response": piece, "done": False})
            for piece in shown
        ]
        events = self._timed_pieces(lines)
        if self.stream_error is not None:
            events.append((0.0, line({"error": self.stream_error})))
        else:
            events.append((0.0, line(final(""))))
        self._send_stream(handler, "application/x-ndjson", events)

    def chat_requests(self) -> list[Recorded]:
        """The ``POST /api/chat`` requests received, in order."""
        return [r for r in self.requests if r.method == "POST" and r.path == OLLAMA_CHAT_PATH]

    def _chat_answer(self, handler: _Handler, record: Recorded) -> None:
        """``/api/chat`` as Ollama answers it: NDJSON ``{"message": {"role": "assistant",
        "content": piece}, "done": false}`` lines, then one ``done: true`` line with the
        counts (one JSON object when ``stream`` is false)."""
        body = record.body
        type_errors = [e for e in record.errors if "unknown field" not in e]
        if body is None or type_errors:
            _send_json(handler, 400, {"error": "; ".join(type_errors) or "invalid JSON"})
            return
        requested = body.get("model")
        if not requested:
            _send_json(handler, 400, {"error": "model is required"})
            return
        model = self._resolve(requested)
        if model is None:
            _send_json(handler, 404, {"error": f"model '{requested}' not found"})
            return
        if "embed" in model:
            _send_json(handler, 400, {"error": f'"{requested}" does not support chat'})
            return
        options = body.get("options") or {}
        pieces, reason = _cut(
            _text(self.chat_text, body), _stops_of(options.get("stop")), options.get("num_predict")
        )
        prompt = "".join(str(m.get("content", "")) for m in body.get("messages") or [])
        prompt_tokens = len(_pieces(prompt))

        def message(content: str) -> dict[str, Any]:
            return {"role": "assistant", "content": content}

        def final(content: str) -> dict[str, Any]:
            return {
                "model": requested,
                "created_at": _now(),
                "message": message(content),
                "done": True,
                "done_reason": reason,
                "total_duration": 1000,
                "load_duration": 10,
                "prompt_eval_count": prompt_tokens,
                "prompt_eval_duration": 100,
                "eval_count": len(pieces),
                "eval_duration": 800,
            }

        if body.get("stream") is False:
            if not self._generate(handler, len(pieces)):
                return
            _send_json(handler, 200, final("".join(pieces)))
            return

        def line(obj: dict[str, Any]) -> bytes:
            return json.dumps(obj).encode() + b"\n"

        lines = [
            line(
                {"model": requested, "created_at": _now(), "message": message(piece), "done": False}
            )
            for piece in pieces
        ]
        events = self._timed_pieces(lines)
        events.append((0.0, line(final(""))))
        self._send_stream(handler, "application/x-ndjson", events)


# --------------------------------------------------------------------------------------------
# OpenAI-compatible

_OPENAI_COMPLETIONS: Checks = {
    "model": lambda v: isinstance(v, str),
    "prompt": lambda v: isinstance(v, (str, list)),
    "suffix": lambda v: isinstance(v, str),
    "max_tokens": _is_int,
    "temperature": _is_number,
    "top_p": _is_number,
    "n": _is_int,
    "stream": lambda v: isinstance(v, bool),
    "stream_options": lambda v: isinstance(v, dict),
    "logprobs": _is_int,
    "echo": lambda v: isinstance(v, bool),
    "stop": _is_stop,
    "presence_penalty": _is_number,
    "frequency_penalty": _is_number,
    "best_of": _is_int,
    "logit_bias": lambda v: isinstance(v, dict),
    "user": lambda v: isinstance(v, str),
    "seed": _is_int,
}
_OPENAI_CHAT: Checks = {
    "model": lambda v: isinstance(v, str),
    "messages": lambda v: isinstance(v, list) and bool(v) and all(_is_chat_message(m) for m in v),
    "max_tokens": _is_int,
    "max_completion_tokens": _is_int,
    "temperature": _is_number,
    "top_p": _is_number,
    "n": _is_int,
    "stream": lambda v: isinstance(v, bool),
    "stream_options": lambda v: isinstance(v, dict),
    "stop": _is_stop,
    "presence_penalty": _is_number,
    "frequency_penalty": _is_number,
    "logit_bias": lambda v: isinstance(v, dict),
    "logprobs": lambda v: isinstance(v, bool),
    "top_logprobs": _is_int,
    "response_format": lambda v: isinstance(v, dict),
    "seed": _is_int,
    "tools": lambda v: isinstance(v, list),
    "tool_choice": lambda v: isinstance(v, (str, dict)),
    "user": lambda v: isinstance(v, str),
}
_LLAMACPP_INFILL: Checks = {
    "model": lambda v: isinstance(v, str),
    "input_prefix": lambda v: isinstance(v, str),
    "input_suffix": lambda v: isinstance(v, str),
    "input_extra": lambda v: isinstance(v, list),
    "prompt": lambda v: isinstance(v, str),
    "n_predict": _is_int,
    "temperature": _is_number,
    "top_p": _is_number,
    "top_k": _is_int,
    "stop": _is_str_list,
    "seed": _is_int,
    "stream": lambda v: isinstance(v, bool),
    "cache_prompt": lambda v: isinstance(v, bool),
}


def default_openai_models() -> list[dict[str, Any]]:
    """``/v1/models`` entries like LM Studio / llama-server list them."""

    def card(model_id: str, owner: str) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": 1754438400, "owned_by": owner}

    return [
        card("codestral-22b-v0.1", "organization_owner"),
        card("qwen2.5-coder-7b-instruct", "organization_owner"),
        card("text-embedding-nomic-embed-text-v1.5", "organization_owner"),
    ]


def llamacpp_models(n_ctx: int = 4096) -> list[dict[str, Any]]:
    """``/v1/models`` ``data`` as llama-server lists the model given to ``-m``."""
    return [
        {
            "id": LLAMACPP_MODEL_PATH,
            "aliases": [],
            "tags": [],
            "object": "model",
            "created": 1754438400,
            "owned_by": "llamacpp",
            "meta": {
                "vocab_type": 1,
                "n_vocab": 32768,
                "n_ctx": n_ctx,
                "n_ctx_train": 32768,
                "n_embd": 6144,
                "n_params": 22247282688,
                "size": 13341237248,
                "ftype": 15,
            },
        }
    ]


class FakeOpenAI(FakeServer):
    """A fake OpenAI-compatible completion server.

    ``flavor``: ``"generic"`` (accepts ``suffix``: LM Studio, Ollama's ``/v1``, DeepSeek-like),
    ``"llamacpp"`` (today's llama-server: ``suffix`` on ``/v1/completions`` is accepted and
    ignored, so the model never sees it; ``POST /infill`` with ``input_extra``; ``GET /props``
    with ``default_generation_settings.n_ctx``; ``GET /health``; ``/v1/models`` lists the GGUF
    path with ``owned_by: "llamacpp"`` and ``meta.n_ctx``; any model name is served; a prompt
    of ``n_ctx`` tokens or more gets the real 400 ``exceed_context_size_error``), ``"proxy"``
    (``suffix`` → 500 "Unsupported param: suffix", as older llama-server builds and some
    proxies answer; ``POST /infill`` works) or ``"vllm"`` (``suffix`` → 400 "suffix is not
    currently supported"; no ``/infill``).

    Knobs: ``fim_text``, ``models`` (``/v1/models`` entries), ``check_models`` (unknown model
    → 404 ``model_not_found``), ``required_key`` (None: no auth); llama.cpp: ``n_ctx``,
    ``chars_per_token`` (how the fake counts prompt tokens), ``infill_supported`` (False: the
    model has no FIM tokens and ``/infill`` answers 501 like llama-server).
    """

    thread_name = "fake-openai"
    default_path = OPENAI_COMPLETIONS_PATH
    fim_paths = (OPENAI_COMPLETIONS_PATH, INFILL_PATH)

    def __init__(
        self,
        *,
        flavor: str = "generic",
        latency: float = 0.0,
        ttft: float = 0.0,
        token_delay: float = 0.0,
        required_key: str | None = None,
        check_models: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if flavor not in ("generic", "llamacpp", "proxy", "vllm"):
            raise ValueError(f"unknown flavor {flavor!r}")
        super().__init__(latency=latency, ttft=ttft, token_delay=token_delay, host=host, port=port)
        self._initial: dict[str, Any] = {
            "flavor": flavor,
            "required_key": required_key,
            "check_models": check_models,
        }
        self.flavor = flavor
        self.required_key: str | None = required_key
        self.check_models = check_models
        self.fim_text: TextSource = "pass"
        self.chat_text: TextSource = "pass"
        self.models: list[dict[str, Any]] = []
        self.n_ctx = 4096
        self.chars_per_token = 4.0
        self.infill_supported = True
        self._restore_defaults()

    def _restore_defaults(self) -> None:
        super()._restore_defaults()
        self.flavor = str(self._initial["flavor"])
        self.required_key = self._initial["required_key"]
        self.check_models = bool(self._initial["check_models"])
        self.fim_text = "pass"
        self.chat_text = "pass"
        self.n_ctx = 4096
        self.chars_per_token = 4.0
        self.infill_supported = True
        self.models = (
            llamacpp_models(self.n_ctx) if self.flavor == "llamacpp" else default_openai_models()
        )

    def _encode_error(self, body: Any, status: int) -> tuple[bytes, str]:
        if body is None:
            return _encode_body(_openai_error(_phrase(status), status), status)
        return _encode_body(body, status)

    @staticmethod
    def _validate(method: str, path: str, raw: bytes, parsed: Any) -> list[str]:
        if method != "POST" or path not in (OPENAI_COMPLETIONS_PATH, INFILL_PATH, OPENAI_CHAT_PATH):
            return []
        if raw and parsed is None:
            return ["body: invalid JSON"]
        if path == OPENAI_CHAT_PATH:
            problems, unknown = _check_fields(parsed, _OPENAI_CHAT, required=("model", "messages"))
        elif path == INFILL_PATH:
            problems, unknown = _check_fields(parsed, _LLAMACPP_INFILL, required=())
        else:
            problems, unknown = _check_fields(
                parsed, _OPENAI_COMPLETIONS, required=("model", "prompt")
            )
        return problems + unknown

    def _handle(self, handler: _Handler) -> None:
        record, _raw = self._receive(handler, self._validate)
        if not self._hold(handler, record):
            return
        if self._send_failure(handler):
            return
        method, path = record.method, record.path
        if self.required_key is not None and self._bearer(record.headers) != self.required_key:
            _send_json(handler, 401, _openai_error("Invalid API Key", 401))
            return
        llamacpp = self.flavor == "llamacpp"
        if method == "GET" and path == OPENAI_MODELS_PATH:
            _send_json(handler, 200, self._models_payload())
        elif method == "GET" and path == HEALTH_PATH and self.flavor in ("llamacpp", "proxy"):
            _send_json(handler, 200, {"status": "ok"})
        elif method == "GET" and path == PROPS_PATH and llamacpp:
            _send_json(handler, 200, self._props())
        elif method == "POST" and path == OPENAI_COMPLETIONS_PATH:
            self._completions(handler, record)
        elif method == "POST" and path == OPENAI_CHAT_PATH:
            self._chat(handler, record)
        elif method == "POST" and path == INFILL_PATH and self.flavor in ("llamacpp", "proxy"):
            self._infill(handler, record)
        elif method == "POST" and path == OPENAI_EMBEDDINGS_PATH:
            self._embeddings(handler, record)
        elif llamacpp:
            # llama-server's cpp-httplib answers unknown routes with an empty 404
            _send(handler, 404, b"", "text/plain")
        else:
            _send_json(handler, 404, {"detail": "Not Found"})

    def _embeddings(self, handler: _Handler, record: Recorded) -> None:
        """``/v1/embeddings`` as OpenAI-compatible servers answer it (data out of order)."""
        body = record.body if isinstance(record.body, dict) else {}
        model = str(body.get("model") or "")
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        data = [
            {"object": "embedding", "embedding": _embedding(model, text), "index": index}
            for index, text in enumerate(texts)
        ]
        data.reverse()
        _send_json(
            handler,
            200,
            {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": 1}},
        )

    def _models_payload(self) -> dict[str, Any]:
        data = copy.deepcopy(self.models)
        if self.flavor != "llamacpp":
            return {"object": "list", "data": data}
        for card in data:  # the runtime context follows the knob
            if isinstance(card.get("meta"), dict):
                card["meta"]["n_ctx"] = self.n_ctx
        # llama-server answers both the Ollama-style and the OpenAI-style shape at once
        ollama_style = [
            {
                "name": card["id"],
                "model": card["id"],
                "type": "model",
                "details": {"format": "gguf"},
            }
            for card in data
        ]
        return {"models": ollama_style, "object": "list", "data": data}

    def _props(self) -> dict[str, Any]:
        model_id = str(self.models[0]["id"]) if self.models else LLAMACPP_MODEL_PATH
        return {
            "default_generation_settings": {
                "params": {"n_predict": -1, "temperature": 0.8, "top_k": 40, "top_p": 0.95},
                "n_ctx": self.n_ctx,
            },
            "total_slots": 1,
            "model_alias": model_id,
            "model_path": model_id,
            "modalities": {"vision": False, "audio": False},
            "chat_template": "",
            "bos_token": "<s>",
            "eos_token": "</s>",
            "build_info": "b6700-fake",
            "is_sleeping": False,
        }

    def _tokens(self, *texts: Any) -> int:
        chars = sum(len(text) for text in texts if isinstance(text, str))
        return int(chars / self.chars_per_token) + 1

    def _too_long(self, handler: _Handler, tokens: int) -> bool:
        """llama-server's answer when the prompt does not fit its slot's context."""
        if self.flavor != "llamacpp" or tokens < self.n_ctx:
            return False
        error = {
            "code": 400,
            "message": (
                f"request ({tokens} tokens) exceeds the available context size "
                f"({self.n_ctx} tokens), try increasing it"
            ),
            "type": "exceed_context_size_error",
            "n_prompt_tokens": tokens,
            "n_ctx": self.n_ctx,
        }
        _send_json(handler, 400, {"error": error})
        return True

    def _known(self, model: Any) -> bool:
        if self.flavor == "llamacpp":
            return True  # llama-server serves its one model whatever the request names
        return any(card.get("id") == model for card in self.models)

    def _completions(self, handler: _Handler, record: Recorded) -> None:
        body = record.body
        type_errors = [e for e in record.errors if "unknown field" not in e]
        if body is None or type_errors:
            message = "; ".join(type_errors) or "invalid JSON"
            _send_json(handler, 400, _openai_error(message, 400))
            return
        if self._too_long(handler, self._tokens(body.get("prompt"))):
            return  # llama-server ignores the suffix: only the prompt counts
        if "suffix" in body and self.flavor == "proxy":
            # older llama-server: std::runtime_error -> HTTP 500, type "server_error".
            error = {"code": 500, "message": "Unsupported param: suffix", "type": "server_error"}
            _send_json(handler, 500, {"error": error})
            return
        if "suffix" in body and self.flavor == "vllm":
            error = {
                "object": "error",
                "message": "suffix is not currently supported",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            }
            _send_json(handler, 400, error)
            return
        model = body.get("model")
        if self.check_models and not self._known(model):
            missing = _openai_error(f"The model `{model}` does not exist.", 404)
            missing["error"]["code"] = "model_not_found"
            _send_json(handler, 404, missing)
            return
        pieces, reason = _cut(
            _text(self.fim_text, body), _stops_of(body.get("stop")), body.get("max_tokens")
        )
        prompt_tokens = len(_pieces(str(body.get("prompt") or "") + str(body.get("suffix") or "")))
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens + len(pieces),
        }
        created = int(time.time())

        def completion(text: str, finish: str | None, **extra: Any) -> dict[str, Any]:
            return {
                "id": "cmpl-fake",
                "object": "text_completion",
                "created": created,
                "model": model,
                "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}],
                **extra,
            }

        if not record.stream:
            if not self._generate(handler, len(pieces)):
                return
            _send_json(handler, 200, completion("".join(pieces), reason, usage=usage))
            return

        def event(obj: dict[str, Any]) -> bytes:
            return b"data: " + json.dumps(obj).encode() + b"\n\n"

        events = self._timed_pieces([event(completion(piece, None)) for piece in pieces])
        events.append((0.0, event(completion("", reason))))
        events.append((0.0, b"data: [DONE]\n\n"))
        self._send_stream(handler, "text/event-stream; charset=utf-8", events)

    def chat_requests(self) -> list[Recorded]:
        """The ``POST /v1/chat/completions`` requests received, in order."""
        return [r for r in self.requests if r.method == "POST" and r.path == OPENAI_CHAT_PATH]

    def _chat(self, handler: _Handler, record: Recorded) -> None:
        """``/v1/chat/completions`` as OpenAI-compatible servers answer it: SSE chunks
        ``{"object": "chat.completion.chunk", "choices": [{"delta": {"content": piece}}]}``,
        a last chunk with ``finish_reason``, then ``data: [DONE]``."""
        body = record.body
        type_errors = [e for e in record.errors if "unknown field" not in e]
        if body is None or type_errors:
            message = "; ".join(type_errors) or "invalid JSON"
            _send_json(handler, 400, _openai_error(message, 400))
            return
        model = body.get("model")
        if self.check_models and not self._known(model):
            error = _openai_error(f"The model `{model}` does not exist.", 404)
            error["error"]["code"] = "model_not_found"
            _send_json(handler, 404, error)
            return
        limit = body.get("max_tokens", body.get("max_completion_tokens"))
        pieces, reason = _cut(_text(self.chat_text, body), _stops_of(body.get("stop")), limit)
        prompt = "".join(str(m.get("content", "")) for m in body.get("messages") or [])
        prompt_tokens = len(_pieces(prompt))
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens + len(pieces),
        }
        created = int(time.time())
        if not record.stream:
            if not self._generate(handler, len(pieces)):
                return
            answer = {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(pieces)},
                        "logprobs": None,
                        "finish_reason": reason,
                    }
                ],
                "usage": usage,
            }
            _send_json(handler, 200, answer)
            return

        def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
            event = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            return b"data: " + json.dumps(event).encode() + b"\n\n"

        data = [chunk({"role": "assistant", "content": ""}, None)]
        data.extend(chunk({"content": piece}, None) for piece in pieces)
        events = self._timed_pieces(data)
        events.append((0.0, chunk({}, reason)))
        events.append((0.0, b"data: [DONE]\n\n"))
        self._send_stream(handler, "text/event-stream; charset=utf-8", events)

    def _infill(self, handler: _Handler, record: Recorded) -> None:
        body = record.body
        type_errors = [e for e in record.errors if "unknown field" not in e]
        if body is None or type_errors:
            message = "; ".join(type_errors) or "invalid JSON"
            _send_json(handler, 400, _openai_error(message, 400))
            return
        if not self.infill_supported:
            error = {
                "code": 501,
                "message": "Infill is not supported by this model: prefix token is missing. "
                "suffix token is missing. middle token is missing. ",
                "type": "not_supported_error",
            }
            _send_json(handler, 501, {"error": error})
            return
        extra = body.get("input_extra", [])
        for chunk in extra:
            if not isinstance(chunk, dict) or not isinstance(chunk.get("text"), str):
                message = 'extra_context chunk must contain a "text" field with a string value'
                record.errors.append(f"input_extra: {message}")
                _send_json(handler, 400, _openai_error(message, 400))
                return
            if "filename" in chunk and not isinstance(chunk["filename"], str):
                record.errors.append("input_extra: filename must be a string")
                _send_json(handler, 400, _openai_error("bad filename", 400))
                return
        texts = [body.get("input_prefix"), body.get("input_suffix")]
        texts += [chunk.get("filename") for chunk in extra] + [chunk["text"] for chunk in extra]
        if self._too_long(handler, self._tokens(*texts)):
            return
        pieces, reason = _cut(
            _text(self.fim_text, body), _stops_of(body.get("stop")), body.get("n_predict")
        )
        stop_type = "limit" if reason == "length" else "eos"
        evaluated = len(
            _pieces(str(body.get("input_prefix") or "") + str(body.get("input_suffix") or ""))
        )
        model = body.get("model") or "model.gguf"
        final = {
            "content": "",
            "stop": True,
            "stop_type": stop_type,
            "model": model,
            "tokens_predicted": len(pieces),
            "tokens_evaluated": evaluated,
        }
        if not record.stream:
            if not self._generate(handler, len(pieces)):
                return
            _send_json(handler, 200, {**final, "content": "".join(pieces)})
            return

        def event(obj: dict[str, Any]) -> bytes:
            return b"data: " + json.dumps(obj).encode() + b"\n\n"

        events = self._timed_pieces(
            [event({"content": piece, "stop": False, "index": 0}) for piece in pieces]
        )
        events.append((0.0, event(final)))
        self._send_stream(handler, "text/event-stream", events)


# --------------------------------------------------------------------------------------------
# Helpers


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _openai_error(message: str, status: int) -> dict[str, Any]:
    error_type = "server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": message, "type": error_type, "param": None, "code": None}}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
