"""Record a real session once, replay it offline: ``codestral-ls record`` and
``codestral-ls fake-api --replay``.

:class:`RecordingProxy` is a local HTTP proxy in front of the real endpoint.  It forwards each
request as it is (streamed answers chunk by chunk, as they arrive) and appends one JSON line
per exchange to the session file::

    {"method": "POST", "path": "/v1/fim/completions", "body": {...}, "status": 200,
     "headers": {"content-type": "text/event-stream"}, "events": ["{...}", "[DONE]"]}

(``response`` instead of ``events`` for an answer that is not an event stream).  What is
written goes through the server's own redaction (:func:`codestral_ls.privacy.redact`, on
every string of the request and the answer), and the API key is never written: the
``Authorization`` header is not recorded, and the key is scrubbed from any text that
contains it.

:class:`Replay` answers from such a file.  A request matches a recording by its normalized
body (redacted the same way, keys sorted): ``strict`` answers only exact matches (anything
else gets a 400 saying so), ``nearest`` answers the most similar recorded body of the same
path (``stream`` the same if possible).  Identical requests get the recorded answers in
order, then the last one again.
"""

from __future__ import annotations

import difflib
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from ..privacy import REDACTED, redact
from .fake_mistral import _read_body, _send, _write_chunk
from .httpserver import QuietHandler, QuietServer

if TYPE_CHECKING:
    from .fake_mistral import FakeServer, Recorded, _Handler

__all__ = ["MISMATCH_POLICIES", "Exchange", "RecordingProxy", "Replay", "normalize", "scrub"]

MISMATCH_POLICIES = ("strict", "nearest")
#: Request headers not forwarded as they are (hop by hop, or set by the proxy).
_DROP_REQUEST = frozenset(
    {"host", "connection", "content-length", "transfer-encoding", "accept-encoding", "keep-alive"}
)
#: Answer headers not passed back (the proxy re-frames and decodes the body).
_DROP_RESPONSE = frozenset(
    {"connection", "content-length", "transfer-encoding", "content-encoding", "keep-alive"}
)
#: Answer headers kept in a recording (and sent again on replay).
_KEEP_RESPONSE = ("content-type", "retry-after")


def scrub(value: Any, secrets: Iterable[str] = ()) -> Any:
    """``value`` (parsed JSON) with every string redacted and every secret removed."""
    hidden = [s for s in secrets if s]
    if isinstance(value, str):
        text = redact(value)
        for secret in hidden:
            text = text.replace(secret, REDACTED)
        return text
    if isinstance(value, dict):
        return {key: scrub(item, hidden) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub(item, hidden) for item in value]
    return value


