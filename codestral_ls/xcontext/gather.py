"""The context layer's entry point: from a cursor and the open documents to context files.

:class:`ContextGatherer` owns the per-document caches of the sources and asks each enabled
source for snippets, then :func:`~codestral_ls.xcontext.assemble.assemble` picks what fits.
It knows nothing of LSP: the server feeds it edits, and :func:`collect_context` lets other
tools (``codestral-ls eval``) use it with a workspace root and a list of documents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..documents import Cursor, Document
from ..privacy import is_excluded, redact
from ..settings import Settings
from ..snippets import ContextFile
from .assemble import assemble
from .imports import HEAD_LINES, Imports, OpenText
from .openfiles import OpenFiles, query_tokens
from .recent import RecentEdits
from .snippet import Snippet
from .workspace import Workspace, path_to_uri, uri_to_path


class Retriever(Protocol):
    """A source that answers from an index (the embeddings index)."""

    def snippets(self, query: str, current_uri: str, limit: int) -> list[Snippet]: ...


@dataclass(frozen=True)
class GatheredContext:
    """What goes with one request: the files, the current path and a key for the cache."""

    files: tuple[ContextFile, ...] = ()
    path: str | None = None

    @property
    def key(self) -> str:
        """Changes whenever the files change (empty without files)."""
        if not self.files:
            return ""
        digest = hashlib.blake2b(digest_size=12)
        for file in self.files:
            digest.update(file.path.encode("utf-8", "surrogatepass") + b"\0")
            digest.update(file.text.encode("utf-8", "surrogatepass") + b"\1")
        digest.update((self.path or "").encode("utf-8", "surrogatepass"))
        return digest.hexdigest()


class ContextGatherer:
    """The sources of cross-file context and their caches, for one workspace."""

    def __init__(self, workspace: Workspace | None = None) -> None:
        self.workspace = workspace or Workspace()
        self.open_files = OpenFiles()
        self.recent = RecentEdits()
        self.imports = Imports()
        self.retriever: Retriever | None = None
        self._used: dict[str, int] = {}
        self._clock = 0
        self._excluded: dict[tuple[str, tuple[str, ...]], bool] = {}

    def allowed(self, uri: str, exclude: tuple[str, ...]) -> bool:
        """Whether ``uri`` may be sent (not excluded), remembered per URI and patterns."""
        key = (uri, exclude)
        known = self._excluded.get(key)
        if known is None:
            if len(self._excluded) > 10_000:
                self._excluded.clear()
            known = self._excluded[key] = not is_excluded(uri, exclude)
        return known

    def forget(self, uri: str) -> None:
        """``uri`` was closed."""
        self.open_files.forget(uri)
        self._used.pop(uri, None)

    def touch(self, uri: str) -> None:
        """``uri`` was opened or edited (recency orders the open files)."""
        self._clock += 1
        self._used[uri] = self._clock

    def edited(self, uri: str, start_line: int, text: str) -> None:
        """An edit at ``start_line`` of ``uri`` inserted ``text``."""
        self.touch(uri)
        self.recent.record(uri, start_line, start_line + text.count("\n") + 1)

    def by_recency(self, documents: Iterable[Document]) -> list[Document]:
        """``documents``, most recently opened or edited first."""
        return sorted(documents, key=lambda d: -self._used.get(d.uri, 0))

    def gather(
        self,
        current: Document,
        cursor: Cursor,
        documents: Sequence[Document],
        settings: Settings,
        budget: int,
    ) -> GatheredContext:
        """The context for a request at ``cursor`` in ``current`` within ``budget`` chars.

        ``documents`` are the open documents, most recently used first.  Excluded documents
        never contribute and every text is redacted when ``redactSecrets`` is on.
        """
        options = settings.context
        path = self.workspace.relative(current.uri)
        if budget <= 0 or not options.any_source:
            return GatheredContext(path=path)

        def allowed(uri: str) -> bool:
            return self.allowed(uri, settings.exclude)

        usable = [d for d in documents if d.uri != current.uri and allowed(d.uri)]
        by_uri = {d.uri: d for d in usable}
        relative = self.workspace.relative
        snippets: list[Snippet] = []
        line = cursor.line
        before = current.lines[line][: cursor.column]
        if options.openFiles:
            query = query_tokens(current.lines, line, before)
            snippets += self.open_files.snippets(
                query, current, usable, relative, limit=options.maxSnippets
            )
        if options.recentEdits:
            snippets += self.recent.snippets(current.uri, by_uri.get, relative)
        if options.imports:
            snippets += self._imports(current, cursor, settings, by_uri, allowed)
        if options.embeddings and self.retriever is not None:
            # The lines above the cursor: the query (and its search) changes with a new line,
            # not with every key.
            query_text = "".join(current.lines[max(0, line - 30) : line]) or before
            found = self.retriever.snippets(query_text, current.uri, options.maxSnippets)
            snippets += [s for s in found if allowed(s.uri) and s.uri not in (current.uri,)]
        clean: Callable[[str], str] = redact if settings.redactSecrets else (lambda t: t)
        files = assemble(snippets, budget, max_snippets=options.maxSnippets, clean=clean)
        return GatheredContext(files, path)

    def _imports(
        self,
        current: Document,
        cursor: Cursor,
        settings: Settings,
        open_documents: dict[str, Document],
        allowed: Callable[[str], bool],
    ) -> list[Snippet]:
        file = uri_to_path(current.uri)
        if file is None:
            return []
        workspace = self.workspace if self.workspace.roots else Workspace([file.parent])
        roots = workspace.roots
        # The cursor's line is left out: typing on it then changes nothing here.
        line = cursor.line
        head = "".join(current.lines[: min(line, HEAD_LINES)]) + "".join(
            current.lines[line + 1 : HEAD_LINES]
        )
        usage = ""
        if current.language_id == "go":
            usage = "".join(current.lines[:line]) + "".join(current.lines[line + 1 : 3000])

        def read_open(path: Path) -> OpenText | None:
            document = open_documents.get(path_to_uri(path))
            if document is None:
                return None
            return (lambda: document.text), (document.version, document.size)

        def relative(path: Path) -> tuple[str, str]:
            uri = path_to_uri(path)
            return uri, workspace.relative(uri)

        return self.imports.snippets(
            current.language_id, head, file, roots, usage, read_open, relative, allowed
        )


def context_budget(settings: Settings, room: int | None = None) -> int:
    """Characters for context: ``context.share`` of ``prefixChars``, within ``room``.

    ``room`` is what the model's context window leaves after the prefix and suffix, so context
    never displaces the text around the cursor.
    """
    if not settings.context.any_source:
        return 0
    budget = int(settings.prefixChars * settings.context.share)
    return budget if room is None else max(0, min(budget, room))


def collect_context(
    root: Path | str | None,
    documents: Iterable[Document],
    current: Document,
    cursor: Cursor,
    settings: Settings | None = None,
    *,
    budget: int | None = None,
    gatherer: ContextGatherer | None = None,
) -> tuple[ContextFile, ...]:
    """The context files for a cursor, outside the server (``codestral-ls eval``).

    ``documents`` are the "open" documents besides ``current`` (most relevant first); imports
    are resolved in ``root``.
    """
    settings = settings or Settings()
    gatherer = gatherer or ContextGatherer(Workspace([root] if root is not None else []))
    size = context_budget(settings) if budget is None else budget
    return gatherer.gather(current, cursor, list(documents), settings, size).files
