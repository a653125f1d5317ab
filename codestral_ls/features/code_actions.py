"""Chat-based code actions: Fix, Add docstring/comments, Simplify/refactor, Generate tests,
Explain, and the ``codestral.edit`` command.

Listing (``textDocument/codeAction``) is free: no network call, only the document and the
diagnostics the client sent.  The work happens later, in one of two ways:

* clients that resolve the ``edit`` property get it from ``codeAction/resolve``, which asks the
  chat model and returns a WorkspaceEdit;
* other clients get actions carrying the ``codestral.applyAction`` command, which computes the
  same edit and applies it with ``workspace/applyEdit``.

Explain never edits: it always runs through ``codestral.applyAction`` and shows Markdown.

Every edit is computed for the document version recorded when the action was listed; if the
document changed since, the action is refused with a message (and versioned
``documentChanges`` let the client refuse too).  Upstream failures are shown once with
``window/showMessage``; resolve then answers the action without an edit (not a JSON-RPC error,
which VS Code would report a second time), and the server stays up.

See docs/code-actions.md.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import uuid
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from ..actions import (
    ACTIONS,
    CHAT_MAX_TOKENS,
    CHAT_RETRY_MAX_TOKENS,
    CHAT_TEMPERATURE,
    CUSTOM_EDIT,
    ActionSpec,
    Destination,
    Hunk,
    PromptInput,
    Region,
    build_messages,
    companion_test_file,
    detect_eol,
    fit_answer,
    is_cut,
    keeps_code,
    kind_matches,
    line_hunks,
    pick_block,
    region_for,
)
from ..actions.prompts import (
    REDACTED,
    file_name,
    mask_secrets,
    surrounding_context,
    unmask_secrets,
)
from ..documents import Cursor, Document
from ..mistral import (
    AuthenticationError,
    BadRequestError,
    ChatRequest,
    MistralError,
    RateLimitedError,
)
from ..privacy import is_excluded, redact

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..server import CodestralLanguageServer

logger = logging.getLogger(__name__)

APPLY_COMMAND = "codestral.applyAction"
EDIT_COMMAND = "codestral.edit"
#: Marks ``data`` written by this module (other features may list actions too).
DATA_TAG = "codestral.action"
#: Kinds advertised in ``codeActionProvider.codeActionKinds``.
ACTION_KINDS = sorted({spec.kind for spec in ACTIONS.values() if spec.kind})
#: Seconds to wait for the client to accept a progress token before working without one.
PROGRESS_CREATE_TIMEOUT = 5.0

STALE_MESSAGE = (
    "codestral-ls: the document changed since this code action was offered, so its edit was "
    "not applied. Run the action again."
)
CUT_MESSAGE = (
    "codestral-ls: Codestral's answer was cut off before its end (its length limit, or a code "
    "block that never closed), so it was not applied; nothing was changed. Select less code "
    "and run the action again."
)
DROPPED_CODE_MESSAGE = (
    "codestral-ls: Codestral's answer leaves out lines of the code it was asked to document, "
    "so it was not applied; nothing was changed."
)
NO_KEY_MESSAGE = (
    "codestral-ls: no API key, so code actions cannot ask Codestral. Set CODESTRAL_API_KEY "
    "(codestral.mistral.ai) or MISTRAL_API_KEY (api.mistral.ai) where the editor starts the "
    "server."
)


class ActionCancelled(Exception):
    """The user cancelled the action's progress."""


@dataclass(frozen=True)
class ActionRequest:
    """What to run: an action on a range of a document version."""

    spec: ActionSpec
    uri: str
    version: int | None
    range: types.Range
    diagnostics: tuple[str, ...] = ()
    instruction: str | None = None

    def to_data(self) -> dict[str, Any]:
        return {
            "kind": DATA_TAG,
            "action": self.spec.id,
            "uri": self.uri,
            "version": self.version,
            "range": range_to_json(self.range),
            "diagnostics": list(self.diagnostics),
        }


