"""Logging: records reach the client with the right MessageType; stderr keeps only crashes."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest
from lsprotocol import types

from codestral_ls.logs import (
    add_secret,
    attach_client_log,
    configure_logging,
    detach_client_log,
    message_type,
)


@pytest.fixture
def stderr(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """configure_logging's stderr handler writing into a buffer; logging restored after."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buffer)
    configure_logging("INFO", secrets=("sk-secret-1234",))
    yield buffer
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


def test_levels_map_to_message_types() -> None:
    assert message_type(logging.CRITICAL) == types.MessageType.Error
    assert message_type(logging.ERROR) == types.MessageType.Error
    assert message_type(logging.WARNING) == types.MessageType.Warning
    assert message_type(logging.INFO) == types.MessageType.Info
    assert message_type(logging.DEBUG) == types.MessageType.Debug


def test_records_go_to_the_client_once_it_is_connected(stderr: io.StringIO) -> None:
    log = logging.getLogger("codestral_ls.test")
    log.info("before the client")
    sent: list[tuple[types.MessageType, str]] = []
    handler = attach_client_log(lambda kind, text: sent.append((kind, text)))
    log.info("settings: x")
    log.warning("careful")
    log.error("broken with sk-secret-1234")
    assert sent == [
        (types.MessageType.Info, "codestral_ls.test: settings: x"),
        (types.MessageType.Warning, "codestral_ls.test: careful"),
        (types.MessageType.Error, "codestral_ls.test: broken with ***"),
    ]
    log.critical("crash")  # stderr keeps what may never reach the client
    detach_client_log(handler)
    log.info("after the client")
    lines = stderr.getvalue().splitlines()
    assert [line.split(" ", 3)[-1] for line in lines] == [
        "codestral_ls.test: before the client",
        "codestral_ls.test: crash",
        "codestral_ls.test: after the client",
    ]


def test_a_key_learned_later_is_scrubbed_from_the_client_log(stderr: io.StringIO) -> None:
    sent: list[str] = []
    handler = attach_client_log(lambda kind, text: sent.append(text))
    add_secret("late-key-987654")
    logging.getLogger("codestral_ls.test").warning("key late-key-987654")
    detach_client_log(handler)
    assert sent == ["codestral_ls.test: key ***"]


def test_a_failing_client_never_breaks_the_caller(stderr: io.StringIO) -> None:
    def broken(kind: types.MessageType, text: str) -> None:
        logging.getLogger("pygls").error("write failed")  # logged while sending: not re-sent
        raise BrokenPipeError

    handler = attach_client_log(broken)
    logging.getLogger("codestral_ls.test").warning("lost")
    detach_client_log(handler)


def test_pygls_cancel_race_is_not_a_warning(stderr: io.StringIO) -> None:
    sent: list[tuple[types.MessageType, str]] = []
    handler = attach_client_log(lambda kind, text: sent.append((kind, text)))
    pygls = logging.getLogger("pygls.protocol.json_rpc")
    pygls.warning('Cancel notification for unknown message id "%s"', 7)
    pygls.warning("something else")
    assert [kind for kind, _ in sent] == [types.MessageType.Warning]
    logging.getLogger().setLevel(logging.DEBUG)
    pygls.setLevel(logging.DEBUG)
    try:
        pygls.warning('Cancel notification for unknown message id "%s"', 8)
    finally:
        pygls.setLevel(logging.WARNING)
    detach_client_log(handler)
    assert sent[-1] == (
        types.MessageType.Debug,
        'pygls.protocol.json_rpc: Cancel notification for unknown message id "8"',
    )
