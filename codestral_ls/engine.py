"""The completion engine: cursor in, suggestion out, with no LSP types in between.

context extraction -> request building -> HTTP (streamed) -> post-processing.  The engine also
owns what keeps the editor fast and quiet:

- **cache**: finished suggestions keyed on the model and the full text before and after the
  cursor; typing through a suggestion (or backspacing over what was typed) is answered from it
  at once, with no request and no debounce;
- **single flight**: one streamed request per document; a newer request that merely continues
  it (the typed text is what has streamed so far) joins it, any other supersedes it, which
  closes the HTTP stream so the model stops generating;
- **debounce**: fixed, or adaptive to the typing rhythm; a request superseded while waiting never
  reaches the network;
- **early stop**: single-line requests stop reading at the first newline, multi-line ones when
  the completion leaves the block the cursor is in;
- **outcomes**: whether a request may go out is asked of a gate
  (:class:`~codestral_ls.health.Health`), and what became of each request (answered,
  superseded, failed, not sent) is handed to it: the pauses, the user messages and the
  ``codestral/status`` state are the health object's;
- **no stale answers**: an answer computed for one version of the document is returned for a
  later one only when the edits since leave the cursor's line and everything before the cursor
  unchanged (typing through the answer counts); otherwise the request answers nothing.

:meth:`CompletionEngine.complete` never raises (but for cancellation): any document content and
any upstream answer give a suggestion or None.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from cachetools import TTLCache

from .backends import Backend
from .backends.errors import (
    BackendError,
    BadRequestError,
    NetworkError,
    ServerError,
    UpstreamTimeout,
)
from .breaker import retry_delay
from .context import (
    FimContext,
    build_fim_request,
    context_room,
    extract_context,
    prompt_budget,
    request_profile,
)
from .documents import Cursor, Document, line_content
from .health import (
    Answered,
    Broke,
    Failed,
    Gate,
    Health,
    Outcome,
    Permit,
    Shrunk,
    Skip,
    Superseded,
)
from .mistral import FimRequest
from .notify import Notifier
from .overflow import cap_budget, fitting_chars, overflow_of, shrink_request
from .postprocess import block_body_indent, block_end_index, loop_start, postprocess
from .privacy import is_excluded
from .settings import Connection, Settings
from .stats.trial import Variant
from .xcontext import GatheredContext

logger = logging.getLogger(__name__)

#: Retries of one request after a transient failure (502/503/504, connection failures).
TRANSIENT_RETRIES = 1
#: Adaptive debounce bounds, seconds, and how much of the usual keystroke gap it waits.
ADAPTIVE_BOUNDS = (0.075, 0.6)
ADAPTIVE_FACTOR = 1.5
#: Gaps longer than this are pauses, not typing rhythm.
TYPING_GAP_CEILING = 1.0
#: Burst debounce (for clients that debounce and cancel themselves, such as VS Code): a
#: keystroke this long (seconds) after the previous one starts a burst and asks at once...
BURST_PAUSE = 0.4
#: ...inside a burst, a request waits until the document has been quiet for this factor of
#: the longest of the last few typing gaps (jitter must not let a request through), within
#: these bounds (seconds).
BURST_FACTOR = 1.5
BURST_QUIET_BOUNDS = (0.075, 0.4)
BURST_GAPS = 4
#: Seconds a stream whose requests were all cancelled stays open, in case the next keystroke
#: (VS Code cancels, then asks again) continues exactly what it is streaming.
ORPHAN_GRACE = 0.1
#: Seconds a request runs before the state becomes ``working``: a spinner for the waits a person
#: notices, not a flicker on every keystroke (and two fewer messages on the fast path).
WORKING_DELAY = 0.25
#: Texts longer than this are keyed by length and hash instead of kept in the cache.
INLINE_KEY_LIMIT = 16_384
#: Documents larger than this (characters) are not completed: the prompt window is a sliver
#: of them and every keystroke would still cost their sync.
MAX_DOCUMENT_CHARS = 20_000_000
#: Cache entries scanned per document for typing through.
RECENT_PER_DOCUMENT = 16

#: Gives the cross-file context for a cursor: (document, cursor, settings, room in characters
#: the model's window leaves, or None when unknown).
ContextProvider = Callable[[Document, Cursor, Settings, int | None], GatheredContext]
#: Picks the trial variant of a request about to be sent (None: the configured model).
VariantChooser = Callable[[Document, Settings], Variant | None]
TextKey = str | tuple[int, int]


def text_key(text: str) -> TextKey:
    """``text`` itself when short, else its length and hash (cached by Python per string)."""
    return text if len(text) <= INLINE_KEY_LIMIT else (len(text), hash(text))


@dataclass(frozen=True)
class Suggestion:
    """Text to insert at the cursor."""

    text: str
    line_before: str
    """The cursor's line up to the cursor (completion items re-type its last word)."""
    typed: str = ""
    """Text typed at the request's cursor while the answer was computed: the document now has
    it after that cursor, and ``text`` starts with it (the client replaces it with ``text``)."""
    # Metadata for the acceptance statistics (docs/stats.md); never any code.
    id: str = ""
    """Unique per answer the model gave: the same answer served again (from the cache, typing
    through it, or to a request that joined its stream) keeps its id."""
    model: str = ""
    endpoint: str = ""
    """The base URL the answer came from."""
    source: str = "network"
    """``network`` (this request asked), ``cache`` or ``joined`` (a request under way)."""
    latency_ms: float = 0.0
    """From the request's arrival to the answer."""
    variant: str = ""
    """The trial variant's label (empty outside a trial)."""


