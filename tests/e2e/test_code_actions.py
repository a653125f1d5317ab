"""Chat-based code actions through the protocol, against the fake chat endpoint.

Each test runs with VS Code's and Neovim's capabilities (both resolve the ``edit`` property);
the command path is exercised by removing ``resolveSupport`` from the capabilities.  Edits are
applied to the original text in the client's position units (tests/edits.py) and compared
with the exact expected text.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

import pytest
from lsprotocol import types
from pygls.uris import to_fs_path

from codestral_ls.actions import ACTIONS, CUSTOM_EDIT
from codestral_ls.testing.fake_mistral import CHAT_PATH, FakeMistral
from tests.e2e.conftest import Session, Starter
from tests.edits import StaleEdit, apply_workspace_edit, edited_uris, text_edits

URI = "file:///work/shapes.py"

SHAPES = (
    "import math\n"  # 0
    "\n"  # 1
    "\n"  # 2
    "class Shapes:\n"  # 3
    "    def area(self, r):\n"  # 4
    "        result = math.pi * r * r\n"  # 5
    "        return result\n"  # 6
    "\n"  # 7
    "    def name(self):\n"  # 8
    '        return "circle"\n'  # 9
)

SIMPLIFIED = (
    "Here is a simpler version:\n\n"
    "```python\ndef area(self, r):\n    return math.pi * r ** 2\n```\n"
    "It drops the temporary variable."
)
DOCUMENTED = (
    '```python\n    def name(self):\n        """The shape\'s name."""\n        return "circle"\n```'
)


def by_task(answers: dict[str, str]) -> Callable[[dict[str, Any]], str]:
    """A ``fake.chat_text`` answering according to the task named in the user message."""

    def answer(body: dict[str, Any]) -> str:
        prompt = body["messages"][-1]["content"]
        for task, text in answers.items():
            if task in prompt:
                return text
        return "I cannot help with that."

    return answer


def chat_requests(fake: FakeMistral) -> list[Any]:
    return [r for r in fake.requests if r.path == CHAT_PATH]


def posts(fake: FakeMistral) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST"]


def _command_or_action(converter: Any) -> Callable[[Any, type], Any]:
    def structure(obj: Any, _: type) -> Any:
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    return structure


def understand_code_actions_with_commands(session: Session) -> None:
    """Tell a Command from a CodeAction as LSP clients do: by the type of ``command``.

    lsprotocol's converter takes any object with a ``command`` key for a Command, so a
    CodeAction carrying a command (Explain; every action for clients without resolve) would
    come out as a broken Command.  VS Code and Neovim check whether ``command`` is a string.
    """
    converter = session.client.protocol._converter
    converter.register_structure_hook(
        # the very typing.Union object lsprotocol registered its hook for
        Union[types.Command, types.CodeAction],  # noqa: UP007
        _command_or_action(converter),
    )


async def list_actions(
    session: Session,
    uri: str,
    start: int,
    end: int | None = None,
    *,
    diagnostics: list[types.Diagnostic] | None = None,
    only: list[str] | None = None,
) -> list[types.CodeAction]:
    understand_code_actions_with_commands(session)
    text = session.texts[uri]
    result = await session.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(
                start=session.position(text, start),
                end=session.position(text, start if end is None else end),
            ),
            context=types.CodeActionContext(diagnostics=diagnostics or [], only=only),
        )
    )
    assert result is not None
    actions = [item for item in result if isinstance(item, types.CodeAction)]
    assert len(actions) == len(result)
    return actions


def find(actions: list[types.CodeAction], action_id: str) -> types.CodeAction:
    title = ACTIONS[action_id].title
    [found] = [a for a in actions if a.title.startswith(title)]
    return found


def apply(session: Session, edit: types.WorkspaceEdit, uri: str = URI) -> str:
    files = apply_workspace_edit(session.texts, edit, session.encoding, session.versions)
    return files[uri]


def action_progress(session: Session) -> dict[Any, list[Any]]:
    """The progress reports of code actions (other features report progress too)."""
    return {
        token: reports
        for token, reports in session.client.progress_reports.items()
        if str(token).startswith("codestral-action-")
    }


