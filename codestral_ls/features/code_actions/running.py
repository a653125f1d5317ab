"""Running a code action: ``codeAction/resolve``, ``codestral.applyAction`` and
``codestral.edit``.  The checks (document open and unchanged, not excluded, a key if the backend
needs one), the chat request through the server's backend with cancellable ``$/progress``,
failures told once; the edit itself is built by :mod:`.edits`."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from ...actions import (
    CHAT_MAX_TOKENS,
    CHAT_RETRY_MAX_TOKENS,
    CHAT_TEMPERATURE,
    CUSTOM_EDIT,
    PromptInput,
    Region,
    build_messages,
    is_cut,
    region_for,
)
from ...actions.prompts import (
    REDACTED,
    file_name,
    mask_secrets,
    surrounding_context,
    unmask_secrets,
)
from ...backends.errors import AuthenticationError, BackendError, BadRequestError, RateLimitedError
from ...documents import Document
from ...mistral import ChatRequest
from ...privacy import is_excluded, redact
from ..progress import begin_progress
from .edits import EditBuilder, Outcome
from .listing import (
    APPLY_COMMAND,
    EDIT_COMMAND,
    EXPLAIN_SCHEME,
    EXPLANATION_COMMAND,
    ActionRequest,
    ClientSupport,
    Contents,
    range_from_json,
    request_from_data,
)

if TYPE_CHECKING:
    from ...server import CodestralLanguageServer

logger = logging.getLogger(__name__)

#: Explanations kept for their virtual documents.
MAX_EXPLANATIONS = 32

STALE_MESSAGE = (
    "codestral-ls: the document changed since this code action was offered, so its edit was "
    "not applied. Run the action again."
)
CUT_MESSAGE = (
    "codestral-ls: Codestral's answer was cut off before its end (its length limit, or a code "
    "block that never closed), so it was not applied; nothing was changed. Select less code "
    "and run the action again."
)
NO_KEY_MESSAGE = (
    "codestral-ls: no API key, so code actions cannot ask Codestral. Set CODESTRAL_API_KEY "
    "(codestral.mistral.ai) or MISTRAL_API_KEY (api.mistral.ai) where the editor starts the "
    "server."
)


class ActionCancelled(Exception):
    """The user cancelled the action's progress."""


