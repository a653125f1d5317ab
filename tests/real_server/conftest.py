"""Fixtures for the checks against a real llama-server (bench/real_llama.sh runs them).

Skipped unless ``LLAMA_SERVER`` (the llama-server binary) and ``LLAMA_MODEL`` (a GGUF with
FIM tokens) are set.  The server runs with ``-c 1024`` (issue 12's set-up) on a free
127.0.0.1 port; a recording pass-through proxy in front of it shows which paths and bodies
codestral-ls sent.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import fake, fake_server, start  # noqa: F401 (fixtures)

N_CTX = 1024

SERVER = os.environ.get("LLAMA_SERVER", "")
MODEL = os.environ.get("LLAMA_MODEL", "")

pytestmark = pytest.mark.skipif(
    not (SERVER and MODEL), reason="needs LLAMA_SERVER and LLAMA_MODEL (bench/real_llama.sh)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RealServer:
    url: str
    model: str
    log: Path
    process: subprocess.Popen[bytes]


def start_llama(tmp: Path) -> RealServer:
    port = free_port()
    log = tmp / "llama-server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(SERVER, "-m", MODEL, "--host", "127.0.0.1", "--port", str(port)),
                *("-c", str(N_CTX), "-np", "1", "--threads", "2", "--no-webui"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama-server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return RealServer(url, MODEL, log, process)
        except httpx.HTTPError:
            pass
        time.sleep(0.5)  # polling a starting process, not synchronising a test
    process.kill()
    raise RuntimeError("llama-server did not become healthy in 180 s")


@pytest.fixture(scope="session")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    server = start_llama(tmp_path_factory.mktemp("llama"))
    try:
        yield server
    finally:
        server.process.terminate()
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()


@dataclass
class Seen:
    method: str
    path: str
    body: Any
    status: int = 0


@dataclass
class Proxy:
    url: str
    seen: list[Seen] = field(default_factory=list)

    def posts(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "POST"]


@pytest.fixture
def proxy(llama: RealServer) -> Iterator[Proxy]:
    """A recording pass-through proxy to the real server (streams answers as they come)."""
    target = httpx.URL(llama.url)
    record = Proxy(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # close-delimited answers: streaming passes through

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            seen = Seen(self.command, self.path, body)
            record.seen.append(seen)
            upstream = http.client.HTTPConnection(target.host, target.port, timeout=300)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            upstream.request(self.command, self.path, body=raw or None, headers=headers)
            answer = upstream.getresponse()
            seen.status = answer.status
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Connection", "close")
            self.end_headers()
            while chunk := answer.read1(65536):
                self.wfile.write(chunk)
                self.wfile.flush()
            upstream.close()

        do_GET = _forward
        do_POST = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    record.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()