def record_applied_edits(session: Session) -> list[types.ApplyWorkspaceEditParams]:
    """Make the test client answer ``workspace/applyEdit`` and record what it was asked."""
    applied: list[types.ApplyWorkspaceEditParams] = []

    @session.client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        applied.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    return applied


def without_resolve(capabilities: types.ClientCapabilities) -> None:
    assert capabilities.text_document is not None
    assert capabilities.text_document.code_action is not None
    capabilities.text_document.code_action.resolve_support = None


async def execute(session: Session, command: types.Command | None) -> Any:
    assert command is not None
    return await session.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
    )


def diagnostic(line: int, message: str, end_character: int = 1) -> types.Diagnostic:
    return types.Diagnostic(
        range=types.Range(
            start=types.Position(line=line, character=0),
            end=types.Position(line=line, character=end_character),
        ),
        message=message,
        source="pyflakes",
        severity=types.DiagnosticSeverity.Error,
    )


# --------------------------------------------------------------------------------------------
# Listing


async def test_capabilities_advertise_actions_and_commands(start: Starter) -> None:
    session = await start()
    provider = session.result.capabilities.code_action_provider
    assert isinstance(provider, types.CodeActionOptions)
    assert provider.resolve_provider is True
    assert {"quickfix", "refactor.rewrite", "refactor"} <= set(provider.code_action_kinds or [])
    commands = session.result.capabilities.execute_command_provider
    assert commands is not None
    assert {"codestral.edit", "codestral.applyAction"} <= set(commands.commands)


async def test_listing_is_free_and_offers_fix_only_with_diagnostics(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start()
    session.open(URI, SHAPES)
    cursor = SHAPES.index("result =")
    actions = await list_actions(session, URI, cursor)
    assert [a.title for a in actions] == [
        ACTIONS[i].title for i in ("document", "simplify", "tests", "explain")
    ]
    kinds = {a.title: a.kind for a in actions}
    assert kinds[ACTIONS["simplify"].title] == "refactor.rewrite"
    assert kinds[ACTIONS["tests"].title] == "refactor"
    # Resolve clients get the edit later: nothing is computed now.
    assert all(a.edit is None for a in actions)

    problem = diagnostic(5, "undefined name 'resul'")
    far_away = diagnostic(0, "unused import")
    actions = await list_actions(session, URI, cursor, diagnostics=[problem, far_away])
    fix = find(actions, "fix")
    assert fix.kind == "quickfix"
    assert fix.title == "Codestral: Fix: undefined name 'resul'"
    assert list(fix.diagnostics or []) == [problem]
    assert posts(fake) == []


async def test_listing_honours_context_only(start: Starter, fake: FakeMistral) -> None:
    session = await start()
    session.open(URI, SHAPES)
    cursor = SHAPES.index("result =")
    problem = diagnostic(5, "boom")
    quickfixes = await list_actions(session, URI, cursor, diagnostics=[problem], only=["quickfix"])
    assert [a.kind for a in quickfixes] == ["quickfix"]
    rewrites = await list_actions(
        session, URI, cursor, diagnostics=[problem], only=["refactor.rewrite"]
    )
    assert [a.title for a in rewrites] == [ACTIONS["document"].title, ACTIONS["simplify"].title]
    refactors = await list_actions(session, URI, cursor, only=["refactor"])
    assert {a.kind for a in refactors} == {"refactor.rewrite", "refactor"}
    assert await list_actions(session, URI, cursor, only=["source"]) == []
    assert posts(fake) == []


async def test_automatic_requests_without_selection_offer_only_fix(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start()
    session.open(URI, SHAPES)
    cursor = session.position(SHAPES, SHAPES.index("result ="))

    async def automatic(end: types.Position, diagnostics: list[types.Diagnostic]) -> list[str]:
        understand_code_actions_with_commands(session)
        result = await session.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=URI),
                range=types.Range(start=cursor, end=end),
                context=types.CodeActionContext(
                    diagnostics=diagnostics,
                    trigger_kind=types.CodeActionTriggerKind.Automatic,
                ),
            )
        )
        return [item.title for item in result or []]

    assert await automatic(cursor, []) == []
    assert await automatic(cursor, [diagnostic(5, "boom")]) == ["Codestral: Fix: boom"]
    # A selection is worth offering everything.
    selection_end = session.position(SHAPES, SHAPES.index("\n        return result"))
    assert ACTIONS["simplify"].title in await automatic(selection_end, [])
    assert posts(fake) == []


