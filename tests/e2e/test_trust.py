"""Trust, through the protocol: no lost code, no leaked secret, completions never stop for good.

Each test here reproduces a defect of issue 10 by driving the real server over stdio, with
VS Code's and Neovim's capabilities, against the fake API.  Nothing is timed: each test counts
requests and compares texts.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest
from lsprotocol import types
from lsprotocol.converters import get_converter

from codestral_ls.actions import ACTIONS
from codestral_ls.testing.fake_mistral import FakeMistral
from tests.e2e.conftest import CLIENTS, Session, Starter, capabilities_for, server_env
from tests.e2e.test_code_actions import SHAPES, apply, by_task, chat_requests, find, list_actions
from tests.e2e.test_code_actions import URI as SHAPES_URI

URI = "file:///work/trust.py"
#: Hang detector around each LSP call: far above any configured timeout.
HANG = 20.0


def reconfigure(session: Session, settings: dict[str, Any]) -> None:
    """Change the ``codestral`` workspace settings and tell the server."""
    session.client.set_configuration(settings, section="codestral")
    session.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings=None)
    )


async def ask(session: Session, uri: str, offset: int) -> str | None:
    return await asyncio.wait_for(session.complete_at(uri, offset), HANG)


async def ask_explicitly(session: Session, uri: str, offset: int) -> str | None:
    """An explicit request: inline completion with ``triggerKind: Invoked`` (VS Code's Alt+\\,
    the Neovim plugin's "request now" key on 0.12), in this client's position units."""
    result = await asyncio.wait_for(
        session.client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=session.position(session.texts[uri], offset),
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Invoked
                ),
            )
        ),
        HANG,
    )
    if result is None:
        return None
    items = result.items if isinstance(result, types.InlineCompletionList) else result
    return str(items[0].insert_text) if items else None


# --- 1. completions never stop for good -------------------------------------------------------


async def test_a_refused_probe_after_a_rate_limit_does_not_stop_completions(
    start: Starter, fake: FakeMistral
) -> None:
    """429 (pause 0), then the half-open probe gets a 422: the next request goes out."""
    session = await start(configuration={})
    session.open(URI, "total = ")
    fake.fail_next(429, {"message": "Requests rate limit exceeded"}, headers={"Retry-After": "0"})
    assert await ask(session, URI, len("total = ")) is None
    session.replace(URI, 8, 8, "a")
    fake.fail_next(422, {"detail": [{"type": "x", "loc": ["body", "prompt"], "msg": "bad"}]})
    assert await ask(session, URI, 9) is None  # the probe, refused
    assert len(fake.fim_requests()) == 2
    fake.fim_text = "42"
    session.replace(URI, 9, 9, "b")
    assert await ask(session, URI, 10) == "42"
    assert len(fake.fim_requests()) == 3


async def test_any_settings_change_resumes_after_a_rate_limit(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start(configuration={})
    session.open(URI, "total = ")
    fake.fail_next(429, {"message": "slow down"}, headers={"Retry-After": "3600"})
    assert await ask(session, URI, 8) is None
    session.replace(URI, 8, 8, "a")
    assert await ask(session, URI, 9) is None
    assert len(fake.fim_requests()) == 1  # paused
    reconfigure(session, {"debounceMs": 1})
    fake.fim_text = "42"
    assert await ask(session, URI, 9) == "42"
    assert len(fake.fim_requests()) == 2


# --- 8. exit without shutdown ------------------------------------------------------------------


def _frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("shutdown", [True, False])
def test_exit_code_says_whether_shutdown_came_first(
    fake: FakeMistral, client: str, shutdown: bool
) -> None:
    """LSP: ``exit`` after ``shutdown`` exits 0, without it 1."""
    params = get_converter().unstructure(
        types.InitializeParams(capabilities=capabilities_for(client), process_id=None),
        types.InitializeParams,
    )
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params},
        {"jsonrpc": "2.0", "method": "initialized", "params": {}},
    ]
    if shutdown:
        messages.append({"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
    messages.append({"jsonrpc": "2.0", "method": "exit"})
    process = subprocess.Popen(
        [sys.executable, "-m", "codestral_ls"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=server_env(fake),
    )
    assert process.stdin is not None and process.stdout is not None
    # Send one message at a time after the answer to the previous request, as a client does.
    process.stdin.write(_frame(messages[0]))
    process.stdin.flush()
    _read_until_id(process.stdout, 1)
    for message in messages[1:]:
        process.stdin.write(_frame(message))
        process.stdin.flush()
        if message.get("id") == 2:
            _read_until_id(process.stdout, 2)
    try:
        code = process.wait(timeout=HANG)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdin.close()
        process.stdout.close()
    assert code == (0 if shutdown else 1)


def _read_until_id(stream: Any, wanted: int) -> dict[str, Any]:
    """Read framed messages until the response with id ``wanted``."""
    while True:
        length = 0
        while True:
            line = stream.readline()
            assert line, "the server closed its output"
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        message = json.loads(stream.read(length))
        if message.get("id") == wanted and "method" not in message:
            return dict(message)


# --- 9. cache key and explicit requests ---------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [{"maxTokens": 100}, {"stop": ["\n\n"]}, {"temperature": 0.4}],
    ids=["maxTokens", "stop", "temperature"],
)
async def test_a_setting_that_changes_the_request_is_not_answered_from_the_cache(
    start: Starter, fake: FakeMistral, change: dict[str, Any]
) -> None:
    session = await start(configuration={})
    session.open(URI, "value = \n")
    fake.fim_text = "first_answer"
    assert await ask(session, URI, len("value = ")) == "first_answer"
    assert await ask(session, URI, len("value = ")) == "first_answer"  # cached
    assert len(fake.fim_requests()) == 1
    reconfigure(session, change)
    fake.fim_text = "second_answer"
    assert await ask(session, URI, len("value = ")) == "second_answer"
    assert len(fake.fim_requests()) == 2
    body = fake.fim_requests()[-1].body
    assert body is not None
    key, value = next(iter(change.items()))
    field = {"maxTokens": "max_tokens"}.get(key, key)
    assert body[field] == value


async def test_an_explicit_request_skips_the_debounce(start: Starter, fake: FakeMistral) -> None:
    """An explicit request goes out at once: an automatic request for the same spot sent right
    after it joins it.  (Had it waited for the debounce, the newer request would have ended
    its wait and it would answer nothing.)"""
    fake.fim_text = "compute()"
    session = await start({"debounceMs": 5000}, configuration={"debounceMs": 5000})
    text = "other = \nvalue = "
    session.open(URI, text)
    assert await ask_explicitly(session, URI, len("other = ")) == "compute()"  # settings pulled
    explicit = asyncio.ensure_future(
        session.client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=URI),
                position=session.position(text, len(text)),
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Invoked
                ),
            )
        )
    )
    _, automatic = session.request_at(URI, len(text))
    result = await asyncio.wait_for(explicit, HANG)
    assert result is not None and result.items[0].insert_text == "compute()"
    assert session.inserted(await asyncio.wait_for(automatic, HANG)) == "compute()"
    assert len(fake.fim_requests()) == 2


async def test_an_explicit_request_is_not_answered_by_an_empty_answer(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start()
    session.open(URI, "value = ")
    fake.fim_text = ""
    assert await ask(session, URI, len("value = ")) is None
    fake.fim_text = "compute()"
    assert await ask_explicitly(session, URI, len("value = ")) == "compute()"
    assert len(fake.fim_requests()) == 2


# --- 10. only the documented unknown-model answers pause ------------------------------------


async def test_a_refusal_naming_the_model_does_not_pause_completions(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start(configuration={})
    session.open(URI, "total = ")
    fake.fail_next(
        400,
        {
            "object": "error",
            "message": "Prompt is too long for codestral-latest (40000 tokens)",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        },
    )
    assert await ask(session, URI, 8) is None
    [message] = session.messages
    assert "too long" in message and "not available" not in message
    fake.fim_text = "42"
    session.replace(URI, 8, 8, "a")
    assert await ask(session, URI, 9) == "42"  # not paused
    assert len(fake.fim_requests()) == 2


async def test_the_documented_unknown_model_answer_still_pauses(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start({"model": "codestral-nope"}, configuration={"model": "codestral-nope"})
    session.open(URI, "total = ")
    assert await ask(session, URI, 8) is None  # 400 {"type": "invalid_model", ...}
    session.replace(URI, 8, 8, "a")
    assert await ask(session, URI, 9) is None
    assert len(fake.fim_requests()) == 1
    [message] = session.messages
    assert "codestral-nope" in message and "not available" in message


# --- 7. a lone surrogate ------------------------------------------------------------------------


async def test_a_lone_surrogate_is_replaced_and_completions_go_on(
    start: Starter, fake: FakeMistral
) -> None:
    """UTF-16 clients can send half a surrogate pair (JSON ``"\\ud83d"``): it is sent as U+FFFD
    and the completion comes back, in this file and later ones."""
    fake.fim_text = "42"
    session = await start()
    text = 'label = "\ud83d"\nvalue = '
    session.open(URI, text)
    assert await ask(session, URI, len(text)) == "42"
    [request] = fake.fim_requests()
    assert request.errors == [] and request.body is not None
    assert request.body["prompt"] == 'label = "\ufffd"\nvalue = '
    # and the cursor may sit right after it
    assert await ask(session, URI, len('label = "\ud83d')) == "42"


# --- 4. a secret being typed ------------------------------------------------------------------


@pytest.mark.parametrize(
    "cut", [len('db_password = "hunter2'), len('db_password = "hunter2secret')]
)
async def test_a_secret_being_typed_is_never_sent(
    start: Starter, fake: FakeMistral, cut: int
) -> None:
    """The cursor inside an unclosed secret (mid-word, or at its end while typing): no part of
    it goes out; an ordinary string such as an author's name does."""
    fake.fim_text = "x"
    session = await start()
    head = 'author = "Tolkien"\n'
    line = 'db_password = "hunter2secret'
    text = head + line + "\nnext = 1\n"
    session.open(URI, text)
    await ask(session, URI, len(head) + cut)
    [request] = fake.fim_requests()
    assert request.body is not None
    sent = request.body["prompt"] + request.body["suffix"]
    assert "hunter2" not in sent and "secret" not in sent.replace("[REDACTED]", "")
    assert request.body["prompt"].startswith('author = "Tolkien"\ndb_password = "[REDACTED]')
    assert request.body["suffix"].endswith("next = 1\n")


# --- 5. answers for an old document version ---------------------------------------------------


async def _answer_after_edit(
    session: Session, fake: FakeMistral, offset: int, edit: tuple[int, int, str]
) -> Any:
    """Ask at ``offset``, apply ``edit`` (start, end, text) while the answer is held, release."""
    gate = fake.gate()
    _, pending = session.request_at(URI, offset)
    assert await fake.await_requests(1, timeout=HANG)
    session.replace(URI, *edit)
    # the edit is handled before the answer comes: a later request on the same connection
    # is answered after it (the server reads messages in order)
    origin = types.Position(line=0, character=0)
    await asyncio.wait_for(
        session.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=URI),
                range=types.Range(start=origin, end=origin),
                context=types.CodeActionContext(diagnostics=[]),
            )
        ),
        HANG,
    )
    gate.set()
    return await asyncio.wait_for(pending, HANG)