@dataclass
class Outcome:
    """The result of running an action: an edit to apply, or a message (already shown)."""

    edit: types.WorkspaceEdit | None = None
    message: str | None = None
    shown: bool = False

    def result(self) -> dict[str, Any]:
        if self.shown:
            return {"applied": True}
        return {"applied": False, "message": self.message or "Nothing was changed."}


# --------------------------------------------------------------------------------------------
# (De)serialising ``data`` and command arguments


def range_to_json(value: types.Range) -> dict[str, Any]:
    return {
        "start": {"line": value.start.line, "character": value.start.character},
        "end": {"line": value.end.line, "character": value.end.character},
    }


def _position(value: Any) -> types.Position | None:
    if not isinstance(value, dict):
        return None
    line, character = value.get("line"), value.get("character")
    if not isinstance(line, int) or not isinstance(character, int) or line < 0 or character < 0:
        return None
    return types.Position(line=line, character=character)


def range_from_json(value: Any) -> types.Range | None:
    if isinstance(value, types.Range):
        return value
    if not isinstance(value, dict):
        return None
    start, end = _position(value.get("start")), _position(value.get("end"))
    if start is None or end is None:
        return None
    return types.Range(start=start, end=end)


def request_from_data(data: Any) -> ActionRequest | None:
    """The request recorded in a code action's ``data``; None if it is not ours or broken."""
    if not isinstance(data, dict) or data.get("kind") != DATA_TAG:
        return None
    spec = ACTIONS.get(str(data.get("action")))
    uri = data.get("uri")
    version = data.get("version")
    selection = range_from_json(data.get("range"))
    diagnostics = data.get("diagnostics") or []
    if (
        spec is None
        or not isinstance(uri, str)
        or not (version is None or isinstance(version, int))
        or selection is None
        or not isinstance(diagnostics, list)
    ):
        return None
    return ActionRequest(
        spec, uri, version, selection, tuple(str(d) for d in diagnostics if isinstance(d, str))
    )


# --------------------------------------------------------------------------------------------
# Registration


def register(ls: CodestralLanguageServer) -> None:
    feature = CodeActions(ls)

    @ls.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=ACTION_KINDS, resolve_provider=True),
    )
    def code_action(
        ls: CodestralLanguageServer, params: types.CodeActionParams
    ) -> list[types.CodeAction | types.Command] | None:
        return feature.list_actions(params)

    @ls.feature(types.CODE_ACTION_RESOLVE)
    async def code_action_resolve(
        ls: CodestralLanguageServer, params: types.CodeAction
    ) -> types.CodeAction:
        return await feature.resolve(params)

    @ls.command(APPLY_COMMAND)
    async def apply_action(ls: LanguageServer, *args: Any) -> dict[str, Any]:
        return await feature.apply_command(args[0] if args else None)

    @ls.command(EDIT_COMMAND)
    async def edit(ls: LanguageServer, *args: Any) -> dict[str, Any]:
        return await feature.edit_command(args[0] if args else None)


class _Contents:
    """The line contents of a document as a read-only sequence, without copying them."""

    def __init__(self, document: Document) -> None:
        self._document = document

    def __len__(self) -> int:
        return self._document.line_count

    def __getitem__(self, index: int) -> str:
        return self._document.line(index)


def _format_diagnostic(diagnostic: types.Diagnostic) -> str:
    message = " ".join(diagnostic.message.split())
    source = f" [{diagnostic.source}]" if diagnostic.source else ""
    return f"line {diagnostic.range.start.line + 1}: {message}{source}"


