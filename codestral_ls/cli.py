"""Command line: the language server (default), ``complete`` and ``doctor``.

``complete`` and ``doctor`` go through the same engine, settings and HTTP client as the server,
so what they print is what an editor would get.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lsprotocol import types

from . import __version__
from .documents import Document
from .engine import CompletionEngine
from .logs import configure_logging
from .mistral import FimRequest, MistralClient, MistralError
from .notify import Notifier
from .settings import Environment, Settings, parse_settings, resolve_connection

#: Largest file ``complete`` reads.
MAX_FILE_BYTES = 50 * 1024 * 1024


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codestral-ls",
        description="Language server for Mistral's Codestral fill-in-the-middle completions.",
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
    return serve(args.tcp)


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
    document.language_id = path.suffix.lstrip(".")
    cursor = document.cursor(types.Position(line=line - 1, character=column - 1))

    settings, problems = _load_settings(raw_settings)
    for problem in problems:
        print(problem, file=sys.stderr)
    messages: list[str] = []
    connection = resolve_connection(settings, env)
    client = MistralClient(
        connection.endpoint, connection.api_key, timeout=settings.request_timeout
    )
    engine = CompletionEngine(client, Notifier(lambda kind, message: messages.append(message)))
    engine.configure(settings, connection)
    try:
        suggestion = await engine.complete(document, cursor, debounce=False)
    finally:
        await client.aclose()
    if messages:
        print(messages[-1], file=sys.stderr)
        return 1
    if suggestion is not None:
        sys.stdout.write(suggestion.text + "\n")
    return 0


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

    if connection.api_key:
        report(True, "key", f"from {connection.key_source}")
    else:
        report(
            False,
            "key",
            "no key: set CODESTRAL_API_KEY (codestral.mistral.ai) or "
            "MISTRAL_API_KEY (api.mistral.ai)",
        )
        report(False, "endpoint", f"{connection.endpoint} not checked without a key")
        return 1
    client = MistralClient(
        connection.endpoint, connection.api_key, timeout=settings.request_timeout
    )
    try:
        try:
            cards = await client.list_models()
        except MistralError as error:
            report(False, "endpoint", f"{connection.endpoint}: {error.message}")
            return 1
        report(True, "endpoint", f"{connection.endpoint} answered /v1/models")
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
        request = FimRequest(
            model=settings.model,
            prompt="def add(a: int, b: int) -> int:\n    return ",
            suffix="\n",
            max_tokens=16,
            temperature=0.0,
        )
        started = time.perf_counter()
        try:
            completion = await client.fim(request)
        except MistralError as error:
            report(False, "fim", error.message)
        else:
            elapsed = (time.perf_counter() - started) * 1000
            report(True, "fim", f"round trip {elapsed:.0f} ms: {completion.text.strip()[:40]!r}")
    finally:
        await client.aclose()
    return 1 if failed else 0


def _capability(card: Any, name: str) -> bool:
    capabilities = card.get("capabilities") if isinstance(card, dict) else None
    return bool(isinstance(capabilities, dict) and capabilities.get(name))