@pytest.mark.parametrize(
    "edit",
    [(0, 0, "import os\nimport sys\n"), (0, len("a = 1\nb = 2\n"), "")],
    ids=["lines-inserted-above", "lines-deleted"],
)
async def test_an_answer_for_an_old_version_is_not_shown_on_another_line(
    start: Starter, fake: FakeMistral, edit: tuple[int, int, str]
) -> None:
    fake.fim_text = "compute()"
    session = await start()
    text = "a = 1\nb = 2\nvalue = "
    session.open(URI, text)
    result = await _answer_after_edit(session, fake, len(text), edit)
    assert session.inserted(result) is None  # empty, and no error
    # the server is fine: a request for the new text is answered
    assert await ask(session, URI, len(session.texts[URI])) == "compute()"


async def test_typing_through_an_answer_in_flight_keeps_it_in_place(
    start: Starter, fake: FakeMistral
) -> None:
    fake.fim_text = "compute()"
    session = await start()
    text = "a = 1\nvalue = "
    session.open(URI, text)
    result = await _answer_after_edit(session, fake, len(text), (len(text), len(text), "comp"))
    start_position = session.position(text, len(text))
    end_position = session.position(session.texts[URI], len(text) + 4)
    if session.inline:
        [item] = result.items
        assert item.insert_text == "compute()"
        assert item.range == types.Range(start=start_position, end=end_position)
    else:
        [item] = result.items
        assert item.text_edit.new_text == "compute()"
        assert item.text_edit.range == types.Range(start=start_position, end=end_position)


