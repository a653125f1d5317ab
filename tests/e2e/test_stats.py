"""Acceptance statistics through the protocol (docs/stats.md): every suggestion carries the
``codestral.didAccept`` command, accepts and typing through are recorded per model and
variant, ``telemetry: false`` writes nothing, trials alternate, and no document text or file
name ever reaches the statistics file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from codestral_ls.testing.fake_backends import FakeOllama
from codestral_ls.testing.fake_mistral import FakeMistral
from tests.e2e.conftest import Session, Starter

MARKER = "zqx_marker_7f3e91"
URI = f"file:///work/{MARKER}_secret_name.py"


def stats_files(state: Path) -> list[Path]:
    directory = state / "stats"
    return sorted(directory.glob("*.jsonl")) if directory.exists() else []


async def item_at(session: Session, uri: str, offset: int) -> tuple[str | None, Any]:
    """Ask for a completion; (the text it inserts, the item's command)."""
    _, future = session.request_at(uri, offset)
    result = await future
    if result is None:
        return None, None
    items = result.items if hasattr(result, "items") else result
    if not items:
        return None, None
    item = items[0]
    return Session.inserted(result), item.command


async def execute(session: Session, command: str, *arguments: Any) -> Any:
    return await session.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=list(arguments))
    )


async def stats_of(session: Session) -> dict[str, Any]:
    result = await execute(session, "codestral.stats", {})
    assert isinstance(result, dict)
    return result


def group(stats: dict[str, Any], **match: str) -> dict[str, Any]:
    found = [g for g in stats["groups"] if all(g[k] == v for k, v in match.items())]
    assert len(found) == 1, stats
    return found[0]


async def test_commands_are_advertised(start: Starter) -> None:
    session = await start()
    provider = session.result.capabilities.execute_command_provider
    assert provider is not None
    assert {"codestral.didAccept", "codestral.stats"} <= set(provider.commands)


async def test_accepting_a_suggestion_counts_for_its_model_and_stores_no_text(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    fake.fim_text = f"compute_{MARKER}(1)"
    session = await start(state_dir=tmp_path)
    text = f"# {MARKER}\n{MARKER}_value = "
    session.open(URI, text)
    inserted, command = await item_at(session, URI, len(text))
    assert inserted is not None and MARKER in inserted
    assert command is not None and command.command == "codestral.didAccept"
    [argument] = command.arguments
    assert set(argument) == {"id", "chars"}  # an id and a count, no code
    assert argument["chars"] == len(f"compute_{MARKER}(1)")
    before = group(await stats_of(session), model="codestral-latest")
    assert (before["shown"], before["accepted"]) == (1, 0)

    answer = await execute(session, command.command, *command.arguments)
    assert answer == {"recorded": True}
    after = await stats_of(session)
    counted = group(after, model="codestral-latest")
    assert (counted["shown"], counted["accepted"], counted["charsAccepted"]) == (
        1,
        1,
        argument["chars"],
    )
    assert counted["acceptanceRate"] == 1.0
    assert counted["latencyMs"]["samples"] == 1
    assert after["summary"].startswith("Codestral: codestral-latest: 100.0% of 1 accepted")

    # A partial accept (a word) adds its characters, not another accepted suggestion.
    await execute(session, "codestral.didAccept", {"id": argument["id"], "partial": 8})
    counted = group(await stats_of(session), model="codestral-latest")
    assert (counted["accepted"], counted["partialAccepts"]) == (1, 1)
    assert counted["charsAccepted"] == argument["chars"] + 8

    [path] = stats_files(tmp_path)
    stored = path.read_text(encoding="utf-8")
    assert stored.count("\n") == 3  # shown, accepted, accepted (partial)
    assert MARKER not in stored
    assert "secret_name" not in stored and "/work" not in stored
    assert fake.url.split("//")[1] in stored  # the endpoint's host:port, no scheme or path


async def test_a_bad_accept_argument_is_refused(start: Starter) -> None:
    session = await start()
    with pytest.raises(Exception, match="id"):
        await execute(session, "codestral.didAccept", {"chars": 3})
    unknown = await execute(session, "codestral.didAccept", {"id": "not-shown", "chars": 3})
    assert unknown == {"recorded": False}


async def test_a_typed_through_suggestion_is_counted_once(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    fake.fim_text = "compute(1, 2)"
    session = await start(state_dir=tmp_path)
    text = "result = "
    session.open(URI, text)
    ids = set()
    inserted, command = await item_at(session, URI, len(text))
    assert inserted == "compute(1, 2)"
    ids.add(command.arguments[0]["id"])
    for typed in "comp":
        offset = len(session.texts[URI])
        session.replace(URI, offset, offset, typed)
        inserted, command = await item_at(session, URI, offset + 1)
        assert inserted is not None and inserted.endswith("ute(1, 2)")
        ids.add(command.arguments[0]["id"])
    assert len(ids) == 1  # the same answer, served from the cache while typing through it
    assert len(fake.fim_requests()) == 1
    counted = group(await stats_of(session), model="codestral-latest")
    assert (counted["shown"], counted["typedThrough"], counted["accepted"]) == (1, 1, 0)


async def test_telemetry_false_writes_nothing(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    fake.fim_text = "compute(1)"
    session = await start({"telemetry": False}, state_dir=tmp_path)
    text = "value = "
    session.open(URI, text)
    inserted, command = await item_at(session, URI, len(text))
    assert inserted == "compute(1)"
    assert command is not None  # the command is still there: the editor needs no setting
    assert await execute(session, command.command, *command.arguments) == {"recorded": False}
    stats = await stats_of(session)
    assert stats["telemetry"] is False and stats["groups"] == []
    assert stats_files(tmp_path) == []
    assert not (tmp_path / "stats").exists()


async def test_a_trial_alternates_between_its_models(
    start: Starter, fake: FakeMistral, ollama: FakeOllama, tmp_path: Path
) -> None:
    fake.fim_text = "from_mistral()"
    ollama.fim_text = "from_ollama()"
    trial = {
        "models": ["codestral-2508", "codestral:22b@ollama"],
        "split": "alternate",
        "endpoints": {"ollama": ollama.url},
    }
    session = await start({"trial": trial}, state_dir=tmp_path)
    answers = []
    for index in range(4):
        uri = f"file:///work/trial_{index}.py"
        text = f"value_{index} = "
        session.open(uri, text)
        inserted, command = await item_at(session, uri, len(text))
        answers.append(inserted)
        await execute(session, command.command, *command.arguments)
    assert answers == ["from_mistral()", "from_ollama()", "from_mistral()", "from_ollama()"]
    assert [r.body["model"] for r in fake.fim_requests()] == ["codestral-2508"] * 2
    assert [r.body["model"] for r in ollama.fim_requests()] == ["codestral:22b"] * 2
    stats = await stats_of(session)
    mistral = group(stats, variant="codestral-2508")
    local = group(stats, variant="codestral:22b@ollama")
    assert (mistral["model"], mistral["shown"], mistral["accepted"]) == ("codestral-2508", 2, 2)
    assert (local["model"], local["shown"], local["accepted"]) == ("codestral:22b", 2, 2)
    assert local["endpoint"] == ollama.url.split("//")[1]
    # Both go through the same cache: asking again where the first answer was costs nothing.
    inserted, _ = await item_at(session, "file:///work/trial_0.py", len("value_0 = "))
    assert inserted == "from_mistral()"
    assert len(fake.fim_requests()) + len(ollama.fim_requests()) == 4
