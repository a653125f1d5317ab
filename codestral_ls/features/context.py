"""Cross-file context: workspace folders, and the embeddings index's life cycle.

The context layer itself is :mod:`codestral_ls.xcontext`; this module connects it to LSP:
the workspace folders from ``initialize``, the opt-in embeddings index (built in the
background with a cancellable ``$/progress``, updated on ``didSave`` and
``workspace/didChangeWatchedFiles``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ..backends.embeddings import embedder_for
from ..backends.errors import BackendError
from ..settings import Settings
from ..state import state_dir
from ..xcontext import Workspace
from ..xcontext.embeddings import (
    DIMENSION,
    EmbeddingIndex,
    SemanticRetriever,
    workspace_files,
)
from ..xcontext.workspace import uri_to_path

if TYPE_CHECKING:
    from ..server import CodestralLanguageServer

logger = logging.getLogger(__name__)

INDEX_READY = "codestral-ls: embeddings index ready"


def register(ls: CodestralLanguageServer) -> None:
    service = EmbeddingsService(ls)
    ls.initialize_hooks.append(_workspace_roots)
    ls.settings_hooks.append(service.configure)
    ls.initialized_hooks.append(service.start)

    @ls.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(ls: CodestralLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        path = uri_to_path(params.text_document.uri)
        if path is not None:
            service.changed([path])

    @ls.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(
        ls: CodestralLanguageServer, params: types.DidChangeWatchedFilesParams
    ) -> None:
        paths = [uri_to_path(change.uri) for change in params.changes]
        service.changed([path for path in paths if path is not None])


def _workspace_roots(ls: CodestralLanguageServer, params: types.InitializeParams) -> None:
    roots = []
    for folder in params.workspace_folders or ():
        path = uri_to_path(folder.uri)
        if path is not None:
            roots.append(path)
    if not roots and params.root_uri:
        path = uri_to_path(params.root_uri)
        if path is not None:
            roots.append(path)
    if not roots and params.root_path:
        roots.append(Path(params.root_path))
    ls.context.workspace = Workspace(roots)


class EmbeddingsService:
    """Owns the embeddings index of the first workspace folder while ``context.embeddings``
    is on, and keeps it current."""

    def __init__(self, ls: CodestralLanguageServer) -> None:
        self.ls = ls
        self.key: tuple[Any, ...] | None = None
        self.index: EmbeddingIndex | None = None
        self.task: asyncio.Task[Any] | None = None
        self.pending: set[Path] = set()
        self.embed: Any = None
        #: Set once the client sent ``initialized`` (no progress or work before that).
        self.started = False

    def start(self, ls: CodestralLanguageServer) -> None:
        """``initialized`` arrived (and its configuration pull is over)."""
        self.started = True
        self.key = None
        self.configure(ls.settings)

    def configure(self, settings: Settings) -> None:
        """Start, restart or stop the index after a settings change."""
        options = settings.context
        roots = self.ls.context.workspace.roots
        wanted = options.enable and options.embeddings and bool(roots)
        embed = embedder_for(self.ls.backend, options.embeddingModel, DIMENSION) if wanted else None
        if wanted and embed is None:
            self.ls.notifier.once(
                "embeddings-unsupported",
                f"codestral-ls: the {self.ls.backend.kind} backend has no embeddings endpoint; "
                "semantic context (context.embeddings) is off.",
                types.MessageType.Info,
            )
        key = (
            (roots[0], options.embeddingModel, self.ls.backend.kind, self.ls.backend.endpoint)
            if embed is not None
            else None
        )
        if key == self.key:
            return
        self.stop()
        self.key = key
        if embed is None or key is None:
            return
        if not self.started:
            return  # initialized() starts it
        root = roots[0]
        index = EmbeddingIndex(
            root,
            EmbeddingIndex.directory_for(state_dir(), root, options.embeddingModel),
            options.embeddingModel,
        )
        self.index = index
        self.embed = embed
        self.ls.context.retriever = SemanticRetriever(
            index,
            embed,
            self.ls.background,
            self.ls.context.workspace.relative,
            lambda uri: self.ls.context.allowed(uri, self.ls.settings.exclude),
        )
        self.task = self.ls.background(self._build(index, embed, settings))

    def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self.task = None
        self.index = None
        self.ls.context.retriever = None

    def changed(self, paths: list[Path]) -> None:
        """Files were saved, created, changed or deleted: re-index them (after the build)."""
        index = self.index
        if index is None:
            return
        inside = [p for p in paths if p == index.root or index.root in p.parents]
        if not inside:
            return
        self.pending.update(inside)
        if index.ready and (self.task is None or self.task.done()):
            self.task = self.ls.background(self._update(index))

    async def _update(self, index: EmbeddingIndex) -> None:
        embed = self.embed
        while self.pending and embed is not None and index is self.index:
            paths, self.pending = sorted(self.pending), set()
            allowed = set(
                await asyncio.to_thread(
                    _filter_allowed, index.root, paths, self.ls.settings.exclude
                )
            )
            try:
                await index.sync(
                    [p for p in paths if p in allowed or not p.exists()], embed, full=False
                )
            except (BackendError, ValueError, OSError) as error:
                logger.info("updating the embeddings index failed: %s", _reason(error))
                return

    async def _build(self, index: EmbeddingIndex, embed: Any, settings: Settings) -> None:
        loaded = await asyncio.to_thread(index.load)
        files = await asyncio.to_thread(workspace_files, index.root, settings.exclude)
        token = f"codestral-index-{uuid.uuid4().hex[:8]}"
        progress = await self._progress_begin(token, loaded)
        future = self.ls.work_done_progress.tokens.get(token) if progress else None

        def report(done: int, total: int) -> None:
            if progress:
                self.ls.work_done_progress.report(
                    token,
                    types.WorkDoneProgressReport(
                        message=f"{done}/{total} batches", percentage=100 * done // max(1, total)
                    ),
                )

        outcome, message = "done", ""
        try:
            result = await index.sync(
                files,
                embed,
                full=True,
                progress=report,
                cancelled=lambda: future is not None and future.cancelled(),
            )
            outcome = "cancelled" if result.cancelled else "done"
            message = (
                f"{INDEX_READY}: {result.files} files, {result.chunks} chunks, "
                f"{result.embedded} embedded in {result.requests} requests"
                + (" (cancelled; the rest is embedded later)" if result.cancelled else "")
            )
        except (BackendError, ValueError, OSError) as error:
            outcome = "failed"
            index.ready = bool(index.vectors)
            self.ls.notifier.once(
                "embeddings-failed",
                f"codestral-ls: building the embeddings index failed: {_reason(error)}",
                types.MessageType.Warning,
            )
        finally:
            if progress:
                self.ls.work_done_progress.end(
                    token, types.WorkDoneProgressEnd(message=f"Index {outcome}")
                )
        if message:
            logger.info("%s", message)
            self.ls.window_log_message(
                types.LogMessageParams(type=types.MessageType.Info, message=message)
            )
        if self.pending:
            await self._update(index)

    async def _progress_begin(self, token: str, loaded: bool) -> bool:
        capabilities = self.ls.client_capabilities.window
        if not (capabilities and capabilities.work_done_progress):
            return False
        try:
            await asyncio.wait_for(self.ls.work_done_progress.create_async(token), 10)
        except Exception as error:  # a client may refuse; the index is built anyway
            logger.info("no progress for the index: %s", error)
            return False
        self.ls.work_done_progress.begin(
            token,
            types.WorkDoneProgressBegin(
                title="Codestral: indexing the workspace",
                message="checking for changes" if loaded else "first build",
                cancellable=True,
                percentage=0,
            ),
        )
        return True


def _reason(error: Exception) -> str:
    return str(getattr(error, "message", None) or error)


def _filter_allowed(root: Path, paths: list[Path], exclude: tuple[str, ...]) -> list[Path]:
    """The paths among ``paths`` that the index would take (same rules as the full build)."""
    wanted = set(paths)
    return [p for p in workspace_files(root, exclude) if p in wanted]