def normalize(body: Any) -> str:
    """The matching key of a request body: redacted as recorded, keys sorted."""
    return json.dumps(scrub(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _events(data: bytes) -> list[str]:
    """The ``data:`` payloads of a server-sent events body."""
    found: list[str] = []
    for line in data.decode("utf-8", "replace").splitlines():
        if line.startswith("data:"):
            found.append(line[5:].removeprefix(" "))
    return found


@dataclass
class Exchange:
    """One recorded request and its answer."""

    method: str
    path: str
    body: Any
    status: int
    headers: dict[str, str]
    response: Any = None
    events: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        line: dict[str, Any] = {
            "method": self.method,
            "path": self.path,
            "body": self.body,
            "status": self.status,
            "headers": self.headers,
        }
        if self.events is not None:
            line["events"] = self.events
        else:
            line["response"] = self.response
        return line

    @classmethod
    def from_json(cls, data: Any) -> Exchange:
        if not isinstance(data, dict) or not isinstance(data.get("path"), str):
            raise ValueError("not a recorded exchange")
        events = data.get("events")
        return cls(
            method=str(data.get("method") or "POST"),
            path=data["path"],
            body=data.get("body"),
            status=int(data.get("status") or 200),
            headers={str(k).lower(): str(v) for k, v in (data.get("headers") or {}).items()},
            response=data.get("response"),
            events=[str(e) for e in events] if isinstance(events, list) else None,
        )


# --------------------------------------------------------------------------------------------
# Replay


class Replay:
    """Answers recorded by :class:`RecordingProxy` (see the module doc)."""

    def __init__(self, exchanges: Iterable[Exchange], mismatch: str = "strict") -> None:
        if mismatch not in MISMATCH_POLICIES:
            raise ValueError(f"mismatch must be one of {', '.join(MISMATCH_POLICIES)}")
        self.mismatch = mismatch
        self.exchanges = list(exchanges)
        self._keys = [normalize(e.body) for e in self.exchanges]
        self._served: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()
        #: Requests no recording matched (method, path, normalized body).
        self.misses: list[tuple[str, str, str]] = []

    @classmethod
    def load(cls, path: str | Path, mismatch: str = "strict") -> Replay:
        exchanges: list[Exchange] = []
        with Path(path).open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    exchanges.append(Exchange.from_json(json.loads(line)))
                except ValueError as error:
                    raise ValueError(f"{path}:{number}: {error}") from None
        return cls(exchanges, mismatch)

    def has(self, method: str, path: str) -> bool:
        return any(e.method == method and e.path == path for e in self.exchanges)

    def find(self, method: str, path: str, body: Any) -> Exchange | None:
        """The recorded answer for this request under the mismatch policy, if any."""
        key = normalize(body)
        same = [
            i
            for i, e in enumerate(self.exchanges)
            if e.method == method and e.path == path and self._keys[i] == key
        ]
        with self._lock:
            if same:
                served = self._served.get((method, path, key), 0)
                self._served[(method, path, key)] = served + 1
                return self.exchanges[same[min(served, len(same) - 1)]]
            candidates = [
                i for i, e in enumerate(self.exchanges) if e.method == method and e.path == path
            ]
            if self.mismatch == "strict" or not candidates:
                self.misses.append((method, path, key))
                return None
        stream = isinstance(body, dict) and body.get("stream") is True

        def score(index: int) -> tuple[bool, float]:
            recorded = self.exchanges[index].body
            same_stream = (isinstance(recorded, dict) and recorded.get("stream") is True) == stream
            matcher = difflib.SequenceMatcher(None, self._keys[index], key, autojunk=False)
            return same_stream, matcher.ratio()

        return self.exchanges[max(candidates, key=score)]

    def answer(self, fake: FakeServer, handler: _Handler, record: Recorded) -> None:
        """Send the recorded answer to ``record`` (or the mismatch error)."""
        exchange = self.find(record.method, record.path, record.body)
        if exchange is None:
            message = (
                f"codestral-ls fake-api: no recorded answer matches this request to "
                f"{record.path} (replay with --mismatch {self.mismatch})"
            )
            error = {"object": "error", "message": message, "type": "replay_mismatch"}
            _send(handler, 400, json.dumps(error).encode(), "application/json")
            return
        headers = dict(exchange.headers)
        content_type = headers.pop("content-type", "application/json")
        if exchange.events is not None:
            events = [(0.0, f"data: {event}\n\n".encode()) for event in exchange.events]
            fake._send_stream(handler, content_type, events)
            return
        response = exchange.response
        data = response.encode() if isinstance(response, str) else json.dumps(response).encode()
        _send(handler, exchange.status, data, content_type, headers)


# --------------------------------------------------------------------------------------------
# Recording proxy


class _ProxyServer(QuietServer):
    proxy: RecordingProxy


class _ProxyHandler(QuietHandler):
    server_version = "codestral-ls-record/1.0"
    server: _ProxyServer

    def _dispatch(self) -> None:
        try:
            self.server.proxy._forward(self)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    do_GET = _dispatch
    do_POST = _dispatch
    do_PUT = _dispatch
    do_DELETE = _dispatch


class RecordingProxy:
    """A local proxy to ``upstream`` that records every exchange to ``to`` (JSONL, appended).

    ``api_key``: sent upstream when the client sends no ``Authorization`` of its own.  It and
    any bearer token seen are scrubbed from what is written.
    """

    def __init__(
        self,
        upstream: str,
        to: str | Path,
        *,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout: float = 120.0,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.path = Path(to)
        self._api_key = api_key
        self._address = (host, port)
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0))
        self._server: _ProxyServer | None = None
        self._thread: threading.Thread | None = None
        #: Exchanges written so far.
        self.recorded = 0

    def start(self) -> RecordingProxy:
        server = _ProxyServer(self._address, _ProxyHandler)
        server.proxy = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"record-proxy-{server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._http.close()

    def __enter__(self) -> RecordingProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._address[0]}:{self.port}"

    def _forward(self, handler: _ProxyHandler) -> None:
        split = urlsplit(handler.path)
        target = self.upstream + split.path + (f"?{split.query}" if split.query else "")
        raw = _read_body(handler)
        headers = {
            key: value for key, value in handler.headers.items() if key.lower() not in _DROP_REQUEST
        }
        secrets = [self._api_key or ""]
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        if auth is None and self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        elif auth is not None:
            secrets.append(auth.partition(" ")[2].strip())
        request = self._http.build_request(handler.command, target, headers=headers, content=raw)
        try:
            response = self._http.send(request, stream=True)
        except httpx.HTTPError as error:
            failure = type(error).__name__
            message = f"codestral-ls record: upstream {self.upstream} failed: {failure}"
            _send(handler, 502, json.dumps({"message": message}).encode())
            return
        received: list[bytes] = []
        try:
            handler.send_response(response.status_code)
            for key, value in response.headers.items():
                if key.lower() not in _DROP_RESPONSE:
                    handler.send_header(key, value)
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            for chunk in response.iter_bytes():
                if chunk:
                    received.append(chunk)
                    _write_chunk(handler, chunk)
                    handler.wfile.flush()
            handler.wfile.write(b"0\r\n\r\n")
        finally:
            response.close()
        self._write(handler.command, split.path, raw, response, b"".join(received), secrets)

    def _write(
        self,
        method: str,
        path: str,
        raw: bytes,
        response: httpx.Response,
        data: bytes,
        secrets: list[str],
    ) -> None:
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        headers = {k: response.headers[k] for k in _KEEP_RESPONSE if k in response.headers}
        exchange = Exchange(method, path, body, response.status_code, headers)
        if "text/event-stream" in headers.get("content-type", ""):
            exchange.events = _events(data)
        else:
            try:
                exchange.response = json.loads(data) if data else None
            except ValueError:
                exchange.response = data.decode("utf-8", "replace")
        line = scrub(exchange.to_json(), secrets)
        if exchange.events is not None:
            # events are JSON texts: redact their strings, not the JSON syntax
            line["events"] = [_scrub_event(event, secrets) for event in exchange.events]
        text = json.dumps(line, ensure_ascii=False)
        for secret in secrets:
            if secret:
                text = text.replace(secret, REDACTED)
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(text + "\n")
            self.recorded += 1


def _scrub_event(event: str, secrets: list[str]) -> str:
    try:
        parsed = json.loads(event)
    except ValueError:
        return str(scrub(event, secrets))
    return json.dumps(scrub(parsed, secrets), ensure_ascii=False)
