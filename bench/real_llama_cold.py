"""Cold first suggestion against a real llama-server (issue 12, item 5): run by
bench/real_llama.sh after its checks.

Starts a fresh llama-server (nothing cached), then asks for one completion through the same
engine and backend choice as ``codestral-ls complete``, with default settings but the
endpoint, on a 5,000-character prompt; then again at the same spot after an edit elsewhere
(warm prompt cache).  Prints the wall times and whether a suggestion came.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from lsprotocol import types

from codestral_ls.backends import make_http_client
from codestral_ls.cli import _backend_for
from codestral_ls.documents import Document
from codestral_ls.engine import CompletionEngine, Trace
from codestral_ls.health import Health
from codestral_ls.notify import Notifier
from codestral_ls.settings import Environment, parse_settings, resolve_connection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.real_server.conftest import start_llama


async def one(url: str, text: str, offset: int) -> tuple[float, str | None, list[str], Trace]:
    settings, _ = parse_settings({"endpoint": url})
    connection = resolve_connection(settings, Environment())
    messages: list[str] = []
    http = make_http_client()
    try:
        started = time.perf_counter()
        backend, settings = await _backend_for(http, settings, url, connection)
        engine = CompletionEngine(backend, Health(Notifier(lambda kind, m: messages.append(m))))
        engine.configure(settings, connection)
        document = Document("file:///bench.py", text, encoding=types.PositionEncodingKind.Utf32)
        before = text[:offset]
        cursor = document.cursor(
            types.Position(line=before.count("\n"), character=len(before.rsplit("\n", 1)[-1]))
        )
        trace = Trace()
        suggestion = await engine.complete(document, cursor, debounce=False, trace=trace)
        elapsed = time.perf_counter() - started
    finally:
        await http.aclose()
    return elapsed, suggestion.text if suggestion else None, messages, trace


def main() -> int:
    import tempfile

    body = "".join(f"def f{i}(x):\n    return x * {i} + len('padding text')\n\n" for i in range(90))
    text = body[:5000] + "\ndef total(values):\n    \n\nprint(total([1, 2]))\n"
    offset = text.index("\n\nprint(total")
    with tempfile.TemporaryDirectory() as tmp:
        server = start_llama(Path(tmp))
        try:
            cold = asyncio.run(one(server.url, text, offset))
            warm = asyncio.run(one(server.url, "# edited\n" + text, offset + 9))
        finally:
            server.process.terminate()
            server.process.wait(timeout=20)
    for name, (elapsed, suggestion, messages, trace) in (("cold", cold), ("warm", warm)):
        shown = "none" if suggestion is None else repr(suggestion[:40])
        raw = "none" if trace.raw is None else f"{len(trace.raw)} chars {trace.raw[:40]!r}"
        failure = "none" if trace.error is None else f"{type(trace.error).__name__}: {trace.error}"
        print(
            f"{name}: {elapsed * 1000:.0f} ms, upstream answer {raw}, failure {failure}, "
            f"suggestion after clean-up {shown}, messages {messages}"
        )
    return 0 if not cold[2] and cold[3].error is None else 1


if __name__ == "__main__":
    os.environ.pop("CODESTRAL_API_KEY", None)
    sys.exit(main())
