"""Running holes through the completion engine, variant by variant, politely.

Every hole goes through :meth:`CompletionEngine.complete`, the editor's own path: prompt
budget, request building, streaming with early stop, post-processing, breaker.  Only the
debounce and the cache are off (each hole is one fresh request).  As in the server, the prompt
is sized to the model's context length when the endpoint's model list gives it.

- ``concurrency`` workers (default 2) take (variant, hole) jobs hole by hole, so an interrupted
  run leaves the variants with comparable partial results;
- each worker has its own engine and backend per variant (so usage and latency belong to one
  request), and the workers of a variant share one health object (its breaker): a 429 pauses
  the whole variant for its ``Retry-After``, as the server would, then the hole is asked again;
- a rejected key or unknown model stops that variant (its remaining holes stay undone, so a
  re-run after fixing it resumes);
- each result is appended to the results file as it arrives.

Cross-file context comes from the server's context layer (:mod:`codestral_ls.xcontext`): each
hole's document has its real ``file://`` URI under the repository root (so imports resolve and
paths in the prompt are workspace-relative) and, as the "open documents", a small deterministic
set of other sampled files (see :class:`EvalContext`).  With ``context.enable`` off the
provider gives nothing, as in the editor.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import httpx
from lsprotocol import types

from ..backends import Backend, create_backend, detect_backend, make_http_client
from ..backends.errors import (
    AuthenticationError,
    BackendError,
    BadRequestError,
    NetworkError,
    RateLimitedError,
    ServerError,
    UpstreamTimeout,
)
from ..breaker import Breaker
from ..catalog import Catalog
from ..context import (
    CHARS_PER_TOKEN,
    build_fim_request,
    context_room,
    extract_context,
    prompt_budget,
)
from ..documents import Cursor, Document
from ..engine import CompletionEngine, Trace
from ..health import Health
from ..notify import Notifier
from ..settings import Connection, Environment, Settings, resolve_connection
from ..xcontext import ContextGatherer, GatheredContext, Workspace, context_budget
from ..xcontext.imports import HEAD_LINES
from ..xcontext.workspace import path_to_uri
from .holes import Hole, SourceFile
from .metrics import edit_similarity, exact_match, first_line_match, parses
from .prices import PriceTable
from .store import ResultsFile
from .variants import Variant, VariantError, resolve_settings

__all__ = ["Estimate", "EvalContext", "Job", "Plan", "VariantSetup", "estimate", "prepare", "run"]

#: What the evaluation forces: every hole is one fresh request, asked at once.
FORCED: Mapping[str, Any] = {"cacheSize": 0, "debounceMs": 0, "adaptiveDebounce": False}
#: Times one hole is asked again after a 429 before it counts as an error.
RATE_LIMIT_RETRIES = 20
#: Times one hole is asked again after a transient failure (5xx, network, timeout).
FAILURE_RETRIES = 2
#: Seconds a worker waits while another one's probe request tests a paused endpoint.
PROBE_WAIT = 0.05
#: Longest single wait during a pause (then the worker checks whether its variant stopped).
PAUSE_STEP = 0.5
#: Other sampled files "open" beside a hole's file (imported files first, then its folder).
OPEN_FILES = 8


@dataclass(frozen=True)
class VariantSetup:
    variant: Variant
    settings: Settings
    connection: Connection
    backend: str
    fingerprint: str


def prepare(variant: Variant, base: Mapping[str, Any], env: Environment) -> VariantSetup:
    """Resolve a variant's settings and connection; VariantError when it cannot run."""
    settings = resolve_settings(variant, base, forced=FORCED)
    connection = resolve_connection(settings, env)
    if connection.problem:
        raise VariantError(f"variant {variant.name!r}: {connection.problem}")
    backend = (
        settings.backend if settings.backend != "auto" else detect_backend(connection.endpoint)
    )
    if backend == "mistral" and not connection.api_key:
        raise VariantError(
            f"variant {variant.name!r}: no API key for {connection.endpoint}; set "
            "CODESTRAL_API_KEY or MISTRAL_API_KEY"
        )
    return VariantSetup(variant, settings, connection, backend, variant.fingerprint(base))


