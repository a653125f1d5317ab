"""The engine without LSP: a stub backend counts what was read, a fake clock drives pauses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from lsprotocol import types

from codestral_ls.backends.errors import (
    AuthenticationError,
    BadRequestError,
    NetworkError,
    RateLimitedError,
    ServerError,
)
from codestral_ls.backends.http import Completion
from codestral_ls.breaker import Breaker
from codestral_ls.documents import Cursor, Document
from codestral_ls.engine import CompletionEngine, View, text_key
from codestral_ls.health import Health
from codestral_ls.mistral import FimRequest
from codestral_ls.notify import Notifier
from codestral_ls.settings import Connection, Settings


class StubBackend:
    """Streams fixed pieces; records requests and how many pieces were consumed."""

    kind = "stub"
    requires_key = True

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces
        self.requests: list[FimRequest] = []
        self.consumed = 0
        self.closed = 0
        self.error: Exception | None = None
        self.release: asyncio.Event | None = None

    def configure(self, **_: object) -> None:
        pass

    async def fim(self, req: FimRequest) -> Completion:
        raise AssertionError("the engine streams")

    async def fim_stream(self, req: FimRequest) -> AsyncGenerator[str, None]:
        self.requests.append(req)
        if self.error is not None:
            raise self.error
        try:
            for index, piece in enumerate(self.pieces):
                if index == 1 and self.release is not None:
                    await self.release.wait()
                self.consumed += 1
                yield piece
        finally:
            self.closed += 1


def engine_for(backend: StubBackend, **settings: object) -> tuple[CompletionEngine, list[str]]:
    shown: list[str] = []
    health = Health(Notifier(lambda kind, message: shown.append(message)))
    engine = CompletionEngine(backend, health)  # type: ignore[arg-type]
    configure(
        engine,
        Settings(debounceMs=0, **settings),  # type: ignore[arg-type]
        Connection("http://127.0.0.1:9", "key", "CODESTRAL_API_KEY"),
    )
    return engine, shown


def configure(engine: CompletionEngine, settings: Settings, connection: Connection) -> None:
    """What the server does on a settings change: the engine, then its health object."""
    engine.configure(settings, connection)
    assert isinstance(engine.health, Health)
    engine.health.configure(settings, connection, requires_key=engine.client.requires_key)


def at_end(text: str) -> tuple[Document, Cursor]:
    document = Document("file:///t.py", text, version=1, language_id="python")
    last = document.line_count - 1
    return document, Cursor(last, len(document.line(last)))


async def test_single_line_stops_reading_at_the_first_newline() -> None:
    backend = StubBackend(["a + ", "b", "\n", "c = 1", "\n", "d = 2"])
    engine, _ = engine_for(backend)
    document = Document("file:///t.py", "x = ()\n", version=1)
    suggestion = await engine.complete(document, Cursor(0, 5))
    assert suggestion is not None and suggestion.text == "a + b"
    assert backend.consumed == 3
    assert backend.closed == 1
    assert backend.requests[0].stream is True


async def test_multi_line_stops_reading_when_the_block_ends() -> None:
    pieces = ["    return a", " + b\n", "\n", "def other", "():\n", "    pass\n", *["# x\n"] * 50]
    backend = StubBackend(pieces)
    engine, _ = engine_for(backend)
    suggestion = await engine.complete(*at_end("def add(a, b):\n"))
    assert suggestion is not None and suggestion.text == "    return a + b"
    assert backend.consumed == 5  # read up to the line that left the block, no further
    assert backend.closed == 1


async def test_a_dedented_blank_line_completes_at_its_own_level() -> None:
    # The user left the loop body: the completion belongs to the function body.
    pieces = ["if x:\n", "        return 1\n", "    return 2\n", "\n", "def other():\n"]
    engine, _ = engine_for(StubBackend(pieces))
    text = "def f(x):\n    while x:\n        x = g(x)\n    "
    suggestion = await engine.complete(*at_end(text))
    assert suggestion is not None
    assert suggestion.text == "if x:\n        return 1\n    return 2"


async def test_a_two_space_body_keeps_its_lines() -> None:
    # First block of the file: no indentation step to learn from but the cursor's own.
    pieces = ["const t = a + b;\n", "  return t;\n", "}\n", "function other() {\n"]
    engine, _ = engine_for(StubBackend(pieces))
    document = Document("file:///t.js", "function add(a, b) {\n  \n}\n", version=1)
    suggestion = await engine.complete(document, Cursor(1, 2))
    assert suggestion is not None
    assert suggestion.text.startswith("const t = a + b;\n  return t;")


async def test_after_an_opener_an_unindented_cursor_still_means_the_body() -> None:
    pieces = ["    return a + b\n", "\n", "def other():\n", "    pass\n"]
    engine, _ = engine_for(StubBackend(pieces))
    suggestion = await engine.complete(*at_end("class A:\n    def add(a, b):\n    "))
    assert suggestion is not None and suggestion.text.strip() == "return a + b"


async def test_join_a_request_whose_stream_already_has_what_was_typed() -> None:
    backend = StubBackend(["comp", "ute(1)"])
    backend.release = asyncio.Event()
    engine, _ = engine_for(backend)
    document, cursor = at_end("v = ")
    first = asyncio.ensure_future(engine.complete(document, cursor))
    for _ in range(1000):  # let the stream deliver its first piece (bounded)
        if backend.consumed >= 1 or first.done():
            break
        await asyncio.sleep(0)
    assert backend.consumed == 1
    document.apply_edit(
        types.Range(
            start=types.Position(line=0, character=4), end=types.Position(line=0, character=4)
        ),
        "co",
        version=2,
    )
    second = asyncio.ensure_future(engine.complete(document, Cursor(0, 6)))
    await asyncio.sleep(0)
    backend.release.set()
    joined = await second
    original = await first
    assert joined is not None and joined.text == "mpute(1)"
    assert original is not None and original.text == "compute(1)"
    assert len(backend.requests) == 1
    assert engine.stats.joined == 1


class HeldThenAnswers(StubBackend):
    """The first request is held until released and answers nothing; later ones answer."""

    def __init__(self, later: str) -> None:
        super().__init__([later])
        self.held = asyncio.Event()
        self.started = asyncio.Event()

    async def fim_stream(self, req: FimRequest) -> AsyncGenerator[str, None]:
        self.requests.append(req)
        if len(self.requests) == 1:
            self.started.set()
            await self.held.wait()
            return
        for piece in self.pieces:
            yield piece


@pytest.mark.parametrize("explicit", [True, False])
async def test_only_an_explicit_request_that_joined_an_empty_answer_asks_again(
    explicit: bool,
) -> None:
    # The user asks for a suggestion (Alt+\) while an automatic request for the same spot is
    # on its way, and that one answers nothing: the explicit request is not left empty-handed.
    # An automatic request that joined it takes the empty answer (no second call).
    backend = HeldThenAnswers("total")
    engine, _ = engine_for(backend)
    document, cursor = at_end("v = ")
    first = asyncio.ensure_future(engine.complete(document, cursor))
    await asyncio.wait_for(backend.started.wait(), 5)
    second = asyncio.ensure_future(engine.complete(document, cursor, explicit=explicit))
    for _ in range(1000):  # until the second request has joined the flight (bounded)
        if engine.stats.joined:
            break
        await asyncio.sleep(0)
    assert engine.stats.joined == 1
    backend.held.set()
    assert await first is None
    answer = await second
    if explicit:
        assert answer is not None and answer.text == "total"
        assert len(backend.requests) == 2
    else:
        assert answer is None
        assert len(backend.requests) == 1


async def test_rate_limit_pauses_with_a_clock() -> None:
    now = [100.0]
    backend = StubBackend(["x"])
    backend.error = RateLimitedError("slow down", retry_after=None)
    shown: list[str] = []
    health = Health(
        Notifier(lambda kind, message: shown.append(message)),
        clock=lambda: now[0],
        breaker=Breaker(base=2.0, jitter=0.0, clock=lambda: now[0]),
    )
    engine = CompletionEngine(backend, health, clock=lambda: now[0])  # type: ignore[arg-type]
    configure(engine, Settings(debounceMs=0), Connection("http://h", "k", "apiKey"))
    document, cursor = at_end("x = ")
    assert await engine.complete(document, cursor) is None
    assert health.paused_for == pytest.approx(2.0)
    assert await engine.complete(document, cursor) is None
    assert len(backend.requests) == 1
    now[0] += 2.5
    assert await engine.complete(document, cursor) is None
    assert len(backend.requests) == 2
    assert health.paused_for == pytest.approx(4.0)  # the backoff doubles
    assert len(shown) == 1


def test_view_recognises_typing_and_newlines() -> None:
    base = View("m", text_key("a\n"), "a\n", "x = ", text_key("\n"), text_key(""))
    typed = View("m", text_key("a\n"), "a\n", "x = fo", text_key("\n"), text_key(""))
    newline = View(
        "m", text_key("a\nx = foo\n"), "a\nx = foo\n", "  ", text_key("\n"), text_key("")
    )
    other_suffix = View("m", text_key("a\n"), "a\n", "x = fo", text_key(")\n"), text_key(""))
    other_model = View("n", text_key("a\n"), "a\n", "x = fo", text_key("\n"), text_key(""))
    assert typed.typed_since(base) == "fo"
    assert newline.typed_since(base) == "foo\n  "
    assert base.typed_since(typed) is None
    assert other_suffix.typed_since(base) is None
    assert other_model.typed_since(base) is None


def test_long_texts_are_keyed_by_length_and_hash() -> None:
    long = "y" * 100_000
    assert text_key(long) == (100_000, hash(long))
    assert text_key("short") == "short"


async def test_adaptive_debounce_learns_the_rhythm() -> None:
    now = [0.0]
    backend = StubBackend(["1"])
    engine = CompletionEngine(backend, clock=lambda: now[0])  # type: ignore[arg-type]
    engine.configure(
        Settings(debounceMs=150, adaptiveDebounce=True), Connection("http://h", "k", "apiKey")
    )
    assert engine._debounce_for("u", engine.settings) == pytest.approx(0.150)  # nothing learnt yet
    for _ in range(10):
        now[0] += 0.2
        wait = engine._debounce_for("u", engine.settings)
    assert wait == pytest.approx(0.3, abs=0.01)  # 1.5 x a 200 ms rhythm
    for _ in range(10):
        now[0] += 0.02
        wait = engine._debounce_for("u", engine.settings)
    assert wait == pytest.approx(0.075)  # clamped at the floor
    now[0] += 5.0  # a pause is not rhythm
    assert engine._debounce_for("u", engine.settings) == pytest.approx(0.075)


async def test_breaker_opens_probes_and_resumes() -> None:
    now = [0.0]
    backend = StubBackend(["1"])
    backend.error = ServerError("upstream broke", status=500)
    shown: list[str] = []
    health = Health(
        Notifier(lambda kind, message: shown.append(message)),
        clock=lambda: now[0],
        breaker=Breaker(threshold=3, base=2.0, jitter=0.0, clock=lambda: now[0]),
    )
    engine = CompletionEngine(backend, health, clock=lambda: now[0])  # type: ignore[arg-type]
    configure(engine, Settings(debounceMs=0), Connection("http://h", "k", "apiKey"))
    document = Document("file:///t.py", "a = \nb = \nc = \nd = \ne = \n", version=1)
    for line in range(3):
        assert await engine.complete(document, Cursor(line, 4)) is None
    assert len(backend.requests) == 3 and health.breaker is not None
    assert health.breaker.state == "open"
    assert await engine.complete(document, Cursor(3, 4)) is None
    assert len(backend.requests) == 3  # open: no call
    now[0] += 2.0
    backend.error = None
    assert await engine.complete(document, Cursor(3, 4)) is not None  # the probe
    assert health.breaker.state == "closed"
    assert await engine.complete(document, Cursor(4, 4)) is not None
    assert len(backend.requests) == 5
    assert shown == ["codestral-ls: upstream broke"]  # one episode, one message


# --- completions never stop for good (issue 10, item 1) ------------------------------------------


class ScriptedBackend(StubBackend):
    """Answers each request with the next scripted outcome, then healthily."""

    def __init__(self, script: list[tuple[str, float | int | None]]) -> None:
        super().__init__(["ok"])
        self.script = list(script)

    async def fim_stream(self, req: FimRequest) -> AsyncGenerator[str, None]:
        self.requests.append(req)
        kind, value = self.script.pop(0) if self.script else ("ok", None)
        if kind == "4xx":
            status = int(value or 422)
            if status in (401, 403):
                raise AuthenticationError("key rejected", status=status)
            if status == 400 and len(self.requests) % 2:  # the documented unknown-model shape
                raise BadRequestError(
                    "Invalid model: x", status=400, model=req.model, detail="Invalid model: x"
                )
            raise BadRequestError("refused", status=status, model=req.model, detail="refused")
        if kind == "429":
            raise RateLimitedError("slow down", retry_after=value)
        if kind == "5xx":
            raise ServerError("broken", status=int(value or 500))
        if kind == "network":
            raise NetworkError("connection reset")
        if kind == "timeout":
            raise TimeoutError
        yield "ok"


UPSTREAM_ANSWERS = st.one_of(
    st.tuples(st.just("ok"), st.none()),
    st.tuples(st.just("4xx"), st.sampled_from([400, 401, 403, 404, 409, 413, 422])),
    st.tuples(
        st.just("429"),
        st.one_of(st.none(), st.floats(min_value=0, max_value=600, allow_nan=False)),
    ),
    st.tuples(st.just("5xx"), st.sampled_from([500, 502, 503, 504])),
    st.tuples(st.just("network"), st.none()),
    st.tuples(st.just("timeout"), st.none()),
)


@given(
    steps=st.lists(
        st.tuples(UPSTREAM_ANSWERS, st.floats(min_value=0, max_value=200, allow_nan=False)),
        max_size=12,
    ),
    change_settings_at=st.one_of(st.none(), st.integers(min_value=0, max_value=12)),
)
@hypothesis_settings(max_examples=250, deadline=None, database=None)
def test_no_sequence_of_upstream_answers_stops_completions_for_longer_than_announced(
    steps: list[tuple[tuple[str, float | int | None], float]], change_settings_at: int | None
) -> None:
    """After any sequence of answers (each request at a new spot, some time apart, and maybe
    a settings change among them), a healthy upstream gets completions back within the
    longest pause announced to the user (``retryAfter`` of ``codestral/status``)."""
    now = [1000.0]
    backend = ScriptedBackend([answer for answer, _ in steps])

    async def fake_sleep(seconds: float) -> None:
        now[0] += seconds

    # The health object decides the pauses and announces them; the engine asks it before
    # each request and hands it every outcome.
    health = Health(Notifier(lambda kind, message: None), clock=lambda: now[0])
    engine = CompletionEngine(
        backend,  # type: ignore[arg-type]
        health,
        clock=lambda: now[0],
        sleep=fake_sleep,
    )
    announced: list[float] = []
    health.listeners.append(
        lambda state, message, extra: announced.extend(
            [float(extra["retryAfter"])] if "retryAfter" in extra else []
        )
    )
    connection = Connection("http://h", "k", "apiKey")
    configure(engine, Settings(debounceMs=0), connection)

    async def scenario() -> None:
        for index, (_, gap) in enumerate(steps):
            now[0] += gap
            if index == change_settings_at:
                configure(engine, Settings(debounceMs=index + 1), connection)
            document = Document(f"file:///s{index}.py", f"v{index} = ", version=1)
            await engine.complete(document, Cursor(0, len(f"v{index} = ")))
        backend.script.clear()  # the upstream is healthy from now on
        now[0] += max(announced, default=0.0) + 1e-6
        sent = len(backend.requests)
        suggestion = await engine.complete(
            Document("file:///end.py", "end = ", version=1), Cursor(0, 6)
        )
        assert suggestion is not None and suggestion.text == "ok"
        assert len(backend.requests) == sent + 1

    asyncio.run(scenario())


# --- any document content (issue 10, item 7) -------------------------------------------------

ANY_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()),
    max_size=40,
)


@given(
    text=ANY_TEXT,
    encoding=st.sampled_from(["utf-8", "utf-16", "utf-32"]),
    line=st.integers(min_value=0, max_value=5),
    character=st.integers(min_value=0, max_value=60),
    answer=ANY_TEXT,
)
@hypothesis_settings(max_examples=200, deadline=None, database=None)
def test_the_engine_never_raises_for_any_document_content(
    text: str, encoding: str, line: int, character: int, answer: str
) -> None:
    """Lone surrogates, NULs, control characters: the request is sent as valid UTF-8 JSON
    (what cannot be encoded is replaced) and the answer maps back to client positions."""
    from codestral_ls.backends.http import json_body
    from codestral_ls.features.completion import completion_item, inline_items

    backend = StubBackend([answer])
    engine, _ = engine_for(backend)
    document = Document("file:///any.py", text, version=1, encoding=encoding)
    cursor = document.cursor(types.Position(line=line, character=character), strict=False)

    async def scenario() -> None:
        suggestion = await engine.complete(document, cursor)
        if backend.requests:
            body = json_body(backend.requests[0].to_body())
            assert json.loads(body.decode("utf-8"))["model"] == "codestral-latest"
            assert not any("\ud800" <= char <= "\udfff" for char in body.decode("utf-8"))
        if suggestion is not None:
            inline_items(document, cursor, suggestion)
            completion_item(document, cursor, suggestion)

    asyncio.run(scenario())
    if not document.binary:
        assert len(backend.requests) == 1  # nothing in the text stops the request


# --- answers for an old document version (issue 10, item 5) ----------------------------------


def _edit(document: Document, line: int, start: int, end_line: int, end: int, text: str) -> None:
    version = (document.version or 0) + 1
    document.apply_edit(
        types.Range(
            start=types.Position(line=line, character=start),
            end=types.Position(line=end_line, character=end),
        ),
        text,
        version=version,
    )


@pytest.mark.parametrize(
    "edit, expected",
    [
        ((0, 0, 0, 0, "import os\n"), None),  # a line inserted above
        ((0, 0, 2, 0, ""), None),  # lines deleted: the cursor's line is gone
        ((1, 0, 1, 1, "y"), None),  # the cursor's line changed before the cursor
        ((1, 6, 1, 6, "+"), None),  # ... or after it
        ((2, 0, 2, 0, "# below\n"), ("compute(1)", "")),  # below the cursor: still right
        ((1, 4, 1, 4, "comp"), ("compute(1)", "comp")),  # typing through the answer
        ((1, 4, 1, 4, "other"), None),  # typing something else
    ],
)
async def test_an_answer_is_returned_only_where_it_still_belongs(
    edit: tuple[int, int, int, int, str], expected: tuple[str, str] | None
) -> None:
    backend = StubBackend(["comp", "ute(1)"])
    backend.release = asyncio.Event()
    engine, _ = engine_for(backend)
    document = Document("file:///t.py", "a = 1\nv = ()\nb = 2\n", version=1)
    pending = asyncio.ensure_future(engine.complete(document, Cursor(1, 4)))
    for _ in range(1000):  # until the stream has started (bounded)
        if backend.consumed >= 1:
            break
        await asyncio.sleep(0)
    _edit(document, *edit)
    backend.release.set()
    suggestion = await pending
    if expected is None:
        assert suggestion is None
    else:
        assert suggestion is not None
        assert (suggestion.text, suggestion.typed) == expected


async def test_a_request_cancelled_before_it_started_still_returns_its_permit() -> None:
    """The probe after a pause is cancelled before its task ever ran (shutdown, a newer
    keystroke in the same tick): the health object still gets its outcome, so the next request
    may probe and the state goes back to ready."""
    now = [0.0]
    backend = StubBackend(["ok"])
    backend.error = RateLimitedError("slow down", retry_after=5.0)
    states: list[str] = []
    health = Health(Notifier(lambda kind, message: None), clock=lambda: now[0])
    health.listeners.append(lambda state, message, extra: states.append(state))
    engine = CompletionEngine(backend, health, clock=lambda: now[0])  # type: ignore[arg-type]
    configure(engine, Settings(debounceMs=0), Connection("http://h", "k", "apiKey"))
    document, cursor = at_end("x = ")
    assert await engine.complete(document, cursor) is None
    assert states[-1] == "rateLimited"
    now[0] += 5.0
    backend.error = None
    first = asyncio.ensure_future(engine.complete(document, cursor))
    await asyncio.sleep(0)  # the request took the probe and started its task...
    engine.close()  # ...which is cancelled before it ran
    assert await first is None
    assert len(backend.requests) == 1  # the probe never reached the backend
    suggestion = await engine.complete(document, cursor)
    assert suggestion is not None and suggestion.text == "ok"  # the next request probed
    assert states[-1] == "ready"