async def test_unknown_document_lists_nothing(start: Starter, fake: FakeMistral) -> None:
    session = await start()
    result = await session.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri="file:///work/nope.py"),
            range=types.Range(
                start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)
            ),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    assert not result
    assert posts(fake) == []


# --------------------------------------------------------------------------------------------
# The resolve path


async def test_simplify_rebases_indentation_and_edits_only_changed_lines(
    start: Starter, fake: FakeMistral
) -> None:
    fake.chat_text = by_task({ACTIONS["simplify"].task: SIMPLIFIED})
    session = await start({"chatModel": "codestral-2508"})
    session.open(URI, SHAPES)
    action = find(await list_actions(session, URI, SHAPES.index("area")), "simplify")
    resolved = await session.client.code_action_resolve_async(action)
    assert resolved.edit is not None
    assert apply(session, resolved.edit) == SHAPES.replace(
        "        result = math.pi * r * r\n        return result\n",
        "        return math.pi * r ** 2\n",
    )
    [edit] = text_edits(resolved.edit, URI)  # one hunk: the unchanged "def" line is untouched
    assert edit.range.start.line == 5 and edit.range.end.line == 7
    assert "```" not in edit.new_text

    [request] = chat_requests(fake)
    assert request.errors == []
    body = request.body
    assert body["model"] == "codestral-2508"
    assert body["stream"] is True
    assert body["temperature"] == 0.2 and body["max_tokens"] == 2048
    system, user = body["messages"]
    assert "Python" in system["content"] and "shapes.py" in system["content"]
    assert "    def area(self, r):\n        result = math.pi * r * r" in user["content"]
    assert "class Shapes:" in user["content"]  # a little context


async def test_document_inserts_a_docstring(start: Starter, fake: FakeMistral) -> None:
    fake.chat_text = by_task({ACTIONS["document"].task: DOCUMENTED})
    session = await start()
    session.open(URI, SHAPES)
    start_offset = SHAPES.index("    def name")
    action = find(await list_actions(session, URI, start_offset, len(SHAPES)), "document")
    resolved = await session.client.code_action_resolve_async(action)
    assert resolved.edit is not None
    assert apply(session, resolved.edit) == SHAPES.replace(
        "    def name(self):\n",
        '    def name(self):\n        """The shape\'s name."""\n',
    )
    [edit] = text_edits(resolved.edit, URI)
    assert edit.range.start == edit.range.end  # a pure insertion
    assert chat_requests(fake)[0].errors == []


async def test_fix_sends_the_diagnostics_and_fixes_the_line(
    start: Starter, fake: FakeMistral
) -> None:
    text = "def mean(xs):\n    return sum(xs) / len(x)\n"
    fake.chat_text = by_task(
        {ACTIONS["fix"].task: "The name is wrong.\n```py\nreturn sum(xs) / len(xs)\n```"}
    )
    session = await start()
    session.open(URI, text)
    problem = diagnostic(1, "undefined name 'x'", 20)
    actions = await list_actions(session, URI, text.index("len"), diagnostics=[problem])
    resolved = await session.client.code_action_resolve_async(find(actions, "fix"))
    assert resolved.edit is not None
    assert apply(session, resolved.edit) == "def mean(xs):\n    return sum(xs) / len(xs)\n"
    [request] = chat_requests(fake)
    assert request.errors == []
    assert "line 2: undefined name 'x' [pyflakes]" in request.body["messages"][-1]["content"]


