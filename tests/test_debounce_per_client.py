"""The debounce default per client: VS Code (which debounces and cancels itself) gets the burst
debounce; other clients keep ``debounceMs``; a debounce the user set always wins."""

from __future__ import annotations

import pytest
from lsprotocol import types

from codestral_ls.engine import CompletionEngine
from codestral_ls.health import Health
from codestral_ls.notify import Notifier
from codestral_ls.server import CodestralLanguageServer
from codestral_ls.settings import Connection, Settings, burst_debounce_by_default
from tests.test_engine import StubBackend


def burst_engine(now: list[float]) -> CompletionEngine:
    engine = CompletionEngine(
        StubBackend(["1"]),  # type: ignore[arg-type]
        Health(Notifier(lambda kind, message: None)),
        clock=lambda: now[0],
    )
    engine.configure(Settings(), Connection("http://h", "k", "apiKey"))
    engine.burst_debounce = True
    return engine


def test_a_keystroke_after_a_pause_asks_at_once() -> None:
    now = [10.0]
    engine = burst_engine(now)
    assert engine._debounce_for("u", engine.settings) == 0.0  # nothing typed yet
    engine.note_change("u")
    assert engine._debounce_for("u", engine.settings) == 0.0  # the first keystroke
    now[0] += 2.0
    engine.note_change("u")
    now[0] += 0.05  # the client's own debounce
    assert engine._debounce_for("u", engine.settings) == 0.0  # after a pause


def test_inside_a_burst_requests_wait_for_a_quiet_document() -> None:
    now = [10.0]
    engine = burst_engine(now)
    engine.note_change("u")
    for _ in range(5):  # keystrokes 50 ms apart
        now[0] += 0.05
        engine.note_change("u")
    # asked right after the last keystroke: wait 1.5 gaps (75 ms) from that keystroke
    assert engine._debounce_for("u", engine.settings) == pytest.approx(0.075)
    now[0] += 0.05  # asked after the client's own 50 ms debounce: 25 ms more
    assert engine._debounce_for("u", engine.settings) == pytest.approx(0.025)
    now[0] += 0.05
    assert engine._debounce_for("u", engine.settings) == 0.0  # quiet long enough already


def test_the_quiet_time_is_bounded() -> None:
    now = [0.0]
    engine = burst_engine(now)
    engine.note_change("u")
    for _ in range(10):
        now[0] += 0.01
        engine.note_change("u")
    assert engine.burst_wait("u") == pytest.approx(0.075)  # floor
    for _ in range(20):
        now[0] += 0.35
        engine.note_change("u")
    assert engine.burst_wait("u") == pytest.approx(0.4)  # ceiling


def test_one_slow_keystroke_widens_the_quiet_time() -> None:
    now = [0.0]
    engine = burst_engine(now)
    engine.note_change("u")
    for gap in (0.05, 0.05, 0.12, 0.05):  # a stall inside the burst
        now[0] += gap
        engine.note_change("u")
    assert engine.burst_wait("u") == pytest.approx(0.18)


def test_a_per_language_debounce_still_applies() -> None:
    now = [0.0]
    engine = burst_engine(now)
    engine.note_change("u")
    assert engine._debounce_for("u", Settings(debounceMs=400)) == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("name", "inline", "expected"),
    [
        ("Visual Studio Code", True, True),
        ("Visual Studio Code - Insiders", True, True),
        ("code-server", True, True),
        ("VSCodium", True, True),
        ("Visual Studio Code", False, False),  # completion items: VS Code does not debounce
        ("Neovim", False, False),
        ("emacs", False, False),
        (None, True, False),
    ],
)
def test_which_clients_get_the_burst_debounce(
    name: str | None, inline: bool, expected: bool
) -> None:
    assert burst_debounce_by_default(name, inline) is expected


def initialize(server: CodestralLanguageServer, name: str, options: dict[str, object]) -> None:
    capabilities = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            inline_completion=types.InlineCompletionClientCapabilities()
        )
    )
    server.identify_client(
        types.InitializeParams(
            capabilities=capabilities,
            client_info=types.ClientInfo(name=name),
            initialization_options=options,
        )
    )
    server.update_settings(initialization_options=options)


@pytest.mark.parametrize(
    ("name", "options", "burst"),
    [
        ("Visual Studio Code", {}, True),
        ("Visual Studio Code", {"debounceMs": 150}, False),
        ("Visual Studio Code", {"adaptiveDebounce": True}, False),
        ("Neovim", {}, False),
    ],
)
def test_the_server_picks_the_default_unless_the_user_chose(
    name: str, options: dict[str, object], burst: bool
) -> None:
    server = CodestralLanguageServer(environ={"CODESTRAL_API_KEY": "k" * 8}, features=[])
    initialize(server, name, options)
    assert server.engine.burst_debounce is burst
