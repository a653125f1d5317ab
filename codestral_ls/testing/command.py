"""``codestral-ls fake-api`` and ``codestral-ls record`` (docs/testing.md).

Both print ``PORT n`` as their first line on stdout, then serve on 127.0.0.1 until they are
killed (SIGTERM, Ctrl-C) or, when their stdin is a pipe, until it is closed: a test harness
that started them with ``stdin=PIPE`` stops them by closing it, and nothing outlives it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import stat
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from ..settings import Environment, Settings, resolve_connection

__all__ = ["FLAVORS", "add_parsers", "make_fake", "request_logger", "run_fake_api", "run_record"]

FLAVORS = ("mistral", "ollama", "openai", "llamacpp")
#: Request headers whose values never reach the request log.
_SECRET_HEADERS = ("authorization", "x-api-key", "api-key", "proxy-authorization", "cookie")


def add_parsers(commands: Any) -> None:
    fake = commands.add_parser(
        "fake-api",
        help="serve a fake Mistral API (or Ollama, OpenAI-compatible, llama.cpp) on 127.0.0.1",
        description="Serve a fake, spec-validating API on 127.0.0.1; prints 'PORT n' first.",
    )
    fake.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")
    fake.add_argument("--rules", metavar="FILE", help="answers and faults (TOML or JSON)")
    fake.add_argument("--log", metavar="FILE", help="append every request to FILE (JSONL)")
    fake.add_argument("--flavor", choices=FLAVORS, default="mistral", help="which API to fake")
    fake.add_argument("--replay", metavar="FILE", help="answer from a `record` session file")
    fake.add_argument(
        "--mismatch",
        choices=("strict", "nearest"),
        default="strict",
        help="replay: a request nobody recorded gets a 400 (strict) or the nearest answer",
    )
    fake.add_argument("--text", default="pass", help="answer when no rule matches")
    fake.add_argument("--no-auth", action="store_true", help="accept requests without a key")
    record = commands.add_parser(
        "record",
        help="record a session with the real API through a local proxy (for fake-api --replay)",
        description="A local proxy in front of the real endpoint recording every exchange, "
        "with the key and secrets redacted; prints 'PORT n' first.",
    )
    record.add_argument("--to", metavar="FILE", required=True, help="session file (JSONL)")
    record.add_argument(
        "--upstream",
        metavar="URL",
        help="the real endpoint (default: CODESTRAL_ENDPOINT, else by which key is set)",
    )
    record.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")


def request_logger(stream: IO[str]) -> Any:
    """A ``FakeServer.request_log`` callable writing JSON lines, secret headers redacted."""
    lock = threading.Lock()

    def log(record: Any) -> None:
        headers = {
            key: ("[REDACTED]" if key in _SECRET_HEADERS else value)
            for key, value in record.headers.items()
        }
        line = {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "method": record.method,
            "path": record.path,
            "headers": headers,
            "body": record.body,
            "errors": record.errors,
        }
        with lock:
            stream.write(json.dumps(line, ensure_ascii=False) + "\n")
            stream.flush()

    return log


def make_fake(flavor: str, *, require_auth: bool = True, port: int = 0) -> Any:
    """A (not started) fake of ``flavor``."""
    from .fake_backends import FakeOllama, FakeOpenAI
    from .fake_mistral import FakeMistral

    if flavor == "mistral":
        return FakeMistral(require_auth=require_auth, port=port)
    if flavor == "ollama":
        return FakeOllama(port=port)
    if flavor == "llamacpp":
        return FakeOpenAI(flavor="llamacpp", port=port)
    if flavor == "openai":
        return FakeOpenAI(port=port)
    raise ValueError(f"unknown flavor {flavor!r}")


def _serve_until_done() -> None:
    """Block until SIGTERM/SIGINT, or until stdin (when it is a pipe) is closed."""

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        try:
            mode = os.fstat(sys.stdin.fileno()).st_mode
            piped = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
        except (OSError, ValueError, AttributeError):
            piped = False
        if piped:
            while sys.stdin.buffer.read(65536):
                pass
        else:
            threading.Event().wait()
    except KeyboardInterrupt:
        pass


def _announce(port: int, what: str) -> None:
    print(f"PORT {port}", flush=True)
    print(f"codestral-ls: {what} on http://127.0.0.1:{port}", file=sys.stderr, flush=True)


def run_fake_api(args: argparse.Namespace) -> int:
    from .fake_mistral import MISSING_VALIDATOR, FakeMistral
    from .rules import RuleError, load_rules

    if args.flavor == "mistral":
        try:
            import jsonschema  # noqa: F401
        except ImportError:
            print(MISSING_VALIDATOR, file=sys.stderr)
            return 2
    try:
        rules = load_rules(args.rules) if args.rules else None
    except RuleError as error:
        print(f"codestral-ls: {error}", file=sys.stderr)
        return 2
    replay = None
    if args.replay:
        if args.flavor != "mistral":
            print("codestral-ls: --replay serves the mistral flavor only", file=sys.stderr)
            return 2
        from .record import Replay

        try:
            replay = Replay.load(args.replay, args.mismatch)
        except (OSError, ValueError) as error:
            print(f"codestral-ls: cannot replay {args.replay}: {error}", file=sys.stderr)
            return 2
    fake = make_fake(args.flavor, require_auth=not args.no_auth, port=args.port)
    fake.fim_text = args.text
    fake.chat_text = args.text
    if rules is not None:
        fake.rules = rules
        if not isinstance(fake, FakeMistral):
            fake.fim_text = rules.text_source(args.text)
            fake.chat_text = rules.text_source(args.text)
    if isinstance(fake, FakeMistral):
        fake.replay = replay
    log: IO[str] | None = None
    if args.log:
        try:
            log = Path(args.log).open("a", encoding="utf-8")  # noqa: SIM115 (closed below)
        except OSError as error:
            print(f"codestral-ls: cannot write {args.log}: {error.strerror}", file=sys.stderr)
            return 2
        fake.request_log = request_logger(log)
    try:
        fake.start()
    except OSError as error:
        print(f"codestral-ls: cannot listen on port {args.port}: {error}", file=sys.stderr)
        return 2
    try:
        _announce(fake.port, f"fake {args.flavor} API")
        _serve_until_done()
    finally:
        fake.stop()
        if log is not None:
            log.close()
    return 0


def run_record(args: argparse.Namespace, env: Environment) -> int:
    from .record import RecordingProxy

    connection = resolve_connection(Settings(endpoint=args.upstream), env)
    if connection.problem:
        print(connection.problem, file=sys.stderr)
        return 2
    proxy = RecordingProxy(connection.endpoint, args.to, api_key=connection.api_key, port=args.port)
    try:
        proxy.start()
    except OSError as error:
        print(f"codestral-ls: cannot listen on port {args.port}: {error}", file=sys.stderr)
        return 2
    try:
        _announce(proxy.port, f"recording {connection.endpoint} to {args.to}")
        _serve_until_done()
    finally:
        proxy.stop()
    print(f"codestral-ls: {proxy.recorded} exchange(s) recorded", file=sys.stderr)
    return 0