@pytest.mark.parametrize(
    "text, selected, answer, expected",
    [
        pytest.param(
            "# café ☕ 😀\r\ndef greet(name):\r\n    msg = 'héllo ' + name + ' 😀'\r\n"
            "    return msg\r\n",
            "def greet",
            "```python\ndef greet(name):\n    return 'héllo ' + name + ' 😀'\n```",
            "# café ☕ 😀\r\ndef greet(name):\r\n    return 'héllo ' + name + ' 😀'\r\n",
            id="crlf-non-ascii",
        ),
        pytest.param(
            "x = '😀'\ny = '中文'",
            "y = ",
            "```python\ny = '中文字'  # 😀\n```",
            "x = '😀'\ny = '中文字'  # 😀",
            id="last-line-without-break",
        ),
        pytest.param(
            "if ok:\n\tvalue = compute(1,2)\n\tprint( value )\n",
            "value =",
            "```python\nvalue = compute(1, 2)\n```",
            "if ok:\n\tvalue = compute(1, 2)\n\tprint( value )\n",
            id="tabs",
        ),
    ],
)
async def test_edits_are_exact_in_client_units(
    start: Starter, fake: FakeMistral, text: str, selected: str, answer: str, expected: str
) -> None:
    fake.chat_text = by_task({ACTIONS["simplify"].task: answer})
    session = await start()
    session.open(URI, text)
    action = find(await list_actions(session, URI, text.index(selected)), "simplify")
    resolved = await session.client.code_action_resolve_async(action)
    assert resolved.edit is not None
    assert apply(session, resolved.edit) == expected
    assert chat_requests(fake)[0].errors == []


async def test_versioned_document_changes_when_the_client_supports_them(
    start: Starter, fake: FakeMistral
) -> None:
    fake.chat_text = by_task({ACTIONS["simplify"].task: SIMPLIFIED})
    session = await start()
    session.open(URI, SHAPES)
    session.replace(URI, 0, 0, "# header\n")
    action = find(await list_actions(session, URI, session.texts[URI].index("area")), "simplify")
    resolved = await session.client.code_action_resolve_async(action)
    assert resolved.edit is not None
    if session.name == "visual-studio-code":  # advertises workspaceEdit.documentChanges
        assert resolved.edit.changes is None
        [change] = resolved.edit.document_changes or []
        assert isinstance(change, types.TextDocumentEdit)
        assert change.text_document.version == session.versions[URI] == 2
        # A client holding another version refuses the edit instead of misapplying it.
        with pytest.raises(StaleEdit):
            apply_workspace_edit(session.texts, resolved.edit, session.encoding, {URI: 3})
    else:
        assert resolved.edit.document_changes is None and resolved.edit.changes is not None
    assert apply(session, resolved.edit).startswith("# header\nimport math")


async def test_stale_version_is_refused_without_calling_the_model(
    start: Starter, fake: FakeMistral
) -> None:
    fake.chat_text = by_task({ACTIONS["simplify"].task: SIMPLIFIED})
    session = await start()
    session.open(URI, SHAPES)
    action = find(await list_actions(session, URI, SHAPES.index("area")), "simplify")
    session.replace(URI, 0, 0, "# edited\n")
    resolved = await session.client.code_action_resolve_async(action)
    assert resolved.edit is None
    [message] = session.messages
    assert "changed" in message and "again" in message
    assert posts(fake) == []


async def test_document_changed_while_the_model_answered_is_refused(
    start: Starter, fake: FakeMistral
) -> None:
    fake.chat_text = by_task({ACTIONS["simplify"].task: SIMPLIFIED})
    session = await start()
    session.open(URI, SHAPES)
    action = find(await list_actions(session, URI, SHAPES.index("area")), "simplify")
    gate = fake.gate()
    try:
        pending = asyncio.ensure_future(session.client.code_action_resolve_async(action))
        assert await fake.await_requests(1, path=CHAT_PATH)
        session.replace(URI, 0, 0, "# typed meanwhile\n")
        await list_actions(session, URI, 0)  # a round trip: the server has seen the change
    finally:
        gate.set()
    resolved = await pending
    assert resolved.edit is None
    assert any("changed" in message for message in session.messages)