class ActionRunner:
    """Runs the code actions of one server."""

    def __init__(self, ls: CodestralLanguageServer, support: ClientSupport) -> None:
        self.ls = ls
        self.support = support
        self.edits = EditBuilder(support, ls.documents, self._fail)
        self._explain_dir: Path | None = None
        #: Explanations shown as virtual documents, by URI (the newest few).
        self._explanations: dict[str, str] = {}
        self._explained = 0

    # ------------------------------------------------------------------ the two paths

    async def resolve(self, action: types.CodeAction) -> types.CodeAction:
        """``codeAction/resolve``: compute the edit; on failure the action comes back as is."""
        request = request_from_data(action.data)
        if request is None or action.edit is not None or action.command is not None:
            return action  # not ours, already resolved, or a command action (Explain)
        outcome = await self.run(request)
        if outcome.edit is not None:
            action.edit = outcome.edit
        return action

    async def apply_command(self, argument: Any) -> dict[str, Any]:
        """``codestral.applyAction``: run the action and apply its edit."""
        request = request_from_data(argument)
        if request is None:
            message = f"{APPLY_COMMAND} needs the data of a Codestral code action."
            self.ls.notifier.resolve("action:arguments")
            self.ls.notifier.once("action:arguments", f"codestral-ls: {message}")
            return {"applied": False, "message": message}
        return await self._run_and_apply(request)

    async def edit_command(self, argument: Any) -> dict[str, Any]:
        """``codestral.edit``: rewrite a range following a free-text instruction."""
        uri = argument.get("uri") if isinstance(argument, dict) else None
        selection = range_from_json(argument.get("range")) if isinstance(argument, dict) else None
        instruction = argument.get("instruction") if isinstance(argument, dict) else None
        if (
            not isinstance(uri, str)
            or selection is None
            or not isinstance(instruction, str)
            or not instruction.strip()
        ):
            message = (
                f"{EDIT_COMMAND} needs {{'uri', 'range', 'instruction'}} (a non-empty "
                "instruction); see docs/protocol.md."
            )
            self.ls.notifier.resolve("action:arguments")
            self.ls.notifier.once("action:arguments", f"codestral-ls: {message}")
            return {"applied": False, "message": message}
        document = self.ls.documents.get(uri)
        version = document.version if document is not None else None
        request = ActionRequest(CUSTOM_EDIT, uri, version, selection, instruction=instruction)
        return await self._run_and_apply(request)

    async def _run_and_apply(self, request: ActionRequest) -> dict[str, Any]:
        outcome = await self.run(request)
        if outcome.edit is None:
            return outcome.result()
        result = await self.ls.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=outcome.edit, label=request.spec.title)
        )
        if result.applied:
            return {"applied": True}
        reason = result.failure_reason or "no reason given"
        message = f"The editor did not apply the edit ({reason})."
        self._fail("refused", f"codestral-ls: {message}")
        return {"applied": False, "message": message}

    # ------------------------------------------------------------------ running an action

    def _fail(
        self, key: str, message: str, kind: types.MessageType = types.MessageType.Warning
    ) -> Outcome:
        self.ls.notifier.once(f"action:{key}", message, kind)
        return Outcome(message=message)

    async def run(self, request: ActionRequest) -> Outcome:
        """Ask the chat model for ``request`` and turn the answer into an edit (or show it)."""
        ls = self.ls
        # Each action the user triggers reports its own failure once.
        ls.notifier.resolve_prefix("action:")
        document = ls.documents.get(request.uri)
        if document is None:
            return self._fail(
                "closed",
                f"codestral-ls: {file_name(request.uri)} is not open; nothing was changed.",
            )
        version = document.version
        if request.version is not None and version != request.version:
            return self._fail("stale", STALE_MESSAGE)
        await ls.wait_for_settings()
        settings = ls.settings
        if is_excluded(document.uri, settings.exclude):
            return self._fail(
                "excluded",
                f"codestral-ls: {file_name(document.uri)} is never sent to the model (built-in "
                "list of secret files or the 'exclude' setting); nothing was sent.",
            )
        if ls.engine.connection.problem:
            return self._fail("insecure", ls.engine.connection.problem, types.MessageType.Error)
        if ls.backend.requires_key and not ls.backend.has_key:
            return self._fail("no-key", NO_KEY_MESSAGE)

        contents = Contents(document)
        selection = request.range
        region = region_for(
            contents,
            selection.start.line,
            selection.start.character,
            selection.end.line,
            selection.end.character,
        )
        old = [document.line(i) for i in range(region.first, region.last + 1)]
        selected = "\n".join(old)
        before, after = surrounding_context(contents, region)
        diagnostics = request.diagnostics
        # Secrets never leave the machine; those in the selection get numbered placeholders
        # so the answer can have them put back.
        secrets: list[str] = []
        hidden = False  # whether anything was hidden from the model
        if settings.redactSecrets:
            masked, _ = mask_secrets(selected, redact, secrets)
            redacted_before, redacted_after = redact(before), redact(after)
            hidden = (masked, redacted_before, redacted_after) != (selected, before, after)
            selected, before, after = masked, redacted_before, redacted_after
            diagnostics = tuple(redact(d) for d in diagnostics)
        destination = self.edits.tests_destination(document) if request.spec.id == "tests" else None
        prompt = PromptInput(
            language_id=document.language_id,
            file_name=file_name(document.uri),
            selection=selected,
            before=before,
            after=after,
            first_line=region.first,
            diagnostics=diagnostics,
            instruction=request.instruction,
            tests=destination[0] if destination else None,
        )
        model = settings.chatModel
        messages = build_messages(request.spec, prompt)
        # An answer cut at the length limit is asked again once with a larger budget; an answer
        # that is still cut (or whose code block never closes) is never applied.
        for max_tokens in (CHAT_MAX_TOKENS, CHAT_RETRY_MAX_TOKENS):
            chat = ChatRequest(
                model=model,
                messages=messages,
                max_tokens=max_tokens,
                temperature=CHAT_TEMPERATURE,
                stream=True,
            )
            try:
                answer, finish_reason = await self._stream(chat, request.spec.title)
            except ActionCancelled:
                return Outcome(message="Cancelled.")
            except BackendError as error:
                logger.info("code action %s failed: %s", request.spec.id, error.message)
                return self._upstream_failure(error, model)
            if finish_reason != "length" or request.spec.id == "explain":
                break
            logger.info("the answer to %s was cut at %d tokens", request.spec.id, max_tokens)
        cut = finish_reason == "length" or is_cut(answer)

        if ls.documents.get(request.uri) is not document or document.version != version:
            return self._fail("stale", STALE_MESSAGE)
        if cut and request.spec.id != "explain":
            return self._fail("cut", CUT_MESSAGE)
        if request.spec.id == "explain":
            # The explanation is written to a file: secrets stay out of it.
            answer = unmask_secrets(answer, [REDACTED] * len(secrets))
            await self._show_explanation(document, region, answer)
            return Outcome(shown=True)
        answer = unmask_secrets(answer, secrets)
        if request.spec.id == "tests":
            assert destination is not None
            return self.edits.tests_edit(document, region, old, answer, destination, hidden)
        return self.edits.rewrite_edit(document, region, old, answer, hidden, request.spec)

    def _upstream_failure(self, error: BackendError, model: str) -> Outcome:
        if isinstance(error, AuthenticationError):
            return self._fail(
                "auth",
                f"codestral-ls: {error.message} Nothing was changed.",
                types.MessageType.Error,
            )
        if isinstance(error, BadRequestError) and error.is_unknown_model:
            return self._fail(
                "model",
                f"codestral-ls: the chat model '{model}' is not available ({error.message}). "
                "Pick another with the 'codestral.selectModel' command (kind \"chat\") or the "
                "'codestral.chatModel' setting.",
                types.MessageType.Error,
            )
        if isinstance(error, RateLimitedError):
            return self._fail(
                "rate-limit", f"codestral-ls: {error.message} Nothing was changed; try again later."
            )
        return self._fail("upstream", f"codestral-ls: {error.message} Nothing was changed.")

    # ------------------------------------------------------------------ streaming + progress

    async def _stream(self, chat: ChatRequest, title: str) -> tuple[str, str | None]:
        """The model's whole answer and its ``finish_reason``, streamed, with cancellable
        ``$/progress`` when possible.

        Cancelling the progress (``window/workDoneProgress/cancel``) closes the HTTP stream and
        raises :class:`ActionCancelled`; cancelling the request itself (``$/cancelRequest``)
        closes it too and propagates :class:`asyncio.CancelledError`.
        """
        ls = self.ls
        token = await self._begin_progress(title, f"Asking {chat.model}…")
        parts: list[str] = []
        finish: list[str] = []

        async def collect() -> None:
            lines = 0
            async with aclosing(ls.backend.chat_stream(chat, on_finish=finish.append)) as pieces:
                async for piece in pieces:
                    parts.append(piece)
                    if token is not None and "\n" in piece:
                        lines += piece.count("\n")
                        ls.work_done_progress.report(
                            token,
                            types.WorkDoneProgressReport(
                                message=f"{lines} line{'s' if lines != 1 else ''} received",
                                cancellable=True,
                            ),
                        )

        inner = asyncio.ensure_future(collect())
        user_cancelled = False
        loop = asyncio.get_running_loop()

        def on_progress_done(future: Any) -> None:
            nonlocal user_cancelled
            if future.cancelled():
                user_cancelled = True
                loop.call_soon_threadsafe(inner.cancel)

        if token is not None:
            tracker = ls.work_done_progress.tokens.get(token)
            if tracker is not None:
                tracker.add_done_callback(on_progress_done)
        outcome = "Cancelled"
        try:
            await inner
            outcome = "Done"
        except asyncio.CancelledError:
            if user_cancelled and not _being_cancelled():
                raise ActionCancelled() from None
            raise
        except BackendError:
            outcome = "Failed"
            raise
        finally:
            if token is not None:
                ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=outcome))
                ls.work_done_progress.tokens.pop(token, None)
        return "".join(parts), (finish[-1] if finish else None)

    async def _begin_progress(self, title: str, message: str) -> str | None:
        return await begin_progress(
            self.ls,
            "codestral-action",
            types.WorkDoneProgressBegin(title=title, message=message, cancellable=True),
        )

    # ------------------------------------------------------------------ explain

    def _explanation_path(self, document: Document, region: Region) -> Path:
        if self._explain_dir is None:
            self._explain_dir = Path(tempfile.mkdtemp(prefix="codestral-ls-"))
        stem = Path(file_name(document.uri)).name.replace(" ", "_") or "code"
        return self._explain_dir / f"explain-{stem}-L{region.first + 1}-L{region.last + 1}.md"

    async def _show_explanation(self, document: Document, region: Region, answer: str) -> None:
        """Show the explanation: a read-only virtual document where the client has them
        (never a file, which would get completions and code actions like user code), else a
        Markdown file, else a message."""
        heading = (
            f"# Explanation of {file_name(document.uri)}, "
            f"lines {region.first + 1}-{region.last + 1}"
        )
        markdown = f"{heading}\n\n{answer.strip()}\n"
        if self.support.shows_documents() and self.support.shows_virtual_documents():
            uri = self._remember_explanation(document, region, markdown)
            result = await self.ls.window_show_document_async(
                types.ShowDocumentParams(uri=uri, take_focus=True)
            )
            if result.success:
                return
            logger.info("the client could not show %s", uri)
        elif self.support.shows_documents():
            try:
                path = self._explanation_path(document, region)
                path.write_text(markdown, encoding="utf-8")
                result = await self.ls.window_show_document_async(
                    types.ShowDocumentParams(uri=path.as_uri(), take_focus=True)
                )
                if result.success:
                    return
                logger.info("the client could not show %s", path)
            except OSError as error:
                logger.warning("cannot write the explanation: %s", error)
        self.ls.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Info, message=markdown)
        )

    def _remember_explanation(self, document: Document, region: Region, markdown: str) -> str:
        self._explained += 1
        stem = quote(Path(file_name(document.uri)).name.replace(" ", "_") or "code")
        uri = (
            f"{EXPLAIN_SCHEME}:/{stem}-L{region.first + 1}-L{region.last + 1}.md?{self._explained}"
        )
        self._explanations[uri] = markdown
        while len(self._explanations) > MAX_EXPLANATIONS:
            del self._explanations[next(iter(self._explanations))]
        return uri

    def explanation_command(self, args: Any) -> dict[str, Any]:
        """``codestral.explanation``: the Markdown of an explanation shown earlier."""
        uri = args.get("uri") if isinstance(args, dict) else None
        if not isinstance(uri, str):
            raise JsonRpcInvalidParams(f'{EXPLANATION_COMMAND} takes {{"uri": "..."}}.')
        markdown = self._explanations.get(uri)
        if markdown is None:
            return {
                "markdown": "This explanation is no longer available: run Codestral: Explain "
                "again.\n"
            }
        return {"markdown": markdown}


def _being_cancelled() -> bool:
    """Whether the current task has a pending cancellation (Python 3.11+; else False)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return bool(cancelling is not None and cancelling())