@dataclass(frozen=True)
class Origin:
    """Where an answer came from (copied onto every :class:`Suggestion` made from it)."""

    id: str = ""
    model: str = ""
    endpoint: str = ""
    variant: str = ""

    def suggestion(self, text: str, line_before: str, source: str) -> Suggestion:
        return Suggestion(
            text,
            line_before,
            id=self.id,
            model=self.model,
            endpoint=self.endpoint,
            source=source,
            variant=self.variant,
        )


@dataclass(frozen=True)
class View:
    """The full text around a cursor, as cheap keys: what the cache and flights compare.

    Long texts are held as length and hash only, so cache entries never pin a large file.
    """

    model: Hashable
    """Everything besides the text that shapes the request: model, endpoint, backend and the
    settings that go into the body (:func:`~codestral_ls.context.request_profile`)."""
    above_key: TextKey
    """Key of the text of the lines above the cursor's line."""
    above: str | None
    """That text itself when short (to recognise a newline typed through a suggestion)."""
    line_before: str
    rest: TextKey
    """Key of the cursor's line from the cursor on, with its line terminator."""
    below: TextKey
    context: str = ""
    """Key of the context files sent with the request (other files change the answer)."""

    @property
    def key(self) -> tuple[Hashable, TextKey, str, TextKey, TextKey, str]:
        return (self.model, self.above_key, self.line_before, self.rest, self.below, self.context)

    @property
    def cacheable(self) -> bool:
        """False on a huge line (minified files): such spots are not cached."""
        return len(self.line_before) <= INLINE_KEY_LIMIT

    def typed_in_line(self, document: Document, cursor: Cursor) -> str | None:
        """What ``document`` now has at ``cursor`` in front of the rest of the line this view
        saw, when the cursor's line and everything before the cursor are otherwise unchanged
        (``""``: nothing changed there); None when they changed."""
        if cursor.line >= document.line_count:
            return None
        raw_line = document.lines[cursor.line]
        if line_content(raw_line)[: cursor.column] != self.line_before:
            return None
        rest = raw_line[cursor.column :]
        kept = len(self.rest) if isinstance(self.rest, str) else self.rest[0]
        typed = len(rest) - kept
        if typed < 0 or text_key(rest[typed:]) != self.rest:
            return None
        if text_key(document.text_above(cursor.line)) != self.above_key:
            return None
        return rest[:typed]

    def typed_since(self, earlier: View) -> str | None:
        """What was typed at the cursor since ``earlier``, if that is all that changed."""
        if (self.model, self.rest, self.below) != (earlier.model, earlier.rest, earlier.below):
            return None
        if self.above_key == earlier.above_key:
            before = self.line_before
        elif (
            self.above is not None
            and earlier.above is not None
            and self.above.startswith(earlier.above)
        ):
            before = self.above[len(earlier.above) :] + self.line_before  # typed a newline
        else:
            return None
        if not before.startswith(earlier.line_before):
            return None
        typed = before[len(earlier.line_before) :]
        if not typed and self.context != earlier.context:
            return None  # the same spot, but other files changed what the model would see
        return typed