@dataclass
class Plan:
    sources: Mapping[str, SourceFile]
    holes: Sequence[Hole]
    setups: Sequence[VariantSetup]
    concurrency: int = 2
    root: Path | None = None
    """The repository root: holes get real ``file://`` URIs under it and cross-file context
    (None: no context, as before)."""

    def pending(self, store: ResultsFile) -> list[Job]:
        """The (variant, hole) jobs not yet in the results file, hole by hole."""
        return [
            Job(setup, hole)
            for hole in self.holes
            for setup in self.setups
            if not store.is_done(setup.fingerprint, hole.id)
        ]


@dataclass(frozen=True)
class Job:
    setup: VariantSetup
    hole: Hole


# --------------------------------------------------------------------------------------------
# Dry run


@dataclass
class Estimate:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    """Expected completion tokens (the length of the true middles)."""
    max_completion_tokens: int = 0
    """At most (every answer as long as ``maxTokens`` allows)."""
    cost: float = 0.0
    unpriced: set[str] = field(default_factory=set)


def _tokens(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN)


def _document(source: SourceFile, hole: Hole, uri: str) -> Document:
    document = Document(
        uri, hole.document_text(source.text), encoding=types.PositionEncodingKind.Utf32
    )
    document.language_id = hole.language
    return document


def estimate(plan: Plan, jobs: Sequence[Job], prices: PriceTable) -> Estimate:
    """Requests, tokens and cost of ``jobs``, from the requests the engine would build (the
    characters-per-token ratio the prompt budget uses, so a slight overestimate)."""
    result = Estimate()
    files = EvalContext(plan.root, plan.sources) if plan.root is not None else None
    for job in jobs:
        source = plan.sources[job.hole.path]
        settings = job.setup.settings.for_language(job.hole.language)
        with_context = files is not None and settings.context.any_source
        uri = files.uri(job.hole.path) if files is not None and with_context else "file:///e"
        document = _document(source, job.hole, uri)
        cursor = document.cursor(types.Position(line=job.hole.line, character=job.hole.column))
        context = extract_context(document, cursor, *prompt_budget(settings, None))
        gathered = GatheredContext()
        if files is not None and with_context:
            gathered = files(document, cursor, settings, context_room(context, settings, None))
        request = build_fim_request(
            context, settings, context_files=gathered.files, path=gathered.path
        )
        prompt = _tokens(len(request.full_prompt()) + len(request.suffix or ""))
        limit = request.max_tokens or settings.maxTokens
        expected = min(limit, _tokens(len(job.hole.expected(source.text))))
        result.requests += 1
        result.prompt_tokens += prompt
        result.completion_tokens += expected
        result.max_completion_tokens += limit
        price = prices.price(settings.model, job.setup.backend)
        if price is None:
            result.unpriced.add(settings.model)
        else:
            result.cost += price.cost(prompt, expected)
    return result


# --------------------------------------------------------------------------------------------
# Cross-file context


class EvalContext:
    """The engines' context provider for a run, built on the server's context layer.

    The open documents of a hole are up to :data:`OPEN_FILES` other sampled files: the ones
    its file imports (in import order), then the others of its folder (by path).  They hold
    their whole text; only the hole's own file has a middle removed.
    """

    def __init__(self, root: Path, sources: Mapping[str, SourceFile]) -> None:
        self.root = root
        self.sources = sources
        self.gatherer = ContextGatherer(Workspace([root]))
        self._documents: dict[str, Document] = {}

    def uri(self, path: str) -> str:
        """The ``file://`` URI of the repository-relative ``path``."""
        return path_to_uri(self.root.joinpath(*PurePosixPath(path).parts))

    def _document(self, path: str) -> Document:
        document = self._documents.get(path)
        if document is None:
            source = self.sources[path]
            document = Document(
                self.uri(path), source.text, version=0, encoding=types.PositionEncodingKind.Utf32
            )
            document.language_id = source.language
            self._documents[path] = document
        return document

    def open_paths(self, current: Document, path: str) -> list[str]:
        """The sampled files open beside ``path`` (whose document is ``current``)."""
        file = self.root.joinpath(*PurePosixPath(path).parts)
        head = "".join(current.lines[:HEAD_LINES])
        imported = self.gatherer.imports.imports_of(
            current.language_id, head, file, (self.root,), ""
        )
        chosen: list[str] = []
        for target in imported:
            try:
                relative = target.path.relative_to(self.root).as_posix()
            except ValueError:
                continue
            if relative in self.sources and relative != path and relative not in chosen:
                chosen.append(relative)
        folder = PurePosixPath(path).parent
        for other in sorted(self.sources):
            if other != path and other not in chosen and PurePosixPath(other).parent == folder:
                chosen.append(other)
        return chosen[:OPEN_FILES]

    def __call__(
        self, document: Document, cursor: Cursor, settings: Settings, room: int | None
    ) -> GatheredContext:
        path = self.gatherer.workspace.relative(document.uri)
        budget = context_budget(settings, room)
        if budget <= 0:
            return GatheredContext(path=path)
        documents = [self._document(p) for p in self.open_paths(document, path)]
        return self.gatherer.gather(document, cursor, documents, settings, budget)