# --- 3. keyword closers --------------------------------------------------------------------


@pytest.mark.parametrize(
    "language, before, after, answer",
    [
        (
            "lua",
            "local function setup(opts)\n  if opts.debug then\n    ",
            "\nend\n",
            'print("debug")\n  end',
        ),
        ("ruby", "def run(opts)\n  if opts[:debug]\n    ", "\nend\n", 'puts "debug"\n  end'),
        ("shellscript", 'main() {\n  if [ -n "$1" ]; then\n    ', "\n}\n", 'echo "$1"\n  fi'),
    ],
    ids=["lua", "ruby", "shell"],
)
async def test_the_completions_own_keyword_closer_is_kept(
    start: Starter, fake: FakeMistral, language: str, before: str, after: str, answer: str
) -> None:
    fake.fim_text = answer + "\n"
    session = await start()
    session.open(URI, before + after, language_id=language)
    assert await ask(session, URI, len(before)) == answer


# --- 6. meaningful trailing spaces -------------------------------------------------------------


async def test_a_trailing_space_that_separates_tokens_is_kept(
    start: Starter, fake: FakeMistral
) -> None:
    fake.fim_text = "a + "
    session = await start()
    session.open(URI, "x = foo\n")
    assert await ask(session, URI, len("x = ")) == "a + "  # x = a + foo, not x = a +foo


