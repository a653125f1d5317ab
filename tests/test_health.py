"""The health object alone: a fake clock, a recording notifier and listener, no LSP, no loop."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from lsprotocol import types

from codestral_ls.backends.errors import (
    AuthenticationError,
    BackendError,
    BadRequestError,
    NetworkError,
    RateLimitedError,
    ServerError,
    UpstreamTimeout,
)
from codestral_ls.breaker import Breaker
from codestral_ls.health import (
    NO_KEY_MESSAGE,
    REJECTED_PAUSE,
    Answered,
    Broke,
    Failed,
    Health,
    Permit,
    Shrunk,
    Skip,
    Superseded,
)
from codestral_ls.notify import Notifier
from codestral_ls.settings import Connection, Settings

CONNECTION = Connection("http://h", "k", "apiKey")


class World:
    """A health object with a clock that moves only when told, and what it said."""

    def __init__(self, **breaker: Any) -> None:
        self.now = 1000.0
        self.shown: list[tuple[types.MessageType, str]] = []
        self.states: list[tuple[str, str, dict[str, Any]]] = []
        self.health = Health(
            Notifier(lambda kind, message: self.shown.append((kind, message))),
            clock=lambda: self.now,
            breaker=Breaker(
                **{"threshold": 3, "base": 2.0, "jitter": 0.0, **breaker},
                clock=lambda: self.now,
            ),
        )
        self.health.listeners.append(
            lambda state, message, extra: self.states.append((state, message, dict(extra)))
        )
        self.health.configure(Settings(), CONNECTION, requires_key=True, backend="mistral")

    @property
    def messages(self) -> list[str]:
        return [message for _, message in self.shown]

    @property
    def last_state(self) -> str:
        return self.states[-1][0]

    def send(self) -> Permit:
        permit = self.health.may_send("codestral-latest")
        assert permit is not None
        return permit

    def fail(self, error: BackendError) -> None:
        self.health.record(Failed(self.send(), error))


def test_configure_reports_ready_or_a_missing_key() -> None:
    world = World()
    assert world.states == [("ready", "Codestral ready (codestral-latest)", {})]
    world.health.configure(
        Settings(), Connection("http://other", None, None), requires_key=True, backend="mistral"
    )
    assert world.last_state == "unauthorized"
    assert world.health.status is not None and world.health.status[0] == "unauthorized"


def test_an_answer_closes_ends_the_episode_and_is_ready() -> None:
    world = World()
    world.fail(ServerError("upstream broke", status=500))
    assert world.last_state == "error"
    world.health.record(Answered(world.send()))
    assert world.last_state == "ready"
    world.fail(ServerError("upstream broke", status=500))
    assert world.messages == ["codestral-ls: upstream broke"] * 2  # a new episode is told again


def test_ready_waits_until_no_request_is_out() -> None:
    world = World()
    first, second = world.send(), world.send()
    world.health.working(first)
    assert world.last_state == "working"
    world.health.record(Superseded(first))
    assert world.last_state == "working"  # the second request is still under way
    world.health.record(Answered(second))
    assert world.last_state == "ready"


def test_three_transient_failures_pause_and_the_probe_resumes() -> None:
    world = World()
    for _ in range(2):
        world.fail(NetworkError("connection reset"))
    assert world.health.paused_for == 0.0
    world.fail(UpstreamTimeout("no answer"))
    assert world.health.paused_for == pytest.approx(2.0)
    assert world.states[-1][2] == {"retryAfter": pytest.approx(2.0)}
    assert world.health.may_send("m") is None  # paused
    world.now += 2.0
    probe = world.health.may_send("m")
    assert probe is not None and probe.probe
    assert world.health.may_send("m") is None  # one probe at a time
    world.health.record(Answered(probe))
    assert world.health.may_send("m") is not None
    assert world.messages == ["codestral-ls: connection reset"]  # one episode, one message


@pytest.mark.parametrize("outcome", [Superseded, Broke])
def test_a_probe_that_tells_nothing_lets_the_next_request_probe(outcome: Any) -> None:
    world = World()
    world.health.record(Failed(world.send(), RateLimitedError("slow down", retry_after=5.0)))
    world.now += 5.0
    probe = world.send()
    assert probe.probe
    world.health.record(outcome(probe))
    again = world.health.may_send("m")
    assert again is not None and again.probe


def test_a_rejected_key_pauses_a_minute_and_is_told_once() -> None:
    world = World()
    world.fail(AuthenticationError("key rejected", status=401))
    assert world.health.paused_for == pytest.approx(REJECTED_PAUSE)
    assert world.states[-1] == ("unauthorized", "key rejected", {"retryAfter": REJECTED_PAUSE})
    world.now += REJECTED_PAUSE
    world.fail(AuthenticationError("key rejected", status=401))
    assert world.shown == [(types.MessageType.Error, "codestral-ls: key rejected")]


def test_an_unknown_model_names_the_model_and_the_endpoint() -> None:
    world = World()
    error = BadRequestError("Invalid model: x", status=400, model="x", detail="Invalid model: x")
    world.health.record(Failed(Permit("x", "http://h"), error))
    assert world.health.paused_for == pytest.approx(REJECTED_PAUSE)
    assert "the model 'x' is not available at http://h" in world.messages[0]
    assert world.last_state == "error"


def test_a_rate_limit_pauses_for_retry_after() -> None:
    world = World()
    world.fail(RateLimitedError("slow down", retry_after=30.0))
    assert world.health.paused_for == pytest.approx(30.0)
    assert world.states[-1] == (
        "rateLimited",
        "Rate limited; retrying in 30 s",
        {"retryAfter": 30.0},
    )
    assert world.messages == ["codestral-ls: rate limited by http://h; completions pause for 30 s."]


def test_a_refused_request_does_not_pause() -> None:
    world = World()
    world.fail(BadRequestError("too long", status=422, model="m", detail="too long"))
    assert world.health.paused_for == 0.0
    assert world.last_state == "error"


def test_any_settings_change_resumes_and_a_new_endpoint_tells_again() -> None:
    world = World()
    world.fail(AuthenticationError("key rejected", status=401))
    world.health.configure(
        Settings(debounceMs=10), CONNECTION, requires_key=True, backend="mistral"
    )
    assert world.health.paused_for == 0.0  # resumed, same episode
    world.fail(AuthenticationError("key rejected", status=401))
    assert len(world.shown) == 1
    world.health.configure(
        Settings(debounceMs=10), Connection("http://h", "k2", "apiKey"), requires_key=True
    )
    assert world.health.paused_for == 0.0
    world.fail(AuthenticationError("key rejected", status=401))
    assert len(world.shown) == 2  # another key: told again


def test_another_backend_resumes() -> None:
    world = World()
    world.fail(RateLimitedError("slow down", retry_after=30.0))
    world.health.configure(Settings(), CONNECTION, requires_key=False, backend="ollama")
    assert world.health.may_send("m") is not None


def test_requests_not_sent_set_the_state_and_tell_once() -> None:
    world = World()
    world.health.record(Skip("disabled", "markdown"))
    assert world.states[-1][:2] == ("disabled", "Completions are off for markdown")
    world.health.record(Skip("excluded"))
    assert world.last_state == "excluded"
    for _ in range(2):
        world.health.record(Skip("unsuitable", "looks binary (it has NUL bytes)", "file:///a.bin"))
        world.health.record(Skip("no-key"))
        world.health.record(Skip("insecure", "plain HTTP to another machine"))
    assert world.messages == [
        "codestral-ls: a.bin looks binary (it has NUL bytes); no completions in it.",
        NO_KEY_MESSAGE,
        "plain HTTP to another machine",
    ]
    world.health.forget("file:///a.bin")  # closed: told again when reopened
    world.health.record(Skip("unsuitable", "looks binary (it has NUL bytes)", "file:///a.bin"))
    assert len(world.messages) == 4
    states = len(world.states)
    world.health.record(Skip("paused"))  # told when the pause began
    assert len(world.states) == states


def test_a_shortened_prompt_is_told_once_per_endpoint() -> None:
    world = World()
    for _ in range(2):
        world.health.record(Shrunk("http://a", 4096, 5000))
    world.health.record(Shrunk("http://b", None, None))
    assert len(world.shown) == 2
    assert (
        "refused a prompt of 5000 tokens: it runs with a context of 4096 tokens"
        in (world.messages[0])
    )
    assert world.shown[1][0] == types.MessageType.Info


def test_a_failing_listener_breaks_nothing() -> None:
    world = World()

    def broken(state: str, message: str, extra: dict[str, Any]) -> None:
        raise RuntimeError("listener bug")

    world.health.listeners.insert(0, broken)
    world.health.record(Answered(world.send()))
    assert world.last_state == "ready"  # the next listener still heard it


OUTCOMES = st.one_of(
    st.just(("ok", None)),
    st.just(("superseded", None)),
    st.just(("broke", None)),
    st.tuples(st.just("4xx"), st.sampled_from([400, 401, 403, 422])),
    st.tuples(
        st.just("429"),
        st.one_of(st.none(), st.floats(min_value=0, max_value=600, allow_nan=False)),
    ),
    st.tuples(st.just("5xx"), st.sampled_from([500, 502, 503, 504])),
    st.just(("network", None)),
)


@given(
    steps=st.lists(
        st.tuples(OUTCOMES, st.floats(min_value=0, max_value=200, allow_nan=False)), max_size=15
    )
)
@hypothesis_settings(max_examples=300, deadline=None, database=None)
def test_no_sequence_of_outcomes_pauses_longer_than_announced(
    steps: list[tuple[tuple[str, Any], float]],
) -> None:
    """Whatever the outcomes and the time between them, once the longest pause announced
    (``retryAfter``) has passed a request may go out."""
    world = World(jitter=0.2)
    for (kind, value), gap in steps:
        world.now += gap
        permit = world.health.may_send("codestral-latest")
        if permit is None:
            continue
        if kind == "ok":
            world.health.record(Answered(permit))
        elif kind == "superseded":
            world.health.record(Superseded(permit))
        elif kind == "broke":
            world.health.record(Broke(permit))
        elif kind == "4xx":
            error: BackendError = (
                AuthenticationError("rejected", status=value)
                if value in (401, 403)
                else BadRequestError("Invalid model: x", status=value, model="x", detail="x")
            )
            world.health.record(Failed(permit, error))
        elif kind == "429":
            world.health.record(Failed(permit, RateLimitedError("slow", retry_after=value)))
        elif kind == "5xx":
            world.health.record(Failed(permit, ServerError("broken", status=value)))
        else:
            world.health.record(Failed(permit, NetworkError("reset")))
    announced = [extra["retryAfter"] for _, _, extra in world.states if "retryAfter" in extra]
    world.now += max(announced, default=0.0) + 1e-6
    assert world.health.may_send("codestral-latest") is not None