def view_at(document: Document, cursor: Cursor, model: Hashable, context: str = "") -> View:
    raw_line = document.lines[cursor.line]
    above = document.text_above(cursor.line)
    return View(
        model=model,
        above_key=text_key(above),
        above=above if len(above) <= INLINE_KEY_LIMIT else None,
        line_before=line_content(raw_line)[: cursor.column],
        rest=text_key(raw_line[cursor.column :]),
        below=text_key(document.text_below(cursor.line)),
        context=context,
    )


@dataclass
class Entry:
    """A finished suggestion for a view."""

    view: View
    text: str
    origin: Origin = Origin()


@dataclass
class Trace:
    """What happened to one :meth:`CompletionEngine.complete` call, for ``codestral-ls eval``.

    The engine fills it in when a caller passes one; the editor path passes none.
    """

    request: FimRequest | None = None
    """The request sent (None: answered without one, e.g. from the cache or while paused)."""
    raw: str | None = None
    """The streamed text before post-processing (as far as it was read)."""
    error: BackendError | None = None
    """The upstream failure, if the request failed."""
    usage: dict[str, Any] | None = None
    """Token counts the server reported for the stream, when it reported them before the
    engine stopped reading."""
    paused: bool = False
    """No request went out: the breaker was open (rate limit, failures, rejected key)."""


@dataclass
class Flight:
    """One streamed request under way for a document."""

    view: View
    context: FimContext
    future: asyncio.Future[str | None]
    streamed: str = ""
    waiters: int = 0
    task: asyncio.Task[None] | None = None
    permit: Permit | None = None
    """The health object's leave to send this request, handed back with its outcome."""
    settled: bool = False
    """Whether the outcome was handed over (exactly once per flight)."""
    orphan_timer: asyncio.TimerHandle | None = None
    trace: Trace | None = None
    origin: Origin = Origin()
    client: Backend | None = None
    """The backend of a trial variant (None: the engine's)."""


@dataclass
class EngineStats:
    """Counters for benchmarks and logs."""

    requests: int = 0
    cache_hits: int = 0
    joined: int = 0
    superseded: int = 0
    cancelled: int = 0
    debounced: int = 0


@dataclass
class _Rhythm:
    """Typing rhythm of one document, for the adaptive debounce."""

    last: float = 0.0
    gap: float | None = None


@dataclass
class _Typing:
    """When a document last changed, and the gaps between its changes (burst debounce)."""

    last: float = 0.0
    gap: float | None = None
    """The gap before the last change (None after the first)."""
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=BURST_GAPS))
    """The last gaps between keystrokes inside bursts."""


