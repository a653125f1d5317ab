"""A fake Mistral API server: a real HTTP/1.1 server on 127.0.0.1 in a background thread.

Used by end-to-end tests and benchmarks instead of the real API (ours and our users': it
ships in the package, see docs/testing.md).  It validates every request body against the
official request schemas (trimmed, bundled as ``codestral_ls/testing/schemas/mistral.json``;
the tests carry the same copy in ``tests/schemas/``), answers like the real API (response
shapes, SSE streaming with chunked transfer encoding, 401/422/400 errors) and records what it saw.

Typical use::

    with FakeMistral(ttft=0.02) as fake:
        client = MistralClient(fake.url, "test-key")
        ...
        assert fake.fim_requests()[0].errors == []

Synchronisation helpers (never sleep in tests): ``gate()`` holds responses until released,
``wait_for_requests(n)`` / ``wait_until(pred)`` block until something happened, and
``await_requests`` / ``await_until`` are their asyncio-friendly versions.

Standalone: ``codestral-ls fake-api`` (:mod:`codestral_ls.testing.command`), which adds rules
(:mod:`.rules`), a request log and replay (:mod:`.record`).  Validation needs ``jsonschema``,
installed by the ``testing`` extra (``pip install 'codestral-ls[testing]'``).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import hashlib
import json
import math
import re
import selectors
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit

from .httpserver import QuietHandler, QuietServer
from .rules import EARLY_FAULTS, Rule, RuleSet

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

    from .record import Replay

__all__ = [
    "CHAT_PATH",
    "EMBEDDINGS_PATH",
    "FIM_PATH",
    "MODELS_PATH",
    "FakeMistral",
    "FakeServer",
    "Recorded",
    "default_models",
    "validate_request",
    "validation_details",
]

FIM_PATH = "/v1/fim/completions"
CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
MODELS_PATH = "/v1/models"

Kind = Literal["fim", "chat", "embeddings"]

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "mistral.json"
#: What to tell someone whose install lacks the validator.
MISSING_VALIDATOR = (
    "codestral-ls: the fake API validates requests with jsonschema, which the 'testing' extra "
    "installs: pip install 'codestral-ls[testing]'"
)
_SCHEMA_URI = "urn:codestral-ls:mistral-openapi"
_ROOT_SCHEMAS: dict[str, str] = {
    "fim": "FIMCompletionRequest",
    "chat": "ChatCompletionRequest",
    "embeddings": "EmbeddingRequest",
}
_KIND_BY_PATH: dict[str, Kind] = {
    FIM_PATH: "fim",
    CHAT_PATH: "chat",
    EMBEDDINGS_PATH: "embeddings",
}
EMBEDDING_DIMENSION = 16

# --------------------------------------------------------------------------------------------
# Request validation


@functools.cache
def _validator(kind: str) -> Draft202012Validator:
    try:
        from jsonschema import Draft202012Validator
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(MISSING_VALIDATOR) from error
    document = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(_SCHEMA_URI, resource)
    root = {"$ref": f"{_SCHEMA_URI}#/components/schemas/{_ROOT_SCHEMAS[kind]}"}
    return Draft202012Validator(root, registry=registry)


def validation_details(kind: Kind, body: Any) -> list[dict[str, Any]]:
    """Schema violations of ``body`` in the shape of FastAPI/pydantic 422 ``detail`` items."""
    if kind not in _ROOT_SCHEMAS:
        raise ValueError(f"unknown request kind {kind!r}")
    if not isinstance(body, dict):
        return [{"type": "dict_type", "loc": ["body"], "msg": "Input should be a valid dictionary"}]
    details: list[dict[str, Any]] = []
    errors = sorted(
        _validator(kind).iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path]
    )
    for error in errors:
        loc: list[Any] = ["body", *error.absolute_path]
        instance = error.instance
        if error.validator == "additionalProperties" and isinstance(instance, dict):
            allowed = (
                set(error.schema.get("properties", {})) if isinstance(error.schema, dict) else set()
            )
            for extra in sorted(key for key in instance if key not in allowed):
                details.append(
                    {
                        "type": "extra_forbidden",
                        "loc": [*loc, extra],
                        "msg": "Extra inputs are not permitted",
                        "input": instance[extra],
                    }
                )
        elif error.validator == "required" and isinstance(instance, dict):
            for name in error.validator_value:
                if name not in instance:
                    details.append(
                        {"type": "missing", "loc": [*loc, name], "msg": "Field required"}
                    )
        else:
            details.append({"type": str(error.validator), "loc": loc, "msg": error.message})
    unique: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for detail in details:
        key = (detail["type"], json.dumps(detail["loc"]))
        if key not in seen:
            seen.add(key)
            unique.append(detail)
    return unique


def _format_detail(detail: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in detail.get("loc", []))
    return f"{where}: {detail['msg']}" if where else str(detail["msg"])


def validate_request(kind: Kind, body: dict[str, Any]) -> list[str]:
    """Human-readable schema errors of a request body; an empty list means valid."""
    return [_format_detail(detail) for detail in validation_details(kind, body)]


# --------------------------------------------------------------------------------------------
# Recorded requests and defaults


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any] | None
    errors: list[str] = field(default_factory=list)
    stream: bool = False
    #: The rule (``fake.rules``) that answers this request, if any.
    rule: Rule | None = field(default=None, compare=False, repr=False)


@dataclass
class _Failure:
    status: int
    body: bytes
    headers: dict[str, str]
    remaining: int


def default_models() -> list[dict[str, Any]]:
    """Model cards resembling the real ``GET /v1/models`` answer."""

    def card(
        model_id: str,
        *,
        created: int,
        description: str,
        fim: bool,
        chat: bool,
        context: int,
        aliases: list[str],
        temperature: float | None,
        deprecation: str | None = None,
        replacement: str | None = None,
    ) -> dict[str, Any]:
        return {
            "id": model_id,
            "object": "model",
            "created": created,
            "owned_by": "mistralai",
            "capabilities": {
                "completion_chat": chat,
                "completion_fim": fim,
                "function_calling": chat,
                "fine_tuning": False,
                "vision": False,
                "ocr": False,
                "classification": False,
                "moderation": False,
                "audio": False,
                "audio_transcription": False,
            },
            "name": model_id,
            "description": description,
            "max_context_length": context,
            "aliases": aliases,
            "deprecation": deprecation,
            "deprecation_replacement_model": replacement,
            "default_model_temperature": temperature,
            "type": "base",
        }

    return [
        card(
            "codestral-2508",
            created=1754438400,
            description="Our cutting-edge language model for coding released August 2025.",
            fim=True,
            chat=True,
            context=256000,
            aliases=["codestral-latest"],
            temperature=0.3,
        ),
        card(
            "mistral-large-latest",
            created=1732579200,
            description="Our top-tier large model for high-complexity tasks.",
            fim=False,
            chat=True,
            context=131072,
            aliases=["mistral-large-2411"],
            temperature=0.7,
        ),
        card(
            "mistral-embed",
            created=1702944000,
            description="Our state-of-the-art semantic model for extracting text representations.",
            fim=False,
            chat=False,
            context=8192,
            aliases=[],
            temperature=None,
        ),
        card(
            "codestral-2405",
            created=1716940800,
            description="Our first coding model, released May 2024.",
            fim=True,
            chat=True,
            context=32768,
            aliases=[],
            temperature=0.3,
            deprecation="2025-05-31T12:00:00Z",
            replacement="codestral-2508",
        ),
    ]


def _status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _default_error_body(status: int) -> dict[str, Any]:
    if status == 401:
        return {"message": "Unauthorized", "request_id": uuid.uuid4().hex}
    if status == 429:
        error_type = "rate_limited"
    elif status >= 500:
        error_type = "internal_server_error"
    else:
        error_type = "invalid_request_error"
    return {
        "object": "error",
        "message": _status_phrase(status),
        "type": error_type,
        "param": None,
        "code": None,
    }


def _encode_body(
    body: bytes | str | dict[str, Any] | list[Any] | None, status: int
) -> tuple[bytes, str]:
    if body is None:
        body = _default_error_body(status)
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode(), "application/json"
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    stripped = data.lstrip()
    if stripped.startswith(b"<"):
        return data, "text/html; charset=utf-8"
    try:
        json.loads(data)
    except ValueError:
        return data, "text/plain; charset=utf-8"
    return data, "application/json"


_PIECE_RE = re.compile(r"\s+|\w{1,4}|[^\w\s]")


def _pieces(text: str) -> list[str]:
    """Split text into token-ish pieces; ``"".join(_pieces(t)) == t``."""
    return _PIECE_RE.findall(text)


def _stops(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list):
        return [s for s in stop if isinstance(s, str) and s]
    return []


def _embedding(model: str, text: str) -> list[float]:
    digest = hashlib.sha256(f"{model}\0{text}".encode()).digest()
    raw = [(byte - 127.5) / 127.5 for byte in digest[:EMBEDDING_DIMENSION]]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [round(x / norm, 6) for x in raw]


# --------------------------------------------------------------------------------------------
# HTTP plumbing


class _Server(QuietServer):
    fake: FakeServer


class _Handler(QuietHandler):
    server_version = "FakeServer/1.0"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._connection_opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.fake._connection_closed(self.connection)

    def _dispatch(self) -> None:
        try:
            self.server.fake._handle(self)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    do_GET = _dispatch
    do_POST = _dispatch
    do_PUT = _dispatch
    do_DELETE = _dispatch
    do_PATCH = _dispatch


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        parts: list[bytes] = []
        while True:
            size_line = handler.rfile.readline(1024)
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(handler.rfile.read(size))
            handler.rfile.readline(1024)
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length > 0 else b""


def _send(
    handler: BaseHTTPRequestHandler,
    status: int,
    data: bytes,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> None:
    handler.send_response(status)
    extra = dict(headers or {})
    if not any(key.lower() == "content-type" for key in extra):
        handler.send_header("Content-Type", content_type)
    for key, value in extra.items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _send_json(handler: BaseHTTPRequestHandler, status: int, obj: Any) -> None:
    _send(handler, status, json.dumps(obj).encode())


def _write_chunk(handler: BaseHTTPRequestHandler, data: bytes) -> None:
    handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))


# --------------------------------------------------------------------------------------------
# The fake


_F = TypeVar("_F", bound="FakeServer")


class FakeServer:
    """The machinery every fake API server shares: a real HTTP/1.1 server on 127.0.0.1 in a
    background thread that records each request, holds responses behind gates, answers queued
    failures, streams chunked bodies and notices clients hanging up.

    Subclasses implement :meth:`_handle` (usually :meth:`_receive` → :meth:`_hold` → answer)
    and :meth:`_restore_defaults` for their own knobs.  Common knobs: ``latency`` (seconds
    before any response), ``ttft`` (before the first token), ``token_delay`` (between
    streamed pieces).  Counters: ``connections_opened``, ``streams_aborted`` (a streamed
    response the client hung up on), ``responses_aborted`` (the same, not streamed).
    """

    #: Prefix of the server thread's name.
    thread_name = "fake-server"
    #: The path ``wait_for_requests``/``await_requests`` count by default.
    default_path = "/"
    #: Paths whose requests :meth:`fim_requests` returns.
    fim_paths: tuple[str, ...] = ()

    def __init__(
        self,
        *,
        latency: float = 0.0,
        ttft: float = 0.0,
        token_delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._timing: dict[str, float] = {
            "latency": latency,
            "ttft": ttft,
            "token_delay": token_delay,
        }
        self._host = host
        self._port = port
        self._cond = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._active: set[socket.socket] = set()
        self._stopping = False
        self._gates: list[threading.Event] = []
        self._failures: list[_Failure] = []
        self.latency: float = latency
        self.ttft: float = ttft
        self.token_delay: float = token_delay
        self.requests: list[Recorded] = []
        #: Answers and faults by request content (:mod:`codestral_ls.testing.rules`).
        self.rules = RuleSet()
        #: Called with every request received (``fake-api --log`` writes them as JSONL).
        self.request_log: Callable[[Recorded], None] | None = None
        self.connections_opened = 0
        self.streams_aborted = 0
        self.responses_aborted = 0

    # ------------------------------------------------------------------ lifecycle

    def _restore_defaults(self) -> None:
        """Reset every behaviour knob to its constructor value (extend in subclasses)."""
        self.latency = float(self._timing["latency"])
        self.ttft = float(self._timing["ttft"])
        self.token_delay = float(self._timing["token_delay"])
        self.rules = RuleSet()

    def start(self: _F) -> _F:
        if self._server is not None:
            return self
        self._stopping = False
        server = _Server((self._host, self._port), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.01},  # stop() waits for one poll
            name=f"{self.thread_name}-{server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping = True
        with self._cond:
            for gate in self._gates:
                gate.set()
            active = list(self._active)
            self._cond.notify_all()
        server.shutdown()
        server.server_close()
        for sock in active:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self: _F) -> _F:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def reset(self) -> None:
        """Forget recorded requests, counters, queued failures and gates (released), and
        restore every behaviour knob to its constructor value."""
        with self._cond:
            for gate in self._gates:
                gate.set()
            self._gates.clear()
            self._failures.clear()
            self.requests = []
            self.connections_opened = 0
            self.streams_aborted = 0
            self.responses_aborted = 0
            self._restore_defaults()
            self._cond.notify_all()

    # ------------------------------------------------------------------ test controls

    def fim_requests(self) -> list[Recorded]:
        """The completion requests received (POSTs to :attr:`fim_paths`), in order."""
        with self._cond:
            return [r for r in self.requests if r.method == "POST" and r.path in self.fim_paths]

    def fail_next(
        self,
        status: int,
        body: bytes | str | dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` POST requests (any endpoint) with this error.

        ``body=None`` sends a realistic default JSON error body; pass ``b""`` for none.
        """
        data, content_type = self._encode_error(body, status)
        merged = {"Content-Type": content_type, **(headers or {})}
        with self._cond:
            self._failures.append(_Failure(status, data, merged, max(1, times)))

    def _encode_error(
        self, body: bytes | str | dict[str, Any] | list[Any] | None, status: int
    ) -> tuple[bytes, str]:
        """Bytes and content type of an error body (``None``: the server's default body)."""
        return _encode_body(body, status)

    def gate(self) -> threading.Event:
        """Hold every response (already received requests too) until the event is set."""
        event = threading.Event()
        with self._cond:
            self._gates.append(event)
        return event

    hold = gate  # alias: ``gate = fake.hold(); ...; gate.set()``

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate()`` is true (re-checked on every state change)."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def wait_for_requests(self, n: int, timeout: float = 5.0, *, path: str | None = None) -> bool:
        """Block until at least ``n`` requests to ``path`` (default: :attr:`default_path`)
        have arrived."""
        wanted = self.default_path if path is None else path
        return self.wait_until(
            lambda: sum(1 for r in self.requests if r.path == wanted) >= n, timeout
        )

    async def await_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """``wait_until`` without blocking the running event loop."""
        return await asyncio.to_thread(self.wait_until, predicate, timeout)

    async def await_requests(
        self, n: int, timeout: float = 5.0, *, path: str | None = None
    ) -> bool:
        """``wait_for_requests`` without blocking the running event loop."""
        return await asyncio.to_thread(self.wait_for_requests, n, timeout, path=path)

    # ------------------------------------------------------------------ bookkeeping

    def _connection_opened(self, sock: socket.socket) -> None:
        with self._cond:
            self.connections_opened += 1
            self._active.add(sock)
            self._cond.notify_all()

    def _connection_closed(self, sock: socket.socket) -> None:
        with self._cond:
            self._active.discard(sock)
            self._cond.notify_all()

    def _count_abort(self, stream: bool) -> None:
        if self._stopping:
            return
        with self._cond:
            if stream:
                self.streams_aborted += 1
            else:
                self.responses_aborted += 1
            self._cond.notify_all()

    def _pop_failure(self) -> _Failure | None:
        with self._cond:
            if not self._failures:
                return None
            failure = self._failures[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._failures.pop(0)
            return failure

    @staticmethod
    def _client_gone(handler: BaseHTTPRequestHandler, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; True as soon as the client has hung up."""
        sock = handler.connection
        deadline = time.monotonic() + max(0.0, timeout)
        with selectors.DefaultSelector() as selector:
            try:
                selector.register(sock, selectors.EVENT_READ)
            except (ValueError, OSError):
                return True
            ready = selector.select(max(0.0, deadline - time.monotonic()))
        if not ready:
            return False
        try:
            peeked = sock.recv(1, socket.MSG_PEEK | getattr(socket, "MSG_DONTWAIT", 0))
        except BlockingIOError:
            peeked = b"?"
        except OSError:
            return True
        if not peeked:
            return True
        # The client sent more bytes (a pipelined request): it is still there.
        remaining = deadline - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)
        return False

    def _wait_gates(self, handler: BaseHTTPRequestHandler) -> bool:
        """Wait for every open gate; False if the client hung up meanwhile."""
        with self._cond:
            gates = list(self._gates)
        for gate in gates:
            while not gate.is_set():
                if self._client_gone(handler, 0.01):
                    return False
        return True

    @staticmethod
    def _bearer(headers: dict[str, str]) -> str | None:
        """The bearer token of a request, if any."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        return token

    # ------------------------------------------------------------------ handling helpers

    def _handle(self, handler: _Handler) -> None:
        raise NotImplementedError

    def _receive(
        self,
        handler: _Handler,
        validate: Callable[[str, str, bytes, Any], list[str]] | None = None,
    ) -> tuple[Recorded, bytes]:
        """Read and record one request; ``validate(method, path, raw, parsed_json)`` returns
        the problems to record in ``errors``.  Answers the record and the raw body."""
        method = handler.command
        path = urlsplit(handler.path).path
        raw = _read_body(handler)
        headers = {key.lower(): value for key, value in handler.headers.items()}
        parsed: Any = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
        body = parsed if isinstance(parsed, dict) else None
        errors = validate(method, path, raw, parsed) if validate is not None else []
        record = Recorded(
            method=method,
            path=path,
            headers=headers,
            body=body,
            errors=errors,
            stream=bool(body is not None and body.get("stream") is True),
        )
        if method == "POST" and self.rules:
            record.rule = self.rules.take(body)
        with self._cond:
            self.requests.append(record)
            self._cond.notify_all()
        if self.request_log is not None:
            self.request_log(record)
        return record, raw

    def _hold(self, handler: _Handler, record: Recorded) -> bool:
        """Wait for the gates and ``latency``; False (abort counted) if the client left."""
        if not self._wait_gates(handler) or (
            self.latency > 0 and self._client_gone(handler, self.latency)
        ):
            self._count_abort(record.stream)
            handler.close_connection = True
            return False
        rule = record.rule
        if rule is not None and (rule.latency_ms > 0 or rule.fault is not None):
            return self._rule_early(handler, record, rule)
        return True

    #: Rule faults this fake applies while answering (the rest are answered by ``_hold``).
    answer_faults: frozenset[str] = frozenset()

    def _rule_early(self, handler: _Handler, record: Recorded, rule: Rule) -> bool:
        """A rule's latency, then its fault if it is answered before the answer (429, 5xx,
        hang, reset; garbage for the fakes that have no garbage of their own): False when the
        request is done with."""
        if rule.latency_ms > 0 and self._client_gone(handler, rule.latency_ms / 1000):
            self._count_abort(record.stream)
            handler.close_connection = True
            return False
        fault = rule.fault
        if fault is None or fault in self.answer_faults or ":" in fault:
            return True
        if fault == "hang":
            while not self._stopping and not self._client_gone(handler, 0.05):
                pass
            handler.close_connection = True
            return False
        if fault == "reset":
            self._reset_connection(handler)
            return False
        if fault in EARLY_FAULTS:
            status = int(fault)
            data, content_type = self._encode_error(None, status)
            headers = {"Content-Type": content_type}
            if status == 429:
                headers["Retry-After"] = f"{rule.retry_after:g}"
            _send(handler, status, data, headers=headers)
            return False
        if fault == "garbage":
            _send(handler, 200, b"{'choices': [oops", "application/json")
            return False
        return True  # a Mistral-only fault on another flavor: answered normally

    @staticmethod
    def _reset_connection(handler: _Handler) -> None:
        """Close the connection with a TCP RST (linger 0) instead of a FIN."""
        handler.close_connection = True
        sock = handler.connection
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.rfile.close()
            handler.wfile.close()
            sock.close()

    def _send_failure(self, handler: _Handler) -> bool:
        """Answer a queued ``fail_next`` failure, if any (POST requests only)."""
        if handler.command != "POST":
            return False
        failure = self._pop_failure()
        if failure is None:
            return False
        _send(handler, failure.status, failure.body, headers=failure.headers)
        return True

    def _generate(self, handler: _Handler, pieces: int, token_delay: float | None = None) -> bool:
        """Spend the time a non-streamed generation of ``pieces`` takes; False (abort
        counted) if the client hung up meanwhile."""
        delay = self.token_delay if token_delay is None else token_delay
        generation = self.ttft + delay * max(0, pieces - 1)
        if self._client_gone(handler, generation):
            self._count_abort(False)
            handler.close_connection = True
            return False
        return True

    def _send_stream(
        self, handler: _Handler, content_type: str, events: list[tuple[float, bytes]]
    ) -> None:
        """Send ``(delay, data)`` events as a chunked 200 response, waiting ``delay`` before
        each; a client hanging up is counted in ``streams_aborted``."""
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        try:
            for delay, data in events:
                if self._client_gone(handler, delay):
                    raise ConnectionResetError("client went away")
                _write_chunk(handler, data)
            handler.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self._count_abort(True)
            handler.close_connection = True

    def _timed_pieces(
        self, pieces: list[bytes], token_delay: float | None = None
    ) -> list[tuple[float, bytes]]:
        """``ttft`` before the first piece, ``token_delay`` before each next one."""
        delay = self.token_delay if token_delay is None else token_delay
        return [(self.ttft if index == 0 else delay, piece) for index, piece in enumerate(pieces)]


class FakeMistral(FakeServer):
    """A real HTTP server imitating the Mistral API (see module docstring).

    Behaviour knobs (plain attributes, change them at any time): ``latency`` (seconds before
    any response), ``ttft`` (before the first token), ``token_delay`` (between streamed
    pieces; non-streaming answers wait ``ttft + token_delay * (pieces - 1)``), ``fim_text`` /
    ``chat_text`` (a string or ``callable(body) -> str``), ``models`` (cards served at
    ``GET /v1/models``), ``require_auth``, ``valid_keys`` (``None`` = any non-empty key) and
    ``check_models`` (answer 400 "Invalid model" like the real API for a model that is neither
    an id nor an alias in ``models``).

    ``stream_fault`` (``None`` by default, cleared by :meth:`reset`) breaks every FIM/chat
    completion answer until it is set back to ``None``:

    - ``"reset_after:N"``: stream N events, then reset the connection (TCP RST);
    - ``"truncate_after:N"``: stream N events, then close the connection without ending the
      chunked body;
    - ``"end_after:N"``: stream N events, then end the body cleanly, without ``[DONE]``;
    - ``"cut_event"``: stream one event and half of the next, then end the body cleanly;
    - ``"garbage"``: a 200 ``text/event-stream`` answer whose events are not JSON;
    - ``"html"``: a 200 ``text/html`` page (a captive portal, a misrouted proxy);
    - ``"not_json"``: a 200 ``application/json`` answer that is not JSON.

    The last three apply to non-streamed requests too, the others only to streamed ones.
    """

    thread_name = "fake-mistral"
    default_path = FIM_PATH
    fim_paths = (FIM_PATH,)
    answer_faults = frozenset({"garbage", "slow_stream", "cut_event", "html", "not_json"})

    def __init__(
        self,
        *,
        latency: float = 0.0,
        ttft: float = 0.0,
        token_delay: float = 0.0,
        require_auth: bool = True,
        valid_keys: set[str] | None = None,
        check_models: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(latency=latency, ttft=ttft, token_delay=token_delay, host=host, port=port)
        self._initial: dict[str, Any] = {
            "require_auth": require_auth,
            "valid_keys": set(valid_keys) if valid_keys is not None else None,
            "check_models": check_models,
        }
        self.require_auth: bool = require_auth
        self.valid_keys: set[str] | None = None
        self.check_models: bool = check_models
        self.fim_text: str | Callable[[dict[str, Any]], str] = "pass"
        self.chat_text: str | Callable[[dict[str, Any]], str] = "pass"
        self.models: list[dict[str, Any]] = []
        self.stream_fault: str | None = None
        #: Answers recorded by ``codestral-ls record`` (``fake-api --replay``), if any.
        self.replay: Replay | None = None
        self._restore_defaults()

    def _restore_defaults(self) -> None:
        super()._restore_defaults()
        initial = self._initial
        self.require_auth = bool(initial["require_auth"])
        keys = initial["valid_keys"]
        self.valid_keys = set(keys) if keys is not None else None
        self.check_models = bool(initial["check_models"])
        self.fim_text = "pass"
        self.chat_text = "pass"
        self.models = default_models()
        self.stream_fault = None

    def _resolve_model(self, name: Any) -> str | None:
        if not isinstance(name, str):
            return None
        for card in self.models:
            if card.get("id") == name or name in (card.get("aliases") or []):
                return str(card.get("id"))
        return None

    def _authorized(self, headers: dict[str, str]) -> bool:
        token = self._bearer(headers)
        if token is None:
            return False
        return self.valid_keys is None or token in self.valid_keys

    # ------------------------------------------------------------------ request handling

    @staticmethod
    def _details(method: str, path: str, raw: bytes, parsed: Any) -> list[dict[str, Any]]:
        kind = _KIND_BY_PATH.get(path) if method == "POST" else None
        if not kind:
            return []
        if raw and parsed is None:
            return [{"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error"}]
        return validation_details(kind, parsed if isinstance(parsed, dict) else None)

    def _handle(self, handler: _Handler) -> None:
        details: list[dict[str, Any]] = []

        def validate(method: str, path: str, raw: bytes, parsed: Any) -> list[str]:
            details.extend(self._details(method, path, raw, parsed))
            return [_format_detail(detail) for detail in details]

        record, _raw = self._receive(handler, validate)
        method, path, headers, body = record.method, record.path, record.headers, record.body
        kind = _KIND_BY_PATH.get(path) if method == "POST" else None

        if not self._hold(handler, record):
            return

        if self._send_failure(handler):
            return

        known = path == MODELS_PATH or path in _KIND_BY_PATH
        if not known:
            _send_json(handler, 404, {"detail": "Not Found"})
            return
        if (path == MODELS_PATH and method != "GET") or (path != MODELS_PATH and kind is None):
            _send_json(handler, 405, {"detail": "Method Not Allowed"})
            return
        if self.require_auth and not self._authorized(headers):
            _send_json(handler, 401, {"message": "Unauthorized", "request_id": uuid.uuid4().hex})
            return
        if path == MODELS_PATH and self.replay is not None and self.replay.has(method, path):
            self.replay.answer(self, handler, record)
            return
        if path == MODELS_PATH:
            _send_json(handler, 200, {"object": "list", "data": copy.deepcopy(self.models)})
            return
        if details:
            _send_json(handler, 422, {"detail": details})
            return
        if self.replay is not None:
            self.replay.answer(self, handler, record)
            return
        assert body is not None and kind is not None
        model = self._resolve_model(body.get("model"))
        if model is None:
            if self.check_models:
                _send_json(
                    handler,
                    400,
                    {
                        "object": "error",
                        "message": f"Invalid model: {body.get('model')}",
                        "type": "invalid_model",
                        "param": None,
                        "code": "1500",
                    },
                )
                return
            model = str(body.get("model"))
        if kind == "embeddings":
            self._answer_embeddings(handler, body, model)
        else:
            self._answer_completion(handler, kind, body, model, record.stream, record.rule)

    def _answer_embeddings(self, handler: _Handler, body: dict[str, Any], model: str) -> None:
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        data = [
            {"object": "embedding", "embedding": _embedding(model, text), "index": index}
            for index, text in enumerate(texts)
        ]
        data.reverse()  # deliberately out of order: clients must sort by "index"
        tokens = sum(len(_pieces(text)) for text in texts)
        _send_json(
            handler,
            200,
            {
                "id": uuid.uuid4().hex,
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens},
            },
        )

    def _completion_text(self, kind: str, body: dict[str, Any], rule: Rule | None = None) -> str:
        if rule is not None and rule.text is not None:
            return rule.text
        if self.rules.default is not None:
            return self.rules.default
        source = self.fim_text if kind == "fim" else self.chat_text
        return str(source(body)) if callable(source) else str(source)

    @staticmethod
    def _prompt_tokens(kind: str, body: dict[str, Any]) -> int:
        if kind == "fim":
            text = str(body.get("prompt") or "") + str(body.get("suffix") or "")
        else:
            contents = [m.get("content") for m in body.get("messages", []) if isinstance(m, dict)]
            text = "".join(c for c in contents if isinstance(c, str))
        return len(_pieces(text))

    def _answer_completion(
        self,
        handler: _Handler,
        kind: str,
        body: dict[str, Any],
        model: str,
        stream: bool,
        rule: Rule | None = None,
    ) -> None:
        text = self._completion_text(kind, body, rule)
        cuts = [text.find(stop) for stop in _stops(body) if stop in text]
        if cuts:
            text = text[: min(cuts)]
        pieces = _pieces(text)
        finish_reason = "stop"
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, int) and len(pieces) > max_tokens:
            pieces = pieces[:max_tokens]
            finish_reason = "length"
        if rule is not None and rule.finish_reason is not None:
            finish_reason = rule.finish_reason
        prompt_tokens = self._prompt_tokens(kind, body)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens + len(pieces),
        }
        response_id = uuid.uuid4().hex
        created = int(time.time())

        fault = self.stream_fault
        token_delay = self.token_delay
        if rule is not None and rule.fault == "slow_stream":
            token_delay = rule.token_delay_ms / 1000
        elif rule is not None and rule.fault is not None:
            fault = rule.fault
        if fault in ("html", "not_json") or (fault == "garbage" and not stream):
            page = (
                b"<html><head><title>Sign in</title></head><body>Wi-Fi login</body></html>"
                if fault == "html"
                else b"{'choices': [oops"
            )
            kind_of = "text/html; charset=utf-8" if fault == "html" else "application/json"
            _send(handler, 200, page, kind_of)
            return

        if not stream:
            if not self._generate(handler, len(pieces), token_delay):
                return
            _send_json(
                handler,
                200,
                {
                    "id": response_id,
                    "object": "chat.completion",
                    "model": model,
                    "usage": usage,
                    "created": created,
                    "choices": [
                        {
                            "index": 0,
                            "message": {
                                "role": "assistant",
                                "content": "".join(pieces),
                                "prefix": False,
                                "tool_calls": None,
                            },
                            "finish_reason": finish_reason,
                        }
                    ],
                },
            )
            return

        def chunk(delta: dict[str, Any], finish: str | None, **extra: Any) -> bytes:
            event = {
                "id": response_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return b"data: " + json.dumps(event).encode() + b"\n\n"

        first = pieces[0] if pieces else ""
        data = [chunk({"role": "assistant", "content": first}, None)]
        data.extend(chunk({"content": piece}, None) for piece in pieces[1:])
        events = self._timed_pieces(data, token_delay)
        events.append((0.0, chunk({"content": ""}, finish_reason, usage=usage)))
        events.append((0.0, b"data: [DONE]\n\n"))
        if fault is not None:
            self._send_faulty_stream(handler, fault, events)
            return
        self._send_stream(handler, "text/event-stream; charset=utf-8", events)

    def _send_faulty_stream(
        self, handler: _Handler, fault: str, events: list[tuple[float, bytes]]
    ) -> None:
        """Answer a streamed request the broken way ``fault`` says (see the class doc)."""
        name, _, count = fault.partition(":")
        n = int(count) if count else 1
        if name == "garbage":
            garbage = [(0.0, b"data: <html>not json</html>\n\n"), (0.0, b"data: [DONE]\n\n")]
            self._send_stream(handler, "text/event-stream; charset=utf-8", garbage)
            return
        if name == "end_after":
            self._send_stream(handler, "text/event-stream; charset=utf-8", events[:n])
            return
        if name == "cut_event":
            head = events[:1]
            if len(events) > 1:
                delay, data = events[1]
                head.append((delay, data[: len(data) // 2]))
            self._send_stream(handler, "text/event-stream; charset=utf-8", head)
            return
        if name not in ("reset_after", "truncate_after"):
            raise ValueError(f"unknown stream_fault {fault!r}")
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        try:
            for delay, data in events[:n]:
                if self._client_gone(handler, delay):
                    raise ConnectionResetError("client went away")
                _write_chunk(handler, data)
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self._count_abort(True)
        handler.close_connection = True
        sock = handler.connection
        with contextlib.suppress(OSError):
            if name == "reset_after":
                # linger 0: close() sends RST instead of FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                handler.rfile.close()
                handler.wfile.close()
                sock.close()
            else:
                sock.shutdown(socket.SHUT_RDWR)
