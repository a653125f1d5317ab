"""The status reporter: sends on state or model changes only, with the documented payload."""

from __future__ import annotations

from typing import Any

import pytest

from codestral_ls.status import STATES, StatusReporter, opted_in


class Recorder:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.model = "codestral-latest"

    def reporter(self) -> StatusReporter:
        return StatusReporter(self.sent.append, lambda: self.model)


def test_states_are_the_documented_ones() -> None:
    assert set(STATES) == {
        "ready",
        "working",
        "disabled",
        "excluded",
        "error",
        "rateLimited",
        "unauthorized",
    }


def test_sends_only_when_the_state_changes() -> None:
    recorder = Recorder()
    status = recorder.reporter()
    assert status.last is None
    assert status.update("ready", "Codestral ready", {})
    assert not status.update("ready", "Codestral ready again", {})
    assert status.update("working", "Asking codestral-latest", {})
    assert not status.update("working", "Asking codestral-latest", {})
    assert status.update("ready", "Codestral ready", {})
    assert [p["state"] for p in recorder.sent] == ["ready", "working", "ready"]
    assert recorder.sent[0] == {
        "state": "ready",
        "model": "codestral-latest",
        "message": "Codestral ready",
    }
    assert status.last == recorder.sent[-1]
    assert status.state == "ready"


def test_a_new_problem_replaces_the_old_one() -> None:
    # Issue 12: the status stayed at "connection broke" through later failures and pauses.
    recorder = Recorder()
    status = recorder.reporter()
    assert status.update("error", "127.0.0.1:8080: the connection broke", {})
    assert not status.update("error", "127.0.0.1:8080: the connection broke", {})
    assert status.update("error", "127.0.0.1:8080: connection refused", {})
    assert status.update(
        "error", "127.0.0.1:8080: connection refused Pausing completions for 2 s.", {}
    )
    assert [p["message"] for p in recorder.sent] == [
        "127.0.0.1:8080: the connection broke",
        "127.0.0.1:8080: connection refused",
        "127.0.0.1:8080: connection refused Pausing completions for 2 s.",
    ]
    assert status.update("ready", "Codestral ready", {})


def test_a_model_change_is_sent_even_in_the_same_state() -> None:
    recorder = Recorder()
    status = recorder.reporter()
    status.update("ready", "ready", {})
    recorder.model = "codestral-2508"
    assert status.update("ready", "ready", {})
    assert [p["model"] for p in recorder.sent] == ["codestral-latest", "codestral-2508"]


def test_optional_fields() -> None:
    recorder = Recorder()
    status = recorder.reporter()
    status.update("rateLimited", "Rate limited; retrying in 2 s", {"retryAfter": 1.2})
    status.update("disabled", "off", {"uri": "file:///a.md", "other": 1})
    status.update("error", "boom", {"retryAfter": float("nan"), "uri": ""})
    assert recorder.sent == [
        {
            "state": "rateLimited",
            "model": "codestral-latest",
            "message": "Rate limited; retrying in 2 s",
            "retryAfter": 2,
        },
        {"state": "disabled", "model": "codestral-latest", "message": "off", "uri": "file:///a.md"},
        {"state": "error", "model": "codestral-latest", "message": "boom"},
    ]


def test_last_is_a_copy() -> None:
    recorder = Recorder()
    status = recorder.reporter()
    status.update("ready", "ready")
    last = status.last
    assert last is not None
    last["state"] = "mutated"
    assert status.state == "ready"


def test_model_changed_resends_the_last_state_with_the_new_model() -> None:
    recorder = Recorder()
    status = recorder.reporter()
    assert not status.model_changed()  # nothing sent yet
    status.update("rateLimited", "wait", {"retryAfter": 3})
    assert not status.model_changed()  # same model
    recorder.model = "codestral-2508"
    assert status.model_changed("ready", "Codestral ready (codestral-2508)")
    assert recorder.sent[-1] == {
        "state": "ready",
        "model": "codestral-2508",
        "message": "Codestral ready (codestral-2508)",
    }
    recorder.model = "other"
    assert status.model_changed()
    assert recorder.sent[-1]["state"] == "ready" and recorder.sent[-1]["model"] == "other"


def test_a_failing_transport_never_breaks_the_caller() -> None:
    def broken(payload: dict[str, Any]) -> None:
        raise BrokenPipeError

    status = StatusReporter(broken, lambda: "m")
    assert not status.update("ready", "ready", {})
    assert status.state == "ready"  # remembered, so the transport is not retried per key


def test_the_engine_may_name_the_model() -> None:
    recorder = Recorder()
    status = recorder.reporter()
    status.update("working", "Asking my-python-model", {"model": "my-python-model"})
    assert recorder.sent[-1]["model"] == "my-python-model"
    assert status.update("working", "Asking codestral-latest", {})  # the model changed back
    assert recorder.sent[-1]["model"] == "codestral-latest"


@pytest.mark.parametrize(
    "experimental, expected",
    [
        ({"codestral": {"statusNotification": True}}, True),
        ({"codestral": {"statusNotification": True, "other": 1}, "x": {}}, True),
        ({"codestral": {"statusNotification": False}}, False),
        ({"codestral": {"statusNotification": 1}}, False),
        ({"codestral": {"statusNotification": "true"}}, False),
        ({"codestral": True}, False),
        ({"statusNotification": True}, False),
        ({"serverStatusNotification": True}, False),
        ({}, False),
        (None, False),
        ([], False),
    ],
)
def test_only_the_documented_opt_in_asks_for_the_notification(
    experimental: Any, expected: bool
) -> None:
    assert opted_in(experimental) is expected