@pytest.mark.parametrize(
    "status, headers, expected",
    [
        pytest.param(401, None, "rejected", id="401"),
        pytest.param(429, {"Retry-After": "7"}, "Rate limited", id="429"),
        pytest.param(500, None, "failed to answer", id="500"),
    ],
)
async def test_upstream_failure_gives_one_message_and_no_edit(
    start: Starter,
    fake: FakeMistral,
    status: int,
    headers: dict[str, str] | None,
    expected: str,
) -> None:
    fake.chat_text = by_task({ACTIONS["simplify"].task: SIMPLIFIED})
    session = await start()
    session.open(URI, SHAPES)
    action = find(await list_actions(session, URI, SHAPES.index("area")), "simplify")
    fake.fail_next(status, headers=headers)
    resolved = await session.client.code_action_resolve_async(action)
    assert resolved.edit is None
    [message] = session.messages
    assert expected in message and "Nothing was changed" in message
    assert "test-key" not in message
    # The server stays up and the next try works.
    resolved = await session.client.code_action_resolve_async(action)
    assert resolved.edit is not None
    assert len(session.messages) == 1


async def test_unknown_chat_model_names_the_setting(start: Starter, fake: FakeMistral) -> None:
    session = await start({"chatModel": "no-such-model"})
    session.open(URI, SHAPES)
    action = find(await list_actions(session, URI, SHAPES.index("area")), "simplify")
    resolved = await session.client.code_action_resolve_async(action)
    assert resolved.edit is None
    [message] = session.messages
    assert "no-such-model" in message and "codestral.chatModel" in message


async def test_answer_without_code_changes_nothing(start: Starter, fake: FakeMistral) -> None:
    fake.chat_text = "```python\n```"
    session = await start()
    session.open(URI, SHAPES)
    action = find(await list_actions(session, URI, SHAPES.index("area")), "simplify")
    resolved = await session.client.code_action_resolve_async(action)
    assert resolved.edit is None
    [message] = session.messages
    assert "no code" in message


# --------------------------------------------------------------------------------------------
# Progress and cancellation


async def test_progress_is_reported_and_ended(start: Starter, fake: FakeMistral) -> None:
    fake.chat_text = by_task({ACTIONS["simplify"].task: SIMPLIFIED})
    session = await start()
    session.open(URI, SHAPES)
    action = find(await list_actions(session, URI, SHAPES.index("area")), "simplify")
    resolved = await session.client.code_action_resolve_async(action)
    assert resolved.edit is not None
    [reports] = list(action_progress(session).values())
    begin, *middle, end = reports
    assert isinstance(begin, types.WorkDoneProgressBegin)
    assert begin.cancellable is True and begin.title == ACTIONS["simplify"].title
    assert middle and all(isinstance(r, types.WorkDoneProgressReport) for r in middle)
    assert isinstance(end, types.WorkDoneProgressEnd)


async def _pending_resolve(
    session: Session, fake: FakeMistral
) -> tuple[str, asyncio.Future[Any], Any]:
    """Start resolving Simplify while the fake holds its answer."""
    fake.chat_text = by_task({ACTIONS["simplify"].task: SIMPLIFIED})
    session.open(URI, SHAPES)
    action = find(await list_actions(session, URI, SHAPES.index("area")), "simplify")
    gate = fake.gate()
    msg_id = str(uuid.uuid4())
    pending = asyncio.ensure_future(
        session.client.protocol.send_request_async(types.CODE_ACTION_RESOLVE, action, msg_id=msg_id)
    )
    assert await fake.await_requests(1, path=CHAT_PATH)
    return msg_id, pending, gate


async def test_cancelling_the_progress_closes_the_stream(start: Starter, fake: FakeMistral) -> None:
    session = await start()
    _, pending, gate = await _pending_resolve(session, fake)
    try:
        [token] = list(action_progress(session))
        session.client.window_work_done_progress_cancel(
            types.WorkDoneProgressCancelParams(token=token)
        )
        resolved = await pending
        assert await fake.await_until(lambda: fake.streams_aborted == 1)
    finally:
        gate.set()
    assert resolved.edit is None
    assert isinstance(session.client.progress_reports[token][-1], types.WorkDoneProgressEnd)
    assert session.messages == []  # the user cancelled: nothing to tell


