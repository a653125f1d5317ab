"""Command line: the language server (default), ``complete``, ``doctor``, ``eval``, ``stats``.

``complete`` and ``doctor`` go through the same engine, settings, backend and HTTP client as the
server, so what they print is what an editor would get (self-hosted backends included).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import aclosing
from pathlib import Path
from typing import Any

import httpx
from lsprotocol import types

from . import __version__
from .backends import LOCAL_KINDS, Backend, create_backend, detect_backend, make_http_client
from .backends.errors import BackendError
from .backends.probe import EndpointProbe
from .context import prompt_budget
from .documents import Cursor, Document
from .engine import CompletionEngine, ContextProvider
from .evaluation import command as evaluation
from .health import Health
from .languages import from_path
from .logs import configure_logging
from .mistral import FimRequest
from .notify import Notifier
from .settings import (
    LOCAL_REQUEST_TIMEOUT_MS,
    Connection,
    Environment,
    Settings,
    parse_settings,
    resolve_connection,
)
from .state import state_dir
from .stats import StatsStore, summarise
from .stats.summary import format_table, parse_duration
from .testing import command as testing_command
from .xcontext import ContextGatherer, GatheredContext, Workspace, context_budget

#: Prints one doctor line: (ok, what, message).
Report = Callable[[bool, str, str], None]

#: Largest file ``complete`` reads.
MAX_FILE_BYTES = 50 * 1024 * 1024


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codestral-ls",
        description="Language server for Mistral's Codestral fill-in-the-middle completions.",
        # `fake-api --log FILE` must not read as an abbreviation of --log-file/--log-level
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"codestral-ls {__version__}")
    parser.add_argument("--log-file", metavar="PATH", help="write logs to PATH instead of stderr")
    parser.add_argument(
        "--log-level",
        default="WARNING",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level (default: WARNING)",
    )
    transport = parser.add_mutually_exclusive_group()
    transport.add_argument("--stdio", action="store_true", help="talk LSP over stdio (default)")
    transport.add_argument("--tcp", metavar="HOST:PORT", help="listen for one LSP client on TCP")
    settings_help = (
        'settings as JSON, the same keys as the "codestral" section, e.g. '
        '\'{"model": "codestral-2508"}\''
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    complete = commands.add_parser(
        "complete", help="print the completion at FILE:LINE:COL (1-based line and column)"
    )
    complete.add_argument("location", metavar="FILE:LINE:COL")
    complete.add_argument("--settings", default="{}", help=settings_help)
    doctor = commands.add_parser(
        "doctor", help="check the key, the endpoint, the models and one FIM round trip"
    )
    doctor.add_argument("--settings", default="{}", help=settings_help)
    evaluation.add_parser(commands)
    stats = commands.add_parser(
        "stats",
        help="acceptance statistics recorded on this machine, per model (docs/stats.md)",
    )
    stats.add_argument("--since", default="7d", help="how far back: 7d, 12h, 30m, 2w (default: 7d)")
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    testing_command.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env = Environment.from_mapping(os.environ)
    configure_logging(
        args.log_level, args.log_file, secrets=(env.codestral_api_key, env.mistral_api_key)
    )
    if args.command == "complete":
        return asyncio.run(run_complete(args.location, args.settings, env))
    if args.command == "doctor":
        return asyncio.run(run_doctor(args.settings, env))
    if args.command == "eval":
        return evaluation.main(args, env)
    if args.command == "stats":
        return run_stats(args.since, as_json=args.json)
    if args.command == "fake-api":
        return testing_command.run_fake_api(args)
    if args.command == "record":
        return testing_command.run_record(args, env)
    return serve(args.tcp)


def run_stats(since: str, *, as_json: bool, now: float | None = None) -> int:
    """Print the statistics recorded under the state directory since ``since`` ago."""
    try:
        seconds = parse_duration(since)
    except ValueError as error:
        print(f"codestral-ls: --since: {error}", file=sys.stderr)
        return 2
    store = StatsStore.under(state_dir())
    start = (time.time() if now is None else now) - seconds
    groups = summarise(store.read(), since=start)
    if as_json:
        payload = {
            "since": start,
            "files": [str(path) for path in store.files()],
            "groups": [group.as_json() for group in groups],
        }
        print(json.dumps(payload, indent=2))
    else:
        print(f"Statistics since {since} ago ({store.path}):")
        print(format_table(groups))
    return 0


def serve(tcp: str | None) -> int:
    from .server import CodestralLanguageServer

    server = CodestralLanguageServer()
    if tcp:
        host, _, port = tcp.rpartition(":")
        if not port.isdigit():
            print(f"codestral-ls: --tcp wants HOST:PORT, got {tcp!r}", file=sys.stderr)
            return 2
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_io()
    return server.exit_code


def _load_settings(raw: str) -> tuple[Settings, list[str]]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        return Settings(), [f"codestral-ls: --settings is not valid JSON ({error.msg})."]
    return parse_settings(data)


def parse_location(location: str) -> tuple[Path, int, int]:
    """Split ``FILE:LINE:COL`` (the file name may itself contain colons)."""
    path, line, column = [*location.rsplit(":", 2), "", ""][:3]
    if not (line.isdigit() and column.isdigit()) or int(line) < 1 or int(column) < 1:
        raise ValueError(f"expected FILE:LINE:COL with a 1-based line and column, got {location!r}")
    return Path(path), int(line), int(column)


async def run_complete(location: str, raw_settings: str, env: Environment) -> int:
    """Print the completion at a file position; one clear error line and exit 1 otherwise."""
    try:
        path, line, column = parse_location(location)
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"{path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
        text = path.read_bytes().decode("utf-8")
    except (ValueError, OSError) as error:
        print(f"codestral-ls: {error}", file=sys.stderr)
        return 2
    document = Document(path.resolve().as_uri(), text, encoding=types.PositionEncodingKind.Utf32)
    if line > document.line_count:
        print(f"codestral-ls: {path} has {document.line_count} lines, not {line}", file=sys.stderr)
        return 2
    document.language_id = from_path(path) or path.suffix.lstrip(".")
    cursor = document.cursor(types.Position(line=line - 1, character=column - 1))

    settings, problems = _load_settings(raw_settings)
    for problem in problems:
        print(problem, file=sys.stderr)
    messages: list[str] = []
    connection = resolve_connection(settings, env)
    http = make_http_client(timeout=settings.request_timeout)
    try:
        client, settings = await _backend_for(http, settings, connection.endpoint, connection)
        health = Health(Notifier(lambda kind, message: messages.append(message)))
        health.configure(settings, connection, requires_key=client.requires_key)
        engine = CompletionEngine(client, health)
        engine.configure(settings, connection)
        engine.context_provider = _file_context(path)
        suggestion = await engine.complete(document, cursor, debounce=False)
    finally:
        await http.aclose()
    if messages:
        print(messages[-1], file=sys.stderr)
        return 1
    if suggestion is not None:
        sys.stdout.write(suggestion.text + "\n")
    return 0


#: Files whose folder is taken as the project root of a file given to ``complete``.
PROJECT_MARKERS = (".git", "pyproject.toml", "package.json", "Cargo.toml", "go.mod", "setup.py")


def project_root(path: Path) -> Path:
    """The nearest folder above ``path`` holding a project marker, else ``path``'s folder."""
    start = path.resolve().parent
    for folder in (start, *start.parents):
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder
    return start