# --------------------------------------------------------------------------------------------
# The run


class _Stopped(Exception):
    """The variant cannot go on (rejected key, unknown model)."""


def _fatal(error: BackendError | None) -> bool:
    return isinstance(error, AuthenticationError) or (
        isinstance(error, BadRequestError) and error.is_unknown_model
    )


def _transient(error: BackendError | None) -> bool:
    if isinstance(error, ServerError):
        return error.status in (None, 500, 502, 503, 504)
    return isinstance(error, (NetworkError, UpstreamTimeout))


class _Worker:
    def __init__(self, engines: Mapping[str, CompletionEngine], number: int) -> None:
        self.engines = engines
        self.number = number


async def _ask(
    engine: CompletionEngine,
    health: Health,
    document: Document,
    hole: Hole,
    stopped: Callable[[], bool],
) -> tuple[str, Trace, float, int, int]:
    """Ask until there is an answer or a lasting error: (answer, trace, seconds, 429s, retries).

    Raises :class:`_Stopped` when ``stopped()`` says the variant was stopped meanwhile (a
    rejected key pauses the breaker for a minute; nobody should wait that out).
    """
    cursor = document.cursor(types.Position(line=hole.line, character=hole.column))
    rate_limited = retries = 0
    while True:
        if stopped():
            raise _Stopped
        pause = health.paused_for
        if pause > 0:
            await asyncio.sleep(min(pause, PAUSE_STEP))
            continue
        trace = Trace()
        started = time.perf_counter()
        suggestion = await engine.complete(document, cursor, debounce=False, trace=trace)
        elapsed = time.perf_counter() - started
        if trace.paused:  # another worker's request paused the variant, or is probing
            await asyncio.sleep(min(max(health.paused_for, PROBE_WAIT), PAUSE_STEP))
            continue
        error = trace.error
        if isinstance(error, RateLimitedError) and rate_limited < RATE_LIMIT_RETRIES:
            rate_limited += 1
            continue
        if _transient(error) and retries < FAILURE_RETRIES:
            retries += 1
            continue
        return (suggestion.text if suggestion else ""), trace, elapsed, rate_limited, retries


def _record(
    job: Job,
    source: SourceFile,
    answer: str,
    trace: Trace,
    elapsed: float,
    rate_limited: int,
    retries: int,
) -> dict[str, Any]:
    hole, setup = job.hole, job.setup
    expected = hole.expected(source.text)
    request = trace.request
    usage = trace.usage or {}
    prompt_tokens = usage.get("prompt_tokens")
    completion_tokens = usage.get("completion_tokens")
    reported = isinstance(prompt_tokens, int) and isinstance(completion_tokens, int)
    if not reported:
        sent = len(request.full_prompt()) + len(request.suffix or "") if request else 0
        prompt_tokens = _tokens(sent)
        completion_tokens = _tokens(len(trace.raw or ""))
    record: dict[str, Any] = {
        "type": "result",
        "variant": setup.variant.name,
        "fingerprint": setup.fingerprint,
        "model": setup.settings.model,
        "backend": setup.backend,
        "hole": hole.id,
        "path": hole.path,
        "kind": hole.kind,
        "language": hole.language,
        "line": hole.line + 1,
        "column": hole.column + 1,
        "expected": expected,
        "answer": answer,
        "status": "error" if trace.error is not None else "ok",
        "latencyMs": round(elapsed * 1000, 2),
        "promptTokens": prompt_tokens,
        "completionTokens": completion_tokens,
        "usageReported": reported,
        "rateLimited": rate_limited,
        "retries": retries,
    }
    if trace.error is not None:
        record["error"] = trace.error.message
        record["errorKind"] = type(trace.error).__name__
    else:
        filled = source.text[: hole.start] + answer + source.text[hole.end :]
        record.update(
            exact=exact_match(answer, expected),
            firstLine=first_line_match(answer, expected),
            editSimilarity=round(edit_similarity(answer, expected), 4),
            parses=parses(hole.language, source.text, filled),
        )
    return record