class CompletionEngine:
    """Turns a cursor position into a suggestion from the FIM endpoint."""

    def __init__(
        self,
        client: Backend,
        health: Gate | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = client
        #: Asked before each request, told what became of it (the server's :class:`Health`;
        #: a silent one of its own when none is given).
        self.health: Gate = (
            health if health is not None else Health(Notifier(lambda kind, message: None), clock)
        )
        self.settings = Settings()
        self.connection = Connection(endpoint="", api_key=None, key_source=None)
        self.stats = EngineStats()
        self._clock = clock
        #: Waits between retries of one request (injected by tests with a fake clock).
        self._sleep = sleep
        self._rng = random.Random()
        self._latest: dict[str, int] = {}
        self._flights: dict[str, Flight] = {}
        self._rhythm: dict[str, _Rhythm] = {}
        self._typing: dict[str, _Typing] = {}
        #: Debounce by typing bursts instead of ``debounceMs`` (set per client by the server
        #: when the user did not choose a debounce; see :meth:`note_change`).
        self.burst_debounce = False
        #: Per document, the future a debouncing request waits on; a newer request sets it.
        self._debouncing: dict[str, asyncio.Future[None]] = {}
        self._cache: TTLCache[tuple[Any, ...], Entry] = self._new_cache(self.settings)
        #: Recent entries per document, for typing through (membership in the cache says
        #: whether one is still valid, without disturbing the cache's LRU order).
        self._recent: dict[str, deque[Entry]] = {}
        #: The context length of a model, when the catalog knows it (for the prompt budget).
        self.context_length: Callable[[str], int | None] = lambda model: None
        #: Characters of prompt and suffix that fit, by model@endpoint, learnt from a
        #: refusal for the context size (see :mod:`codestral_ls.overflow`).
        self.fitting: dict[str, int] = {}
        #: Code from other files for a request (the server plugs the context layer in).
        self.context_provider: ContextProvider = lambda document, cursor, settings, room: (
            GatheredContext()
        )
        #: The trial variant of each request sent (the server plugs the stats feature in).
        self.choose_variant: VariantChooser = lambda document, settings: None

    # --- configuration -------------------------------------------------------------------

    @staticmethod
    def _new_cache(settings: Settings) -> TTLCache[tuple[Any, ...], Entry]:
        return TTLCache(
            maxsize=max(1, settings.cacheSize), ttl=max(0.001, settings.cacheTtlSeconds)
        )

    def configure(self, settings: Settings, connection: Connection) -> None:
        """Apply new settings (the health object is configured by its owner, the server)."""
        if (settings.cacheSize, settings.cacheTtlSeconds) != (
            self.settings.cacheSize,
            self.settings.cacheTtlSeconds,
        ):
            self._cache = self._new_cache(settings)
        self.settings = settings
        self.connection = connection
        self.client.configure(
            endpoint=connection.endpoint,
            api_key=connection.api_key or "",
            timeout=settings.request_timeout,
        )

    def use_backend(self, client: Backend) -> None:
        """Send requests to ``client`` from now on (requests under way finish where they are)."""
        if client is self.client:
            return
        self.client = client
        self.client.configure(
            endpoint=self.connection.endpoint,
            api_key=self.connection.api_key or "",
            timeout=self.settings.request_timeout,
        )

    @property
    def cache_size(self) -> int:
        """Entries in the cache now."""
        return len(self._cache)

    def close(self) -> None:
        """Stop every request under way (shutdown)."""
        for uri, flight in list(self._flights.items()):
            self._cancel(uri, flight)

    def forget(self, uri: str) -> None:
        """Drop per-document state when a document closes (and stop its request)."""
        self._latest.pop(uri, None)
        self._recent.pop(uri, None)
        self._rhythm.pop(uri, None)
        self._typing.pop(uri, None)
        waiting = self._debouncing.pop(uri, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(None)
        flight = self._flights.get(uri)
        if flight is not None:
            self._cancel(uri, flight)

    def _skip(self, reason: str, detail: str = "", uri: str = "") -> None:
        """Tell the health object why no request goes out."""
        self.health.record(Skip(reason, detail, uri))

    # --- the request path ----------------------------------------------------------------

    async def complete(
        self,
        document: Document,
        cursor: Cursor,
        *,
        debounce: bool = True,
        explicit: bool = False,
        trace: Trace | None = None,
    ) -> Suggestion | None:
        """The suggestion at ``cursor``, or None when there is nothing to show.

        A newer request for the same document supersedes this one: it then answers None at
        once, and never reaches the network if it was still waiting for the debounce.
        Upstream failures answer None and tell the user once.  An ``explicit`` request (the
        user asked for a suggestion) skips the debounce and is never answered by a cached
        empty answer.  ``trace``, when given, is filled in with the request, the raw answer,
        the failure and the usage (``codestral-ls eval``).

        ``document`` may change while the answer is computed: the answer is then returned only
        if the cursor's line and everything before the cursor are unchanged, or only grew by
        text typed at the cursor that the answer starts with (``Suggestion.typed``).  Never
        raises, but for cancellation.
        """
        version = document.version
        arrived = self._clock()
        try:
            line = document.lines[cursor.line] if cursor.line < document.line_count else None
            if line is None or cursor.column > len(line_content(line)):
                return None
            start = view_at(document, cursor, None)
            suggestion = await self._complete(
                document,
                cursor,
                start,
                debounce=debounce and not explicit,
                explicit=explicit,
                trace=trace,
            )
            if suggestion is not None:
                latency = max(0.0, (self._clock() - arrived) * 1000.0)
                suggestion = dataclasses.replace(suggestion, latency_ms=latency)
            if suggestion is None or (version is not None and document.version == version):
                return suggestion
            return still_valid(suggestion, start, document, cursor)
        except Exception:
            logger.exception("completion failed in %s", document.uri)
            return None

    async def _complete(
        self,
        document: Document,
        cursor: Cursor,
        start: View,
        *,
        debounce: bool,
        explicit: bool,
        trace: Trace | None = None,
    ) -> Suggestion | None:
        settings = self.settings.for_language(document.language_id)
        if not settings.enabled_for(document.language_id):
            self._skip("disabled", document.language_id)
            return None
        if document.binary or document.size > MAX_DOCUMENT_CHARS:
            what = (
                "looks binary (it has NUL bytes)"
                if document.binary
                else (f"is larger than {MAX_DOCUMENT_CHARS // 1_000_000} million characters")
            )
            self._skip("unsuitable", what, document.uri)
            return None
        if is_excluded(document.uri, settings.exclude):
            self._skip("excluded")
            return None
        if self.connection.problem:
            self._skip("insecure", self.connection.problem)
            return None
        if self.client.requires_key and not self.connection.api_key:
            self._skip("no-key")
            return None

        uri = document.uri
        context_length = self.context_length(settings.model)
        # What the server's context is known to hold (learnt from a context-size refusal).
        fits = self.fitting.get(self._fit_key(settings.model))
        budget = cap_budget(*prompt_budget(settings, context_length), fits)
        context = extract_context(document, cursor, *budget)
        room = context_room(context, settings, context_length)
        if fits is not None:
            left = max(0, fits - len(context.prefix) - len(context.suffix))
            room = left if room is None else min(room, left)
        gathered = self._gather(document, cursor, settings, room)
        # The same model name on two endpoints gives two answers, and every setting that goes
        # into the request body changes the answer, as do the other files sent with it: all of
        # them are part of the key.
        profile = (
            self.client.kind,
            self.connection.endpoint,
            request_profile(settings, budget),
        )
        view = dataclasses.replace(start, model=profile, context=gathered.key)
        wait = self._debounce_for(uri, settings) if debounce else 0.0
        generation = self._latest.get(uri, 0) + 1
        self._latest[uri] = generation
        previous = self._debouncing.pop(uri, None)
        if previous is not None and not previous.done():
            previous.set_result(None)  # the older request answers now, without a call

        cached = self._from_cache(uri, view, explicit) if view.cacheable else None
        if cached is not None:
            self.stats.cache_hits += 1
            return cached

        flight = self._flights.get(uri)
        if flight is not None:
            typed = view.typed_since(flight.view) if view.cacheable else None
            if typed is not None and flight.streamed.startswith(typed):
                self.stats.joined += 1
                version = document.version
                joined = await self._join(uri, flight, typed, view, "joined")
                if (
                    joined is not None
                    or not explicit
                    or self._latest.get(uri) != generation
                    or document.version != version
                ):
                    return joined
                # The user asked, and the request this one joined answered nothing: like a
                # cached empty answer, that is no answer to an explicit request.  Ask anew.
            else:
                self.stats.superseded += 1
                self._cancel(uri, flight)

        if wait > 0:
            version = document.version
            newer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._debouncing[uri] = newer
            try:
                await asyncio.wait([newer], timeout=wait)
            finally:
                if self._debouncing.get(uri) is newer:
                    del self._debouncing[uri]
            if self._latest.get(uri) != generation or document.version != version:
                self.stats.debounced += 1
                logger.debug("superseded before reaching the network: %s", uri)
                return None
        # The document is the one ``context`` was cut from (a newer version returned above).
        variant = self._variant(document, settings)
        if variant is not None:
            settings = dataclasses.replace(settings, model=variant.model)
        request = build_fim_request(
            context,
            settings,
            stream=True,
            context_files=gathered.files,
            path=gathered.path,
        )
        permit = self.health.may_send(settings.model)
        if permit is None:
            if trace is not None:
                trace.paused = True
            self._skip("paused")
            return None
        flight = self._start(uri, view, context, request, settings, permit, trace, variant)
        return await self._join(uri, flight, "", view)

    def _variant(self, document: Document, settings: Settings) -> Variant | None:
        """The trial variant for a request about to be sent; a failing chooser costs the trial,
        never the completion."""
        try:
            return self.choose_variant(document, settings)
        except Exception:
            logger.exception("choosing the trial variant failed")
            return None

    def _gather(
        self, document: Document, cursor: Cursor, settings: Settings, room: int | None
    ) -> GatheredContext:
        """The cross-file context; a failing source costs the context, never the completion."""
        try:
            return self.context_provider(document, cursor, settings, room)
        except Exception:
            logger.exception("gathering context failed")
            return GatheredContext()

    def note_change(self, uri: str) -> None:
        """A change of ``uri`` arrived (``didChange``): the clock of the burst debounce."""
        now = self._clock()
        typing = self._typing.setdefault(uri, _Typing())
        if typing.last:
            gap = now - typing.last
            typing.gap = gap
            if gap < BURST_PAUSE:
                typing.recent.append(gap)
        typing.last = now

    def burst_wait(self, uri: str) -> float:
        """Seconds to wait under the burst debounce.

        A keystroke after a pause asks at once (the client has already waited its own
        debounce); inside a burst, the request waits until the document has been quiet for
        1.5 times the longest recent typing gap, so a newer keystroke supersedes it before it
        reaches the network.
        """
        typing = self._typing.get(uri)
        if typing is None or typing.gap is None or typing.gap >= BURST_PAUSE:
            return 0.0
        low, high = BURST_QUIET_BOUNDS
        quiet = min(high, max(low, BURST_FACTOR * max(typing.recent, default=typing.gap)))
        return max(0.0, typing.last + quiet - self._clock())

    def _debounce_for(self, uri: str, settings: Settings) -> float:
        """Seconds to wait before asking, learning the typing rhythm when adaptive."""
        if self.burst_debounce and settings.debounceMs == self.settings.debounceMs:
            return self.burst_wait(uri)  # (a per-language debounceMs still applies as set)
        now = self._clock()
        rhythm = self._rhythm.setdefault(uri, _Rhythm())
        gap = now - rhythm.last if rhythm.last else None
        rhythm.last = now
        if gap is not None and gap < TYPING_GAP_CEILING:
            rhythm.gap = gap if rhythm.gap is None else 0.7 * rhythm.gap + 0.3 * gap
        if not settings.adaptiveDebounce:
            return settings.debounceMs / 1000.0
        if rhythm.gap is None:
            return settings.debounceMs / 1000.0
        low, high = ADAPTIVE_BOUNDS
        return min(high, max(low, ADAPTIVE_FACTOR * rhythm.gap))

    def _from_cache(self, uri: str, view: View, explicit: bool = False) -> Suggestion | None:
        """Answer from a finished suggestion: the same spot, or typing through one.

        An empty answer is never served (an explicit request in particular asks again)."""
        entry = self._cache.get(view.key)
        if entry is not None and (entry.text or not explicit):
            if not entry.text:
                return None
            return entry.origin.suggestion(entry.text, view.line_before, "cache")
        for entry in reversed(self._recent.get(uri, ())):
            if not entry.text or entry.view.key not in self._cache:
                continue
            typed = view.typed_since(entry.view)
            if typed is not None and entry.text.startswith(typed) and len(typed) < len(entry.text):
                self._cache.get(entry.view.key)  # a use: refresh its place in the LRU order
                return entry.origin.suggestion(entry.text[len(typed) :], view.line_before, "cache")
        return None

    def _remember(self, uri: str, view: View, text: str, origin: Origin = Origin()) -> None:
        if not view.cacheable or self.settings.cacheSize <= 0 or self.settings.cacheTtlSeconds <= 0:
            return
        entry = Entry(view, text, origin)
        self._cache[view.key] = entry
        recent = self._recent.setdefault(uri, deque(maxlen=RECENT_PER_DOCUMENT))
        recent.append(entry)

    # --- flights -------------------------------------------------------------------------

    def _start(
        self,
        uri: str,
        view: View,
        context: FimContext,
        request: FimRequest,
        settings: Settings,
        permit: Permit,
        trace: Trace | None = None,
        variant: Variant | None = None,
    ) -> Flight:
        loop = asyncio.get_running_loop()
        origin = Origin(
            id=uuid.uuid4().hex[:16],
            model=settings.model,
            endpoint=(variant.endpoint if variant else None) or self.connection.endpoint,
            variant=variant.label if variant else "",
        )
        flight = Flight(
            view=view,
            context=context,
            future=loop.create_future(),
            permit=permit,
            trace=trace,
            origin=origin,
            client=variant.client if variant else None,
        )
        if trace is not None:
            trace.request = request
        flight.task = asyncio.ensure_future(self._run(uri, flight, request, settings))
        # A task cancelled before it started never runs its ``finally``: its outcome is then
        # handed over here, so the permit is always returned.
        flight.task.add_done_callback(lambda _: self._outcome(flight, Superseded))
        self._flights[uri] = flight
        return flight

    def _outcome(self, flight: Flight, kind: Callable[[Permit], Outcome]) -> None:
        """Hand the flight's outcome to the health object (once)."""
        if flight.settled or flight.permit is None:
            return
        flight.settled = True
        self.health.record(kind(flight.permit))

    async def _join(
        self, uri: str, flight: Flight, typed: str, view: View, source: str = "network"
    ) -> Suggestion | None:
        """Wait for ``flight`` and return what is left of its suggestion after ``typed``."""
        flight.waiters += 1
        if flight.orphan_timer is not None:
            flight.orphan_timer.cancel()
            flight.orphan_timer = None
        try:
            text = await asyncio.shield(flight.future)
        except asyncio.CancelledError:
            # The client cancelled this request ($/cancelRequest).  Keep the stream a moment in
            # case the next keystroke continues it; otherwise it is closed.
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.future.done():
                flight.orphan_timer = asyncio.get_running_loop().call_later(
                    ORPHAN_GRACE, self._cancel_orphan, uri, flight
                )
            raise
        flight.waiters -= 1
        if not text or not text.startswith(typed) or len(text) == len(typed):
            return None
        return flight.origin.suggestion(text[len(typed) :], view.line_before, source)

    def _cancel_orphan(self, uri: str, flight: Flight) -> None:
        flight.orphan_timer = None
        if flight.waiters == 0 and not flight.future.done():
            self._cancel(uri, flight)

    def _cancel(self, uri: str, flight: Flight) -> None:
        """Stop ``flight``: its waiters answer None now; its task closes the HTTP stream."""
        if self._flights.get(uri) is flight:
            del self._flights[uri]
        if not flight.future.done():
            flight.future.set_result(None)
            self.stats.cancelled += 1
        if flight.task is not None and not flight.task.done():
            flight.task.cancel()

    async def _run(self, uri: str, flight: Flight, request: FimRequest, settings: Settings) -> None:
        """Stream the completion for ``flight``, settle its future and hand its outcome to the
        health object (never raises, but for cancellation)."""
        self.stats.requests += 1
        assert flight.permit is not None
        working = asyncio.get_running_loop().call_later(
            WORKING_DELAY, self.health.working, flight.permit
        )
        text: str | None = None
        outcome: Callable[[Permit], Outcome] = Superseded
        try:
            try:
                raw = await asyncio.wait_for(
                    self._stream(flight, request), timeout=settings.request_timeout
                )
            except asyncio.TimeoutError:
                outcome = self._failed(
                    flight,
                    UpstreamTimeout(
                        f"{self.connection.endpoint} did not answer within "
                        f"{settings.requestTimeoutMs} ms (requestTimeoutMs)."
                    ),
                )
            except BackendError as error:
                outcome = self._failed(flight, error)
            except Exception:
                # A bug must not end completions: this request answers nothing.
                logger.exception("completion request failed")
                outcome = Broke
            else:
                if flight.trace is not None:
                    flight.trace.raw = raw
                    flight.trace.usage = getattr(flight.client or self.client, "last_usage", None)
                outcome = Answered
                text = finish(raw, flight.context)
                self._remember(uri, flight.view, text, flight.origin)
        finally:
            # Every end hands over an outcome (a cancellation: superseded), then answers.
            working.cancel()
            self._settle(uri, flight)
            self._outcome(flight, outcome)
            if not flight.future.done():
                flight.future.set_result(text)

    @staticmethod
    def _failed(flight: Flight, error: BackendError) -> Callable[[Permit], Outcome]:
        if flight.trace is not None:
            flight.trace.error = error
        return lambda permit: Failed(permit, error)

    def _settle(self, uri: str, flight: Flight) -> None:
        if self._flights.get(uri) is flight:
            del self._flights[uri]

    async def _stream(self, flight: Flight, request: FimRequest) -> str:
        """The streamed text, retried after a transient failure that happened before any text
        arrived (bounded; the caller's timeout covers all attempts)."""
        attempt = 0
        shrunk = False
        while True:
            try:
                return await self._read(flight, request)
            except BadRequestError as error:
                overflow = overflow_of(error)
                if overflow is None or shrunk or flight.streamed:
                    raise
                # The server's context is smaller than the budget: shrink once and retry.
                shrunk = True
                sent = len(request.prompt) + len(request.suffix or "")
                fits = fitting_chars(overflow, sent, request.max_tokens or 0)
                self.fitting[self._fit_key(request.model)] = fits
                self.health.record(
                    Shrunk(self.connection.endpoint, overflow.context, overflow.prompt_tokens)
                )
                logger.info("prompt of %d characters did not fit; retrying with %d", sent, fits)
                request = shrink_request(request, fits)
            except (ServerError, NetworkError) as error:
                attempt += 1
                transient = isinstance(error, NetworkError) or error.status in (502, 503, 504)
                if not transient or flight.streamed or attempt > TRANSIENT_RETRIES:
                    raise
                logger.info("retrying after: %s", error.message)
                await self._sleep(retry_delay(attempt, self._rng))

    def _fit_key(self, model: str) -> str:
        return f"{model}@{self.connection.endpoint}"

    async def _read(self, flight: Flight, request: FimRequest) -> str:
        """Read the stream into ``flight.streamed``, stopping as soon as the rest is unneeded."""
        single_line = flight.context.single_line
        body_indent = None if single_line else body_indent_of(flight.context)
        client = flight.client or self.client
        async with aclosing(client.fim_stream(request)) as pieces:
            async for piece in pieces:
                flight.streamed += piece
                if "\n" not in piece and "\r" not in piece:
                    continue
                if single_line:
                    if flight.streamed.lstrip("\r\n"):
                        break
                elif (
                    body_indent is not None
                    and block_end_index(flight.streamed, body_indent) is not None
                ) or loop_start(
                    flight.streamed, line_before=flight.context.line_before
                ) is not None:
                    break  # the block is over, or the model started looping
        return flight.streamed


def still_valid(
    suggestion: Suggestion, start: View, document: Document, cursor: Cursor
) -> Suggestion | None:
    """``suggestion``, computed for the document as ``start`` saw it, for the document now.

    Valid when the cursor's line and everything before the cursor are unchanged, or the only
    change is text typed at the cursor that the suggestion starts with (typing through it):
    the suggestion then says what was typed.  Otherwise None: it would land on the wrong spot.
    """
    typed = start.typed_in_line(document, cursor)
    if typed is None:
        return None
    if not typed:
        return suggestion
    if not suggestion.text.startswith(typed) or len(typed) >= len(suggestion.text):
        return None
    return dataclasses.replace(suggestion, typed=typed)


def body_indent_of(context: FimContext) -> str:
    """Indentation of the block the completion belongs to.

    On a blank line (just after Enter) the line above decides when it opens a block and the
    cursor is not indented past it (an editor that does not indent after ``:``).  Otherwise
    the cursor's own indentation does: the editor indented the new line into the block (by
    the file's own step, say 2 spaces), or the user dedented out of the block above.
    """
    if context.line_before.strip():
        return block_body_indent(context.prefix)
    above = context.prefix[: len(context.prefix) - len(context.line_before)].rstrip()
    indent = block_body_indent(above) if above else ""
    if not context.line_before:
        return indent
    above_line = above.rsplit("\n", 1)[-1]
    above_indent = above_line[: len(above_line) - len(above_line.lstrip(" \t"))]
    opens_block = len(indent) > len(above_indent)
    if opens_block and len(context.line_before) <= len(above_indent):
        return indent
    return context.line_before


def finish(raw: str, context: FimContext) -> str:
    """Post-process the model's text for ``context``; multi-line text ends with its block."""
    text = postprocess(raw, context.prefix, context.suffix, single_line=context.single_line)
    if text and not context.single_line:
        cut = block_end_index(text, body_indent_of(context))
        if cut is not None:
            text = postprocess(text[:cut], context.prefix, context.suffix, single_line=False)
    return text