def _file_context(path: Path) -> ContextProvider:
    """Cross-file context for ``complete``: no open files, so what the file imports from its
    project (and the embeddings index, when set).  Excluded files and secrets stay out, as in
    the editor."""
    gatherer = ContextGatherer(Workspace([project_root(path)]))

    def provide(
        document: Document, cursor: Cursor, settings: Settings, room: int | None
    ) -> GatheredContext:
        return gatherer.gather(document, cursor, [], settings, context_budget(settings, room))

    return provide


async def run_doctor(raw_settings: str, env: Environment) -> int:
    """Check the set-up step by step, one line each; exit 1 if any step failed."""
    settings, problems = _load_settings(raw_settings)
    failed = bool(problems)
    for problem in problems:
        print(f"FAIL settings  {problem}")
    connection = resolve_connection(settings, env)

    def report(ok: bool, what: str, message: str) -> None:
        nonlocal failed
        failed = failed or not ok
        print(f"{'ok  ' if ok else 'FAIL'} {what:<9} {message}")

    if connection.problem:
        report(False, "endpoint", connection.problem)
        return 1
    http = make_http_client(timeout=settings.request_timeout)
    try:
        kind = await doctor_backend(http, settings, connection.endpoint, report)
        if kind != "mistral":
            code = await doctor_local(http, kind, settings, connection, report)
            return 1 if failed else code
        client = create_backend(
            kind,
            endpoint=connection.endpoint,
            api_key=connection.api_key,
            timeout=settings.request_timeout,
            http=http,
        )
        await _doctor_mistral(client, settings, connection, report)
    finally:
        await http.aclose()
    return 1 if failed else 0


async def _doctor_mistral(
    client: Backend, settings: Settings, connection: Connection, report: Report
) -> None:
    """The checks for Mistral's API (or a gateway in front of it): key, models, one round
    trip."""
    if connection.api_key:
        report(True, "key", f"from {connection.key_source}")
    elif not client.requires_key:
        report(True, "key", f"none needed by the {client.kind} backend")
    else:
        report(
            False,
            "key",
            "no key: set CODESTRAL_API_KEY (codestral.mistral.ai) or "
            "MISTRAL_API_KEY (api.mistral.ai)",
        )
        report(False, "endpoint", f"{connection.endpoint} not checked without a key")
        return
    try:
        cards = await client.list_models()
    except BackendError as error:
        report(False, "endpoint", f"{connection.endpoint}: {error.message}")
        return
    report(True, "endpoint", f"{connection.endpoint} answered {client.models_path}")
    fim = [card for card in cards if _capability(card, "completion_fim")]
    names = sorted({str(card.get("id")) for card in fim})
    report(bool(names), "models", "FIM models: " + (", ".join(names) or "none"))
    known = {str(card.get("id")) for card in fim} | {
        str(alias) for card in fim for alias in card.get("aliases") or []
    }
    report(
        settings.model in known,
        "model",
        f"{settings.model} "
        + (
            "is FIM-capable"
            if settings.model in known
            else "is not among this endpoint's FIM models"
        ),
    )
    await _doctor_round_trip(client, settings, report)