async def test_cancel_request_on_resolve_closes_the_stream(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start()
    msg_id, pending, gate = await _pending_resolve(session, fake)
    try:
        session.cancel(msg_id)
        with pytest.raises(Exception, match="cancel"):
            await pending
        assert await fake.await_until(lambda: fake.streams_aborted == 1)
    finally:
        gate.set()
    # The server is still up.
    action = find(await list_actions(session, URI, SHAPES.index("area")), "simplify")
    resolved = await session.client.code_action_resolve_async(action)
    assert resolved.edit is not None


# --------------------------------------------------------------------------------------------
# The command path (clients without resolveSupport)


async def test_command_path_applies_the_edit_through_apply_edit(
    start: Starter, fake: FakeMistral
) -> None:
    fake.chat_text = by_task(
        {ACTIONS["simplify"].task: SIMPLIFIED, ACTIONS["document"].task: DOCUMENTED}
    )
    session = await start(capabilities_patch=without_resolve)
    applied = record_applied_edits(session)
    session.open(URI, SHAPES)
    actions = await list_actions(session, URI, SHAPES.index("area"))
    simplify = find(actions, "simplify")
    assert simplify.edit is None and simplify.command is not None
    assert simplify.command.command == "codestral.applyAction"
    assert await execute(session, simplify.command) == {"applied": True}
    [params] = applied
    assert params.label == ACTIONS["simplify"].title
    assert apply(session, params.edit) == SHAPES.replace(
        "        result = math.pi * r * r\n        return result\n",
        "        return math.pi * r ** 2\n",
    )
    assert chat_requests(fake)[0].errors == []


async def test_command_path_refuses_stale_and_reports_failures(
    start: Starter, fake: FakeMistral
) -> None:
    fake.chat_text = by_task({ACTIONS["simplify"].task: SIMPLIFIED})
    session = await start(capabilities_patch=without_resolve)
    applied = record_applied_edits(session)
    session.open(URI, SHAPES)
    simplify = find(await list_actions(session, URI, SHAPES.index("area")), "simplify")

    fake.fail_next(401)
    result = await execute(session, simplify.command)
    assert result["applied"] is False and "rejected" in result["message"]

    session.replace(URI, 0, 0, "# edited\n")
    result = await execute(session, simplify.command)
    assert result["applied"] is False and "changed" in result["message"]
    assert applied == []
    assert len(session.messages) == 2
    assert len(posts(fake)) == 1  # the stale run never reached the network


async def test_edit_command_follows_the_instruction(start: Starter, fake: FakeMistral) -> None:
    fake.chat_text = by_task(
        {
            "Instruction: add type hints": (
                "```python\ndef area(self, r: float) -> float:\n"
                "    result = math.pi * r * r\n    return result\n```"
            )
        }
    )
    session = await start(capabilities_patch=without_resolve)
    applied = record_applied_edits(session)
    session.open(URI, SHAPES)
    start_pos = session.position(SHAPES, SHAPES.index("    def area"))
    end_pos = session.position(SHAPES, SHAPES.index("\n    def name"))
    result = await session.client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="codestral.edit",
            arguments=[
                {
                    "uri": URI,
                    "range": {
                        "start": {"line": start_pos.line, "character": start_pos.character},
                        "end": {"line": end_pos.line, "character": end_pos.character},
                    },
                    "instruction": "add type hints",
                }
            ],
        )
    )
    assert result == {"applied": True}
    [params] = applied
    assert apply(session, params.edit) == SHAPES.replace(
        "def area(self, r):", "def area(self, r: float) -> float:"
    )
    [request] = chat_requests(fake)
    assert request.errors == []
    assert CUSTOM_EDIT.task in request.body["messages"][-1]["content"]


async def test_edit_command_rejects_bad_arguments(start: Starter, fake: FakeMistral) -> None:
    session = await start()
    session.open(URI, SHAPES)
    result = await session.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="codestral.edit", arguments=[{"uri": URI}])
    )
    assert result is not None
    assert result["applied"] is False and "instruction" in result["message"]
    assert posts(fake) == []


# --------------------------------------------------------------------------------------------
# Generate tests


TESTS_ANSWER = (
    "Here are tests:\n```python\nfrom calc import add\n\n\ndef test_add():\n"
    "    assert add(1, 2) == 3\n```"
)
CALC = "def add(a, b):\n    return a + b\n"