async def _catalog(backend: Backend) -> Catalog | None:
    """The endpoint's model list, or None when it cannot be had (the budgets then apply)."""
    try:
        return Catalog.from_cards(await backend.list_models())
    except (BackendError, ValueError):
        return None


async def run(
    plan: Plan,
    store: ResultsFile,
    *,
    on_result: Callable[[dict[str, Any]], None] = lambda record: None,
    on_stop: Callable[[str, str], None] = lambda variant, message: None,
) -> None:
    """Run every pending job, appending each result to ``store`` as it arrives.

    Cancelling (Ctrl-C) keeps what is in the file; the jobs under way are simply not written.
    """
    jobs = plan.pending(store)
    if not jobs:
        return
    http = make_http_client()
    backends: list[Backend] = []
    try:
        await _run_jobs(plan, store, jobs, http, backends, on_result, on_stop)
    finally:
        for backend in backends:
            await backend.aclose()
        await http.aclose()


async def _run_jobs(
    plan: Plan,
    store: ResultsFile,
    jobs: Sequence[Job],
    http: httpx.AsyncClient,
    backends: list[Backend],
    on_result: Callable[[dict[str, Any]], None],
    on_stop: Callable[[str, str], None],
) -> None:
    stopped: dict[str, str] = {}
    workers: list[_Worker] = []
    healths = {
        setup.variant.name: Health(
            Notifier(lambda kind, message: None),
            breaker=Breaker(threshold=3, base=2.0, ceiling=120.0),
        )
        for setup in plan.setups
    }
    context = EvalContext(plan.root, plan.sources) if plan.root is not None else None
    for number in range(max(1, plan.concurrency)):
        engines: dict[str, CompletionEngine] = {}
        for setup in plan.setups:
            backend = create_backend(
                setup.backend,
                endpoint=setup.connection.endpoint,
                api_key=setup.connection.api_key,
                timeout=setup.settings.request_timeout,
                http=http,
            )
            backends.append(backend)
            health = healths[setup.variant.name]
            health.configure(
                setup.settings,
                setup.connection,
                requires_key=backend.requires_key,
                backend=backend.kind,
            )
            engine = CompletionEngine(backend, health)
            engine.configure(setup.settings, setup.connection)
            if context is not None and setup.settings.context.any_source:
                engine.context_provider = context
            engines[setup.variant.name] = engine
        workers.append(_Worker(engines, number))
    # Like the server, size the prompt to the model's context length when the endpoint lists it.
    for setup in plan.setups:
        catalog = await _catalog(workers[0].engines[setup.variant.name].client)
        if catalog is not None:
            for worker in workers:
                worker.engines[setup.variant.name].context_length = catalog.context_length
    queue: asyncio.Queue[Job] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def work(worker: _Worker) -> None:
        while True:
            try:
                job = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            name = job.setup.variant.name
            if name in stopped:
                continue
            source = plan.sources[job.hole.path]
            if context is not None and job.setup.settings.context.any_source:
                uri = context.uri(job.hole.path)
            else:
                uri = f"file:///eval/{worker.number}/{quote(job.hole.path)}"
            document = _document(source, job.hole, uri)
            try:
                answer, trace, elapsed, rate_limited, retries = await _ask(
                    worker.engines[name],
                    healths[name],
                    document,
                    job.hole,
                    functools.partial(stopped.__contains__, name),
                )
            except _Stopped:
                continue
            if _fatal(trace.error):
                if name not in stopped:
                    stopped[name] = trace.error.message if trace.error else ""
                    on_stop(name, stopped[name])
                continue
            record = _record(job, source, answer, trace, elapsed, rate_limited, retries)
            store.append(record)
            on_result(record)

    await asyncio.gather(*(work(worker) for worker in workers))