async def _doctor_round_trip(client: Backend, settings: Settings, report: Report) -> None:
    """One small FIM request, streamed as the editor gets it."""
    request = FimRequest(
        model=settings.model,
        prompt="def add(a: int, b: int) -> int:\n    return ",
        suffix="\n",
        max_tokens=16,
        temperature=0.0,
    )
    started = time.perf_counter()
    try:
        async with aclosing(client.fim_stream(request)) as pieces:
            text = "".join([piece async for piece in pieces])
    except BackendError as error:
        report(False, "fim", error.message)
    else:
        elapsed = (time.perf_counter() - started) * 1000
        report(True, "fim", f"round trip {elapsed:.0f} ms: {text.strip()[:40]!r}")


async def _backend_for(
    http: httpx.AsyncClient, settings: Settings, endpoint: str, connection: Connection
) -> tuple[Backend, Settings]:
    """The backend the server would use (probing for ``auto``, as the server does), and the
    settings with a local backend's default timeout and the server's context size."""
    kind = settings.backend
    probe = EndpointProbe(http, detect_backend)
    if kind in ("auto", "openai") and not connection.problem:
        detected = (await probe.detect(endpoint)).kind
        kind = detected if kind == "auto" or detected == "llamacpp" else kind
    if kind == "auto":
        kind = detect_backend(endpoint)
    if kind in LOCAL_KINDS and settings.requestTimeoutMs == Settings().requestTimeoutMs:
        settings = dataclasses.replace(settings, requestTimeoutMs=LOCAL_REQUEST_TIMEOUT_MS)
    backend = create_backend(
        kind,
        endpoint=endpoint,
        api_key=connection.api_key,
        timeout=settings.request_timeout,
        http=http,
    )
    if kind in ("llamacpp", "ollama") and not connection.problem:
        size = await probe.read_context_size(kind, endpoint, settings.model)
        if size:
            prefix, suffix = prompt_budget(settings, size)
            settings = dataclasses.replace(settings, prefixChars=prefix, suffixChars=suffix)
    return backend, settings


async def doctor_backend(
    http: httpx.AsyncClient, settings: Settings, endpoint: str, report: Report
) -> str:
    """Print which backend serves ``endpoint`` and why; returns its kind."""
    if settings.backend not in ("auto", "openai"):
        report(True, "backend", f"{settings.backend} (the 'backend' setting)")
        return settings.backend
    detection = await EndpointProbe(http, detect_backend).detect(endpoint)
    if settings.backend == "openai" and detection.kind != "llamacpp":
        report(True, "backend", "openai (the 'backend' setting)")
        return "openai"
    report(True, "backend", f"{detection.kind}: {detection.reason}")
    return detection.kind


async def doctor_local(
    http: httpx.AsyncClient, kind: str, settings: Settings, connection: Connection, report: Report
) -> int:
    """The checks for a self-hosted server (no key needed): models, context, one round trip."""
    endpoint = connection.endpoint
    timeout = max(settings.request_timeout, LOCAL_REQUEST_TIMEOUT_MS / 1000)
    backend = create_backend(
        kind, endpoint=endpoint, api_key=connection.api_key, timeout=timeout, http=http
    )
    failed = False

    def check(ok: bool, what: str, message: str) -> None:
        nonlocal failed
        failed = failed or not ok
        report(ok, what, message)

    if connection.api_key:
        check(True, "key", f"from {connection.key_source}")
    else:
        check(True, "key", f"none needed by the {backend.kind} backend")
    try:
        cards = await backend.list_models()
    except BackendError as error:
        check(False, "endpoint", f"{endpoint}: {error.message}")
        return 1
    check(True, "endpoint", f"{endpoint} answered {backend.models_path}")
    names = sorted(str(card.get("id")) for card in cards if _capability(card, "completion_fim"))
    check(bool(names), "models", "FIM models: " + (", ".join(names) or "none"))
    known = {str(card.get("id")) for card in cards} | {
        str(alias) for card in cards for alias in card.get("aliases") or []
    }
    if kind == "llamacpp" and names:
        check(True, "model", f"llama-server serves its model whatever the name ({names[0]})")
    else:
        check(
            settings.model in known,
            "model",
            f"{settings.model} "
            + ("is listed" if settings.model in known else "is not among this server's models"),
        )
    probe = EndpointProbe(http, detect_backend)
    if kind in ("llamacpp", "ollama"):
        size = await probe.read_context_size(kind, endpoint, settings.model)
        source = probe.context_source(endpoint, settings.model)
        check(bool(size), "context", f"{size} tokens ({source})" if size else "unknown")
    await _doctor_round_trip(backend, settings, check)
    return 1 if failed else 0


def _capability(card: Any, name: str) -> bool:
    capabilities = card.get("capabilities") if isinstance(card, dict) else None
    return bool(isinstance(capabilities, dict) and capabilities.get(name))
