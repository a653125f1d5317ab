"""A minimal pygls 2 language server: the baseline for spawn-to-initialize time and idle memory.

It offers ghost text that never suggests anything, so it starts the way codestral-ls does
(stdio, one async feature) without anything codestral-ls adds.
"""

from __future__ import annotations

from lsprotocol import types
from pygls.lsp.server import LanguageServer

server = LanguageServer("bare-pygls", "0")


@server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
async def inline_completion(
    ls: LanguageServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList | None:
    return None


if __name__ == "__main__":
    server.start_io()
