"""Server logs reach the client as window/logMessage, each line once, at its own level."""

from __future__ import annotations

import re

from lsprotocol import types

from codestral_ls.testing.fake_mistral import FakeMistral
from tests.e2e.conftest import Session, Starter

URI = "file:///work/example.py"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d")


async def settled(session: Session) -> None:
    """Wait until the settings pull after ``initialized`` is applied."""
    await session.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="codestral.status", arguments=[])
    )


def settings_lines(session: Session) -> list[types.LogMessageParams]:
    return [m for m in session.client.log_messages if "settings:" in m.message]


async def test_settings_are_logged_once_per_change(start: Starter, fake: FakeMistral) -> None:
    session = await start(configuration={}, args=["--log-level", "INFO"])
    await settled(session)
    # initialize, the configuration pull and a repeated didChangeConfiguration: one line
    session.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings=None)
    )
    await settled(session)
    [line] = settings_lines(session)
    assert line.type == types.MessageType.Info
    assert line.message.startswith("codestral_ls.server: settings: backend=mistral")
    assert not TIMESTAMP.search(line.message), "the client adds its own timestamp"
    assert "INFO" not in line.message, "the client shows the level"

    session.client.set_configuration({"model": "my-finetune"}, section="codestral")
    session.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings=None)
    )
    await settled(session)
    _, second = settings_lines(session)
    assert "model=my-finetune" in second.message


async def test_warnings_arrive_as_warnings_without_the_key(
    start: Starter, fake: FakeMistral
) -> None:
    fake.fail_next(401)
    session = await start()
    session.open(URI, "x = ")
    assert await session.complete_at(URI, 4) is None
    warnings = [m for m in session.client.log_messages if m.type == types.MessageType.Warning]
    assert warnings, "the rejected key is logged as a warning"
    assert all("test-key-5f0c2d" not in m.message for m in session.client.log_messages)
    assert not [m for m in session.client.log_messages if m.type == types.MessageType.Error]