class CodeActions:
    """The code-action feature of one server."""

    def __init__(self, ls: CodestralLanguageServer) -> None:
        self.ls = ls
        self._explain_dir: Path | None = None

    # ------------------------------------------------------------------ capabilities

    @property
    def _code_action_capabilities(self) -> types.CodeActionClientCapabilities | None:
        text_document = self.ls.client_capabilities.text_document
        return text_document.code_action if text_document is not None else None

    def resolves_edits(self) -> bool:
        capabilities = self._code_action_capabilities
        support = capabilities.resolve_support if capabilities is not None else None
        return support is not None and "edit" in support.properties

    def literal_actions(self) -> bool:
        capabilities = self._code_action_capabilities
        return capabilities is not None and capabilities.code_action_literal_support is not None

    def _workspace_edit_capabilities(self) -> types.WorkspaceEditClientCapabilities | None:
        workspace = self.ls.client_capabilities.workspace
        return workspace.workspace_edit if workspace is not None else None

    def document_changes(self) -> bool:
        capabilities = self._workspace_edit_capabilities()
        return bool(capabilities and capabilities.document_changes)

    def creates_files(self) -> bool:
        capabilities = self._workspace_edit_capabilities()
        operations = capabilities.resource_operations if capabilities is not None else None
        return bool(operations) and types.ResourceOperationKind.Create in (operations or ())

    def shows_documents(self) -> bool:
        window = self.ls.client_capabilities.window
        return bool(window and window.show_document and window.show_document.support)

    def shows_progress(self) -> bool:
        window = self.ls.client_capabilities.window
        return bool(window and window.work_done_progress)

    # ------------------------------------------------------------------ listing

    def list_actions(
        self, params: types.CodeActionParams
    ) -> list[types.CodeAction | types.Command] | None:
        """The actions for a range: no network, no waiting."""
        document = self.ls.documents.get(params.text_document.uri)
        if document is None or is_excluded(document.uri, self.ls.settings.exclude):
            return None  # unknown, or a file that is never sent (secrets)
        selection = params.range
        region = region_for(
            _Contents(document),
            selection.start.line,
            selection.start.character,
            selection.end.line,
            selection.end.character,
        )
        touching = [
            d
            for d in params.context.diagnostics
            if d.range.start.line <= region.last and d.range.end.line >= region.first
        ]
        only = params.context.only
        # Editors ask automatically on every cursor move (VS Code's light bulb); with nothing
        # selected, only Fix is worth a light bulb there.  Asked explicitly, all are listed.
        quiet = (
            params.context.trigger_kind == types.CodeActionTriggerKind.Automatic
            and selection.start == selection.end
        )
        resolves = self.resolves_edits()
        actions: list[types.CodeAction | types.Command] = []
        for spec in ACTIONS.values():
            if spec.id == "fix" and not touching:
                continue
            if quiet and spec.id != "fix":
                continue
            if not kind_matches(spec.kind, only):
                continue
            request = ActionRequest(
                spec,
                document.uri,
                document.version,
                selection,
                tuple(_format_diagnostic(d) for d in touching) if spec.id == "fix" else (),
            )
            title = spec.title
            if spec.id == "fix" and len(touching) == 1:
                message = " ".join(touching[0].message.split())
                title = f"{title}: {message if len(message) <= 60 else message[:59] + '…'}"
            data = request.to_data()
            command = types.Command(title=title, command=APPLY_COMMAND, arguments=[data])
            if not self.literal_actions():
                actions.append(command)
                continue
            action = types.CodeAction(
                title=title,
                kind=spec.kind,
                diagnostics=touching if spec.id == "fix" else None,
                data=data,
            )
            if spec.id == "explain" or not resolves:
                action.command = command
            actions.append(action)
        return actions

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
        if not ls.mistral.has_key:
            return self._fail("no-key", NO_KEY_MESSAGE)

        contents = _Contents(document)
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
        destination = self._tests_destination(document) if request.spec.id == "tests" else None
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
            except MistralError as error:
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
            return self._tests_edit(document, region, old, answer, destination, hidden)
        return self._rewrite_edit(document, region, old, answer, hidden, request.spec)

    def _overwrites_secret(
        self, new: Sequence[str], old: Sequence[str], hidden: bool
    ) -> Outcome | None:
        """Refuse new lines that would write a redaction marker over a hidden secret."""
        kept = set(old)
        if hidden and any(REDACTED[:-1] in line and line not in kept for line in new):
            return self._fail(
                "redacted",
                "codestral-ls: the selection holds a secret that was hidden from Codestral, and "
                "its answer would replace it with [REDACTED]; nothing was changed.",
            )
        return None

    def _upstream_failure(self, error: MistralError, model: str) -> Outcome:
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
            async with aclosing(ls.mistral.chat_stream(chat, on_finish=finish.append)) as pieces:
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
        except MistralError:
            outcome = "Failed"
            raise
        finally:
            if token is not None:
                ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=outcome))
                ls.work_done_progress.tokens.pop(token, None)
        return "".join(parts), (finish[-1] if finish else None)

    async def _begin_progress(self, title: str, message: str) -> str | None:
        if not self.shows_progress():
            return None
        token = f"codestral-action-{uuid.uuid4().hex}"
        progress = self.ls.work_done_progress
        try:
            await asyncio.wait_for(progress.create_async(token), PROGRESS_CREATE_TIMEOUT)
        except asyncio.TimeoutError:
            logger.info("the client did not accept a progress token; working without one")
            return None
        except Exception as error:  # the client may refuse: work without progress
            logger.info("window/workDoneProgress/create failed: %s", error)
            return None
        progress.begin(
            token, types.WorkDoneProgressBegin(title=title, message=message, cancellable=True)
        )
        return token

    # ------------------------------------------------------------------ edits

    def _text_edits(self, document: Document, hunks: Sequence[Hunk]) -> list[types.TextEdit]:
        return [
            types.TextEdit(
                range=types.Range(
                    start=document.position(hunk.start), end=document.position(hunk.end)
                ),
                new_text=hunk.text,
            )
            for hunk in hunks
        ]

    def _workspace_edit(
        self, document: Document, edits: list[types.TextEdit]
    ) -> types.WorkspaceEdit:
        if self.document_changes():
            return types.WorkspaceEdit(
                document_changes=[
                    types.TextDocumentEdit(
                        text_document=types.OptionalVersionedTextDocumentIdentifier(
                            uri=document.uri, version=document.version
                        ),
                        edits=list(edits),
                    )
                ]
            )
        return types.WorkspaceEdit(changes={document.uri: list(edits)})

    def _rewrite_edit(
        self,
        document: Document,
        region: Region,
        old: list[str],
        answer: str,
        hidden: bool,
        spec: ActionSpec,
    ) -> Outcome:
        code = pick_block(answer, document.language_id, "\n".join(old))
        new = fit_answer(code, old) if code is not None else []
        if not new:
            return self._fail(
                "empty", "codestral-ls: Codestral's answer held no code block; nothing was changed."
            )
        if spec.keeps_code and not keeps_code(old, new):
            return self._fail("dropped-code", DROPPED_CODE_MESSAGE)
        if (refused := self._overwrites_secret(new, old, hidden)) is not None:
            return refused
        eol = detect_eol(document.lines, region.first)
        ends_document = region.last == document.line_count - 1
        hunks = line_hunks(old, new, region.first, eol, ends_document=ends_document)
        if not hunks:
            return self._fail(
                "no-change",
                "codestral-ls: Codestral suggested no change.",
                types.MessageType.Info,
            )
        return Outcome(edit=self._workspace_edit(document, self._text_edits(document, hunks)))

    # ------------------------------------------------------------------ tests

    def _tests_destination(
        self, document: Document
    ) -> tuple[Destination, str | None, Document | None]:
        """Where tests go: (destination, test file URI, its current content as a Document)."""
        below: tuple[Destination, str | None, Document | None] = (Destination("below"), None, None)
        if not self.creates_files() or not document.uri.startswith("file:"):
            return below
        name = companion_test_file(file_name(document.uri), document.language_id)
        if name is None:
            return below
        target = document.uri.rpartition("/")[0] + "/" + quote(name)
        encoding = self.ls.documents.encoding
        opened = self.ls.documents.get(target)
        if opened is not None:
            return Destination("append", name), target, opened
        path = to_fs_path(target)
        if path is not None and Path(path).is_file():
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                logger.info("cannot read %s (%s); tests go below the code", path, error)
                return below
            existing = Document(target, text, version=None, encoding=encoding)
            return Destination("append", name), target, existing
        return Destination("new", name), target, None

    def _tests_edit(
        self,
        document: Document,
        region: Region,
        old: list[str],
        answer: str,
        destination: tuple[Destination, str | None, Document | None],
        hidden: bool,
    ) -> Outcome:
        where, target, existing = destination
        code = pick_block(answer, document.language_id, None)
        eol = detect_eol(document.lines, region.first)
        if where.mode == "below" or target is None:
            code_lines = [line for line in old if line.strip()]
            tests = fit_answer(code, code_lines) if code is not None else []
        else:
            tests = fit_answer(code, ()) if code is not None else []
        if not tests:
            return self._fail(
                "empty",
                "codestral-ls: Codestral's answer held no code block with tests; nothing was "
                "changed.",
            )
        if (refused := self._overwrites_secret(tests, old, hidden)) is not None:
            return refused

        if where.mode == "below" or target is None:
            if region.last < document.line_count - 1:
                at = Cursor(region.last + 1, 0)
                text = eol + "".join(line + eol for line in tests)
            else:
                at = Cursor(region.last, len(document.line(region.last)))
                text = eol + eol + eol.join(tests)
            position = document.position(at)
            edit = types.TextEdit(range=types.Range(start=position, end=position), new_text=text)
            return Outcome(edit=self._workspace_edit(document, [edit]))

        body = "".join(line + eol for line in tests)
        changes: list[
            types.TextDocumentEdit | types.CreateFile | types.RenameFile | types.DeleteFile
        ] = []
        if existing is None:
            changes.append(
                types.CreateFile(
                    uri=target,
                    options=types.CreateFileOptions(overwrite=False, ignore_if_exists=True),
                )
            )
            start = types.Position(line=0, character=0)
            version: int | None = None
        else:
            last = existing.line_count - 1
            start = existing.position(Cursor(last, len(existing.line(last))))
            content = existing.lines
            if existing.line_count == 1 and not content[0]:
                separator = ""
            elif not content[-1]:  # ends with a line break
                separator = eol
            else:
                separator = eol + eol
            body = separator + body
            version = existing.version
        changes.append(
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(
                    uri=target, version=version
                ),
                edits=[types.TextEdit(range=types.Range(start=start, end=start), new_text=body)],
            )
        )
        return Outcome(edit=types.WorkspaceEdit(document_changes=changes))

    # ------------------------------------------------------------------ explain

    def _explanation_path(self, document: Document, region: Region) -> Path:
        if self._explain_dir is None:
            self._explain_dir = Path(tempfile.mkdtemp(prefix="codestral-ls-"))
        stem = Path(file_name(document.uri)).name.replace(" ", "_") or "code"
        return self._explain_dir / f"explain-{stem}-L{region.first + 1}-L{region.last + 1}.md"

    async def _show_explanation(self, document: Document, region: Region, answer: str) -> None:
        heading = (
            f"# Explanation of {file_name(document.uri)}, "
            f"lines {region.first + 1}-{region.last + 1}"
        )
        markdown = f"{heading}\n\n{answer.strip()}\n"
        if self.shows_documents():
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


def _being_cancelled() -> bool:
    """Whether the current task has a pending cancellation (Python 3.11+; else False)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return bool(cancelling is not None and cancelling())


__all__ = [
    "ACTION_KINDS",
    "APPLY_COMMAND",
    "EDIT_COMMAND",
    "ActionRequest",
    "CodeActions",
    "Outcome",
    "register",
]
