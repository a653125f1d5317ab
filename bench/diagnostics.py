"""In-process diagnostics that explain figures of the end-to-end traces.

``retained_futures``: pygls 2.1.1 keeps a future in ``protocol._request_futures`` for every
notification handled by a generator, async or threaded handler, and only requests remove
theirs.  codestral-ls handles ``didOpen``/``didChange``/``didClose`` with plain methods so no
keystroke leaves one behind (it used generators, and leaked one per keystroke, until the
benchmark showed it); this counts them without starting a process, as a regression check.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from codestral_ls.server import CodestralLanguageServer


class _NullWriter:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


async def retained_futures(changes: int = 1000) -> dict[str, Any]:
    """Futures pygls keeps after ``changes`` didChange notifications (0 once fixed)."""
    server = CodestralLanguageServer(environ={})
    protocol = server.protocol
    futures = getattr(protocol, "_request_futures", None)
    if not isinstance(futures, dict):
        return {"available": False}
    protocol.set_writer(_NullWriter())

    def feed(method: str, params: dict[str, Any]) -> None:
        raw = json.dumps({"jsonrpc": "2.0", "method": method, "params": params})
        protocol.handle_message(json.loads(raw, object_hook=protocol.structure_message))

    uri = "file:///bench/diagnostics.py"
    feed(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": "x\n"}},
    )
    before = len(futures)
    at = {"line": 0, "character": 0}
    for version in range(2, changes + 2):
        feed(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"range": {"start": at, "end": at}, "text": "y"}],
            },
        )
    await asyncio.sleep(0)
    document = server.documents.get(uri)
    applied = document is not None and document.line(0) == "y" * changes + "x"
    await server.http.aclose()
    return {
        "available": True,
        "changes": changes,
        "applied": applied,
        "retained": len(futures) - before,
        "retained_per_didchange": (len(futures) - before) / changes,
    }


if __name__ == "__main__":
    print(asyncio.run(retained_futures()))
