"""Model catalog, model commands and status notifications, through the protocol."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.e2e.conftest import Session, Starter
from tests.fake_mistral import MODELS_PATH, FakeMistral

URI = "file:///work/models.py"
TEXT = "x = "


def state_env(tmp_path: Path) -> dict[str, str | None]:
    return {"CODESTRAL_LS_STATE_DIR": str(tmp_path)}


async def command(session: Session, name: str, options: dict[str, Any] | None = None) -> Any:
    return await session.client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command=name, arguments=[options] if options is not None else None
        )
    )


def answer_questions(session: Session, answer: str | None) -> list[list[str]]:
    """Answer every ``window/showMessageRequest`` with ``answer``; returns the offered titles."""
    offered: list[list[str]] = []

    @session.client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def on_question(params: types.ShowMessageRequestParams) -> types.MessageActionItem | None:
        offered.append([action.title for action in params.actions or []])
        return types.MessageActionItem(title=answer) if answer is not None else None

    return offered


def collect_status(session: Session) -> list[dict[str, Any]]:
    """``codestral/status`` payloads received from now on."""
    seen: list[dict[str, Any]] = []

    @session.client.feature("codestral/status")
    def on_status(params: Any) -> None:
        # pygls hands unknown notifications' params over as namedtuples.
        seen.append(params._asdict() if hasattr(params, "_asdict") else dict(params))

    return seen


def models_requests(fake: FakeMistral) -> int:
    # the key-less GET of the backend probe is not a catalog fetch
    return sum(
        1
        for r in fake.requests
        if r.method == "GET" and r.path == MODELS_PATH and "authorization" in r.headers
    )


async def complete_model(session: Session, fake: FakeMistral) -> str:
    """Ask for a completion and return the model the FIM request named."""
    before = len(fake.fim_requests())
    session.replace(URI, len(session.texts[URI]), len(session.texts[URI]), " ")
    await session.complete_at(URI, len(session.texts[URI]))
    requests = fake.fim_requests()
    assert len(requests) == before + 1
    assert requests[-1].errors == []
    body = requests[-1].body
    assert body is not None
    return str(body["model"])


# --- listing --------------------------------------------------------------------------------


async def test_commands_are_advertised(start: Starter, tmp_path: Path) -> None:
    session = await start(env=state_env(tmp_path))
    provider = session.result.capabilities.execute_command_provider
    assert provider is not None
    assert {"codestral.listModels", "codestral.selectModel", "codestral.status"} <= set(
        provider.commands
    )


async def test_list_models_shape_cache_and_progress(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    session = await start({"chatModel": "mistral-large-2411"}, env=state_env(tmp_path))
    result = await command(session, "codestral.listModels")
    assert result["endpoint"] == fake.url
    assert result["backend"] == "mistral"
    assert result["completionModel"] == "codestral-latest"
    assert result["chatModel"] == "mistral-large-2411"
    by_id = {model["id"]: model for model in result["models"]}
    assert set(by_id) == {
        "codestral-2508",
        "mistral-large-latest",
        "mistral-embed",
        "codestral-2405",
    }
    assert by_id["codestral-2508"] == {
        "id": "codestral-2508",
        "name": "codestral-2508",
        "aliases": ["codestral-latest"],
        "fim": True,
        "chat": True,
        "contextLength": 256000,
        "deprecation": None,
        "replacement": None,
        "inUse": ["completion"],  # in use through its alias
    }
    assert by_id["mistral-large-latest"]["inUse"] == ["chat"]
    assert by_id["codestral-2405"]["deprecation"] == "2025-05-31T12:00:00Z"
    assert by_id["codestral-2405"]["replacement"] == "codestral-2508"
    assert by_id["mistral-embed"]["fim"] is False and by_id["mistral-embed"]["chat"] is False

    # Fetched once (in the background after start-up), then served from the cache...
    assert models_requests(fake) == 1
    await command(session, "codestral.listModels", {"refresh": False})
    assert models_requests(fake) == 1
    # ...until a refresh is asked for.
    await command(session, "codestral.listModels", {"refresh": True})
    assert models_requests(fake) == 2

    # Each fetch was shown as work-done progress that began and ended.
    reports = [r for r in session.client.progress_reports.values() if r]
    assert len(reports) == 2
    for report in reports:
        assert isinstance(report[0], types.WorkDoneProgressBegin)
        assert isinstance(report[-1], types.WorkDoneProgressEnd)


async def test_in_use_by_id(start: Starter, tmp_path: Path) -> None:
    session = await start(
        {"model": "codestral-2508", "chatModel": "codestral-latest"}, env=state_env(tmp_path)
    )
    result = await command(session, "codestral.listModels")
    [codestral] = [m for m in result["models"] if m["id"] == "codestral-2508"]
    assert codestral["inUse"] == ["completion", "chat"]
    assert all(m["inUse"] == [] for m in result["models"] if m["id"] != "codestral-2508")


async def test_list_models_failure_is_a_readable_error(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    fake.valid_keys = {"some-other-key"}  # the test key is rejected, /v1/models answers 401
    session = await start(env=state_env(tmp_path))
    with pytest.raises(JsonRpcException) as raised:
        await command(session, "codestral.listModels", {"refresh": True})
    assert raised.value.code == types.LSPErrorCodes.RequestFailed
    message = raised.value.message
    assert "could not get the model list from 127.0.0.1" in message
    assert "test-key" not in message
    assert "\n" not in message
    # The server is still up and answers.
    status = await command(session, "codestral.status")
    assert status["state"] in {"ready", "unauthorized"}


async def test_bad_arguments_are_refused(start: Starter, tmp_path: Path) -> None:
    session = await start(env=state_env(tmp_path))
    with pytest.raises(JsonRpcException, match="refresh"):
        await command(session, "codestral.listModels", {"refresh": "yes"})
    with pytest.raises(JsonRpcException, match="kind"):
        await command(session, "codestral.selectModel", {"model": "codestral-2508", "kind": "x"})
    with pytest.raises(JsonRpcException, match="model id"):
        await command(session, "codestral.selectModel", {"model": "two\nlines"})
    # Any printable id may exist somewhere: the endpoint's list is what refuses it.
    with pytest.raises(JsonRpcException, match="has no model 'two words'"):
        await command(session, "codestral.selectModel", {"model": "two words"})
    with pytest.raises(JsonRpcException, match="one JSON object") as raised:
        await session.client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="codestral.selectModel", arguments=["codestral-2508"]
            )
        )
    assert raised.value.code == types.ErrorCodes.InvalidParams
    listing = await command(session, "codestral.listModels")
    assert listing["completionModel"] == "codestral-latest"  # nothing changed


# --- selecting ------------------------------------------------------------------------------


async def test_picker_offers_fim_models_and_the_choice_applies_to_the_next_request(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    session = await start(env=state_env(tmp_path))
    offered = answer_questions(session, "codestral-2508 (codestral-latest)")
    session.open(URI, TEXT)
    assert await complete_model(session, fake) == "codestral-latest"

    result = await command(session, "codestral.selectModel")
    # FIM models, with their aliases; deprecated last
    assert offered == [["codestral-2508 (codestral-latest)", "codestral-2405"]]
    assert result == {"model": "codestral-2508", "kind": "completion", "persisted": True}
    assert await complete_model(session, fake) == "codestral-2508"

    saved = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))
    assert saved["models"] == {fake.url: {"completion": "codestral-2508"}}


async def test_chat_picker_offers_chat_models_and_dismissal_changes_nothing(
    start: Starter, tmp_path: Path
) -> None:
    session = await start(env=state_env(tmp_path))
    offered = answer_questions(session, None)
    result = await command(session, "codestral.selectModel", {"kind": "chat"})
    assert result is None
    assert offered == [
        [
            "codestral-2508 (codestral-latest)",
            "mistral-large-latest (mistral-large-2411)",
            "codestral-2405",
        ]
    ]
    assert not (tmp_path / "state.json").exists()
    listing = await command(session, "codestral.listModels")
    assert listing["chatModel"] == "codestral-latest"


async def test_choice_survives_a_restart(start: Starter, fake: FakeMistral, tmp_path: Path) -> None:
    first = await start(env=state_env(tmp_path))
    result = await command(first, "codestral.selectModel", {"model": "codestral-2508"})
    assert result == {"model": "codestral-2508", "kind": "completion", "persisted": True}
    chat = await command(
        first, "codestral.selectModel", {"model": "mistral-large-latest", "kind": "chat"}
    )
    assert chat == {"model": "mistral-large-latest", "kind": "chat", "persisted": True}

    second = await start(env=state_env(tmp_path))
    second.open(URI, TEXT)
    assert await complete_model(second, fake) == "codestral-2508"
    listing = await command(second, "codestral.listModels")
    assert listing["completionModel"] == "codestral-2508"
    assert listing["chatModel"] == "mistral-large-latest"


async def test_a_pinned_setting_wins_and_the_command_says_so(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    # A choice remembered from an earlier run does not override the setting either.
    remembered = {"version": 2, "models": {fake.url: {"completion": "codestral-2405"}}}
    (tmp_path / "state.json").write_text(json.dumps(remembered), encoding="utf-8")
    session = await start({"model": "codestral-2508"}, env=state_env(tmp_path))
    offered = answer_questions(session, "codestral-2405")
    session.open(URI, TEXT)
    assert await complete_model(session, fake) == "codestral-2508"

    result = await command(session, "codestral.selectModel", {"model": "codestral-2405"})
    assert result == {
        "model": "codestral-2508",
        "kind": "completion",
        "persisted": False,
        "pinnedBy": "codestral.model",
    }
    assert await command(session, "codestral.selectModel") == result  # no question asked
    assert offered == []
    pinned = [m for m in session.messages if "'codestral.model'" in m]
    assert pinned and "codestral-2508" in pinned[0]
    assert await complete_model(session, fake) == "codestral-2508"
    saved = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))
    assert saved == remembered  # untouched


async def test_unknown_or_incapable_models_are_refused(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    session = await start(env=state_env(tmp_path))
    session.open(URI, TEXT)
    with pytest.raises(JsonRpcException) as unknown:
        await command(session, "codestral.selectModel", {"model": "codestral-9999"})
    assert "codestral-9999" in unknown.value.message
    assert "codestral.listModels" in unknown.value.message
    with pytest.raises(JsonRpcException) as incapable:
        await command(session, "codestral.selectModel", {"model": "mistral-large-latest"})
    assert "cannot do completions" in incapable.value.message
    assert await complete_model(session, fake) == "codestral-latest"
    assert not (tmp_path / "state.json").exists()
    # An alias is a known name; a chat-only model is fine for chat.
    result = await command(
        session, "codestral.selectModel", {"model": "mistral-large-2411", "kind": "chat"}
    )
    assert result == {"model": "mistral-large-2411", "kind": "chat", "persisted": True}
    listing = await command(session, "codestral.listModels")
    assert listing["chatModel"] == "mistral-large-2411"
    [large] = [m for m in listing["models"] if m["id"] == "mistral-large-latest"]
    assert large["inUse"] == ["chat"]


async def test_corrupt_state_file_is_ignored(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    (tmp_path / "state.json").write_text("{ not json", encoding="utf-8")
    session = await start(env=state_env(tmp_path))
    session.open(URI, TEXT)
    assert await complete_model(session, fake) == "codestral-latest"
    result = await command(session, "codestral.selectModel", {"model": "codestral-2508"})
    assert result["persisted"] is True
    assert json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))["models"] == {
        fake.url: {"completion": "codestral-2508"}
    }


# --- deprecation ----------------------------------------------------------------------------


async def test_deprecated_model_is_warned_about_once(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    session = await start({"model": "codestral-2405"}, env=state_env(tmp_path))
    await command(session, "codestral.listModels")
    session.open(URI, TEXT)
    assert await complete_model(session, fake) == "codestral-2405"
    assert await complete_model(session, fake) == "codestral-2405"
    await command(session, "codestral.listModels", {"refresh": True})
    warnings = [m for m in session.messages if "deprecated" in m]
    assert len(warnings) == 1
    assert "'codestral-2405'" in warnings[0] and "'codestral-2508'" in warnings[0]


async def test_selecting_a_deprecated_model_warns(start: Starter, tmp_path: Path) -> None:
    session = await start(env=state_env(tmp_path))
    await command(session, "codestral.listModels")
    assert not [m for m in session.messages if "deprecated" in m]
    await command(session, "codestral.selectModel", {"model": "codestral-2405"})
    [warning] = [m for m in session.messages if "deprecated" in m]
    assert "'codestral-2508'" in warning


# --- status ---------------------------------------------------------------------------------


async def test_initial_status(start: Starter, tmp_path: Path) -> None:
    session = await start(env=state_env(tmp_path))
    status = await command(session, "codestral.status")
    assert status["state"] == "ready"
    assert status["model"] == "codestral-latest"
    assert "127.0.0.1" in status["message"]


async def test_initial_status_without_a_key(start: Starter, tmp_path: Path) -> None:
    session = await start(
        env={**state_env(tmp_path), "CODESTRAL_API_KEY": None, "MISTRAL_API_KEY": None}
    )
    status = await command(session, "codestral.status")
    assert status == {"state": "unauthorized", "model": "codestral-latest", "message": "No API key"}
    with pytest.raises(JsonRpcException, match="no API key"):
        await command(session, "codestral.listModels")


def settled(seen: list[dict[str, Any]]) -> list[str]:
    """The states reported, without ``working``: a request that takes over 250 ms (a loaded
    machine) reports it in between, which is not what these tests are about."""
    return [s["state"] for s in seen if s["state"] != "working"]


async def test_status_on_401_and_recovery(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    session = await start(configuration={}, env=state_env(tmp_path))
    seen = collect_status(session)
    session.open(URI, TEXT)
    fake.fail_next(401, {"message": "Unauthorized", "request_id": "r"})
    assert await session.complete_at(URI, len(TEXT)) is None
    assert settled(seen) == ["ready", "unauthorized"]
    assert (await command(session, "codestral.status"))["state"] == "unauthorized"

    # A new key lifts the pause: the next request works and the status is ready again.
    session.client.set_configuration({"apiKey": "a-new-key"}, section="codestral")
    session.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings=None)
    )
    assert await session.complete_at(URI, len(TEXT)) == "pass"
    # the settings change itself says "ready" (the key is no longer the rejected one)
    assert settled(seen) == ["ready", "unauthorized", "ready"]
    assert all(s["model"] == "codestral-latest" for s in seen)
    assert (await command(session, "codestral.status"))["state"] == "ready"


async def test_status_on_429_and_recovery(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    session = await start(env=state_env(tmp_path))
    seen = collect_status(session)
    session.open(URI, TEXT)
    fake.fail_next(429, None, headers={"Retry-After": "0"})
    assert await session.complete_at(URI, len(TEXT)) is None
    limited = seen[-1]
    assert limited["state"] == "rateLimited"
    assert limited["retryAfter"] == 0
    assert await session.complete_at(URI, len(TEXT)) == "pass"
    assert settled(seen) == ["ready", "rateLimited", "ready"]


async def test_status_is_working_while_a_request_takes_its_time(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    """A slow answer shows ``working`` until it ends, then ``ready``.

    That a fast answer does not flicker the status depends on how fast this machine is, so it is
    not asserted here (a timing assertion would make CI flaky); the delay is one constant,
    ``engine.WORKING_DELAY``.
    """
    session = await start(env=state_env(tmp_path))
    seen = collect_status(session)
    session.open(URI, TEXT)
    assert await session.complete_at(URI, len(TEXT)) == "pass"
    gate = fake.gate()
    session.replace(URI, len(TEXT), len(TEXT), "\n")
    _, pending = session.request_at(URI, len(TEXT) + 1)
    await session.client.wait_for_notification("codestral/status")
    assert seen[-1]["state"] == "working"
    gate.set()
    assert session.inserted(await pending) is not None
    assert seen[-1]["state"] == "ready"


async def test_status_follows_a_model_switch(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    session = await start(env=state_env(tmp_path))
    seen = collect_status(session)
    await command(session, "codestral.status")
    await command(session, "codestral.selectModel", {"model": "codestral-2508"})
    assert [(s["state"], s["model"]) for s in seen][-1] == ("ready", "codestral-2508")
    status = await command(session, "codestral.status")
    assert status["model"] == "codestral-2508"