async def test_generate_tests_creates_the_test_file(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    fake.chat_text = by_task({ACTIONS["tests"].task: TESTS_ANSWER})
    session = await start()
    uri = (tmp_path / "calc.py").as_uri()
    session.open(uri, CALC)
    action = find(await list_actions(session, uri, 0), "tests")
    resolved = await session.client.code_action_resolve_async(action)
    assert resolved.edit is not None
    target = (tmp_path / "test_calc.py").as_uri()
    assert edited_uris(resolved.edit) == [target, target]  # create, then fill
    files = apply_workspace_edit(session.texts, resolved.edit, session.encoding)
    assert files[target] == "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    assert files[uri] == CALC
    prompt = chat_requests(fake)[0].body["messages"][-1]["content"]
    assert "new file test_calc.py" in prompt


async def test_generate_tests_appends_to_an_existing_test_file(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    fake.chat_text = by_task({ACTIONS["tests"].task: TESTS_ANSWER})
    (tmp_path / "test_calc.py").write_text("import calc\n", encoding="utf-8")
    session = await start()
    uri = (tmp_path / "calc.py").as_uri()
    target = (tmp_path / "test_calc.py").as_uri()
    session.open(uri, CALC)
    action = find(await list_actions(session, uri, 0), "tests")
    resolved = await session.client.code_action_resolve_async(action)
    assert resolved.edit is not None
    files = {**session.texts, target: "import calc\n"}
    result = apply_workspace_edit(files, resolved.edit, session.encoding)
    assert result[target] == (
        "import calc\n\nfrom calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    )
    assert (
        "appended to the existing test file"
        in chat_requests(fake)[0].body["messages"][-1]["content"]
    )


async def test_generate_tests_inserts_below_without_resource_operations(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    def no_create(capabilities: types.ClientCapabilities) -> None:
        assert capabilities.workspace is not None and capabilities.workspace.workspace_edit
        capabilities.workspace.workspace_edit.resource_operations = None

    fake.chat_text = by_task(
        {ACTIONS["tests"].task: "```python\ndef test_add():\n    assert add(1, 2) == 3\n```"}
    )
    session = await start(capabilities_patch=no_create)
    uri = (tmp_path / "calc.py").as_uri()
    text = CALC + "\n\nprint(add(1, 2))\n"
    session.open(uri, text)
    action = find(await list_actions(session, uri, 0), "tests")
    resolved = await session.client.code_action_resolve_async(action)
    assert resolved.edit is not None
    assert edited_uris(resolved.edit) == [uri]
    assert apply(session, resolved.edit, uri) == (
        CALC + "\ndef test_add():\n    assert add(1, 2) == 3\n\n\nprint(add(1, 2))\n"
    )
    assert not (tmp_path / "test_calc.py").exists()


# --------------------------------------------------------------------------------------------
# Explain


EXPLANATION = "Computes the **area** of a circle.\n\n```python\nmath.pi * r * r\n```"


async def test_explain_shows_a_markdown_document(start: Starter, fake: FakeMistral) -> None:
    fake.chat_text = by_task({ACTIONS["explain"].task: EXPLANATION})
    session = await start()
    session.open(URI, SHAPES)
    explain = find(await list_actions(session, URI, SHAPES.index("area")), "explain")
    assert explain.kind == "codestral.explain" and explain.command is not None
    # Resolving changes nothing (Explain has no edit) and asks nothing.
    assert (await session.client.code_action_resolve_async(explain)).edit is None
    assert posts(fake) == []
    assert await execute(session, explain.command) == {"applied": True}
    [shown] = session.client.shown_documents
    assert shown.uri.startswith("file://") and shown.uri.endswith(".md")
    path = to_fs_path(shown.uri)
    assert path is not None
    markdown = Path(path).read_text(encoding="utf-8")
    assert markdown.startswith("# Explanation of shapes.py, lines 5-7")
    assert EXPLANATION in markdown
    assert chat_requests(fake)[0].errors == []


async def test_explain_shows_a_read_only_virtual_document_where_the_client_has_them(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    """Our VS Code extension opens ``codestral-explain:`` documents (read-only, never synced
    back, so no completions or actions on them): no file is written."""

    def explain_documents(capabilities: types.ClientCapabilities) -> None:
        capabilities.experimental = {"codestral": {"explainDocuments": True}}

    fake.chat_text = by_task({ACTIONS["explain"].task: EXPLANATION})
    session = await start(capabilities_patch=explain_documents)
    session.open(URI, SHAPES)
    explain = find(await list_actions(session, URI, SHAPES.index("area")), "explain")
    assert await execute(session, explain.command) == {"applied": True}
    [shown] = session.client.shown_documents
    assert shown.uri.startswith("codestral-explain:/shapes.py-L5-L7.md")
    answer = await session.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="codestral.explanation", arguments=[{"uri": shown.uri}])
    )
    assert answer["markdown"].startswith("# Explanation of shapes.py, lines 5-7")
    assert EXPLANATION in answer["markdown"]
    gone = await session.client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="codestral.explanation", arguments=[{"uri": "codestral-explain:/x.md?9"}]
        )
    )
    assert "no longer available" in gone["markdown"]


async def test_explain_falls_back_to_a_message(start: Starter, fake: FakeMistral) -> None:
    def no_show_document(capabilities: types.ClientCapabilities) -> None:
        assert capabilities.window is not None
        capabilities.window.show_document = None

    fake.chat_text = by_task({ACTIONS["explain"].task: EXPLANATION})
    session = await start(capabilities_patch=no_show_document)
    session.open(URI, SHAPES)
    explain = find(await list_actions(session, URI, SHAPES.index("area")), "explain")
    assert await execute(session, explain.command) == {"applied": True}
    assert session.client.shown_documents == []
    [message] = session.messages
    assert EXPLANATION in message


# --------------------------------------------------------------------------------------------
# Privacy


SECRET = "abcd1234efgh5678"
CONFIG = f'API_KEY = "{SECRET}"\nTIMEOUT = 10\n'


async def test_secrets_are_hidden_from_the_model_and_put_back(
    start: Starter, fake: FakeMistral
) -> None:
    fake.chat_text = by_task(
        {
            ACTIONS["simplify"].task: (
                '```python\nAPI_KEY: str = "[REDACTED-1]"\nTIMEOUT: int = 10\n```'
            )
        }
    )
    session = await start()
    session.open(URI, CONFIG)
    action = find(await list_actions(session, URI, 0, len(CONFIG)), "simplify")
    resolved = await session.client.code_action_resolve_async(action)
    assert resolved.edit is not None
    assert apply(session, resolved.edit) == f'API_KEY: str = "{SECRET}"\nTIMEOUT: int = 10\n'
    [request] = chat_requests(fake)
    assert request.errors == []
    assert SECRET not in str(request.body)
    assert 'API_KEY = "[REDACTED-1]"' in request.body["messages"][-1]["content"]


async def test_an_answer_writing_redacted_over_a_secret_is_refused(
    start: Starter, fake: FakeMistral
) -> None:
    fake.chat_text = by_task(
        {ACTIONS["simplify"].task: '```python\nAPI_KEY = "[REDACTED]"\nTIMEOUT = 20\n```'}
    )
    session = await start()
    session.open(URI, CONFIG)
    action = find(await list_actions(session, URI, 0, len(CONFIG)), "simplify")
    resolved = await session.client.code_action_resolve_async(action)
    assert resolved.edit is None
    [message] = session.messages
    assert "secret" in message and "nothing was changed" in message


async def test_excluded_files_get_no_actions_and_are_never_sent(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start()
    uri = "file:///work/.env"
    session.open(uri, "TOKEN=abc\n", language_id="dotenv")
    result = await session.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(
                start=types.Position(line=0, character=0), end=types.Position(line=0, character=5)
            ),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    assert not result
    result = await session.client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="codestral.edit",
            arguments=[
                {
                    "uri": uri,
                    "range": {
                        "start": {"line": 0, "character": 0},
                        "end": {"line": 1, "character": 0},
                    },
                    "instruction": "rename",
                }
            ],
        )
    )
    assert result is not None and result["applied"] is False
    assert "never sent" in result["message"]
    assert posts(fake) == []