# --- 2. a cut-off chat answer never deletes code ------------------------------------------------


def _long_rewrite(lines: int) -> str:
    body = "".join(f"    step_{i} = r * {i}\n" for i in range(lines))
    return f"```python\ndef area(self, r):\n{body}    return r\n```\n"


async def _resolve(
    session: Session, action_id: str, start_at: int, end_at: int | None = None
) -> Any:
    action = find(await list_actions(session, SHAPES_URI, start_at, end_at), action_id)
    return await asyncio.wait_for(session.client.code_action_resolve_async(action), HANG)


async def test_an_answer_cut_at_the_length_limit_twice_is_not_applied(
    start: Starter, fake: FakeMistral
) -> None:
    fake.chat_text = _long_rewrite(800)  # longer than both budgets
    session = await start()
    session.open(SHAPES_URI, SHAPES)
    resolved = await _resolve(session, "simplify", SHAPES.index("area"))
    assert resolved.edit is None
    first, second = chat_requests(fake)  # retried once with a larger budget
    assert (first.body["max_tokens"], second.body["max_tokens"]) == (2048, 4096)
    [message] = session.messages
    assert "cut off" in message and "nothing was changed" in message


async def test_an_answer_cut_once_is_asked_again_with_a_larger_budget(
    start: Starter, fake: FakeMistral
) -> None:
    fake.chat_text = _long_rewrite(250)  # over 2048 tokens, under 4096
    session = await start()
    session.open(SHAPES_URI, SHAPES)
    resolved = await _resolve(session, "simplify", SHAPES.index("area"))
    assert resolved.edit is not None
    assert "    step_249 = r * 249\n" in apply(session, resolved.edit, SHAPES_URI)
    assert len(chat_requests(fake)) == 2
    assert session.messages == []


async def test_an_answer_whose_code_block_never_closes_is_not_applied(
    start: Starter, fake: FakeMistral
) -> None:
    fake.chat_text = "```python\ndef area(self, r):\n    return math.pi"
    session = await start()
    session.open(SHAPES_URI, SHAPES)
    resolved = await _resolve(session, "simplify", SHAPES.index("area"))
    assert resolved.edit is None
    assert len(chat_requests(fake)) == 1  # the model stopped by itself: no retry
    [message] = session.messages
    assert "cut off" in message


async def test_a_docstring_answer_that_drops_the_code_is_not_applied(
    start: Starter, fake: FakeMistral
) -> None:
    fake.chat_text = by_task(
        {ACTIONS["document"].task: '```python\ndef area(self, r):\n    """The area."""\n```'}
    )
    session = await start()
    session.open(SHAPES_URI, SHAPES)
    start_at = SHAPES.index("    def area")
    resolved = await _resolve(session, "document", start_at, SHAPES.index("    def name"))
    assert resolved.edit is None
    [message] = session.messages
    assert "leaves out lines" in message and "nothing was changed" in message
