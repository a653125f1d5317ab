"""Health of the completion path: whether a request may go, pauses, user messages, status.

The engine (:mod:`codestral_ls.engine`) schedules and streams; it does not decide whether the
upstream is worth calling, and it tells nobody anything.  Before each request it asks
:meth:`Health.may_send` for a :class:`Permit`; when a request ends it hands over what happened
as an :class:`Outcome` (answered, superseded, failed with a
:class:`~codestral_ls.backends.errors.BackendError`, broken by an internal error); a request
that is never sent is reported as a :class:`Skip` (completions off, file excluded or
unsuitable, no key, insecure endpoint, paused).  From these the health object:

- keeps the circuit breaker (:mod:`codestral_ls.breaker`): a 401/403 or an unknown model
  pauses for :data:`REJECTED_PAUSE`, a 429 for its ``Retry-After`` (else the backoff), three
  transient failures in a row for the backoff; the first request after a pause is the probe;
- tells the user once per episode (:class:`~codestral_ls.notify.Notifier`): a success ends
  the upstream episodes, a settings change ends them all;
- keeps the state ``codestral/status`` reports (:attr:`Health.status`) and tells each of
  :attr:`Health.listeners` about every change (the server wires the status reporter there).

It has no LSP in it, no event loop and no network: a clock and a notifier are injected.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from lsprotocol import types

from .backends.errors import AuthenticationError, BackendError, BadRequestError, RateLimitedError
from .breaker import HALF_OPEN, Breaker
from .notify import Notifier
from .settings import Connection, Settings

logger = logging.getLogger(__name__)

#: Seconds completions pause after the key or the model is rejected (a settings change resumes).
REJECTED_PAUSE = 60.0

NO_KEY_MESSAGE = (
    "codestral-ls: no API key. Set CODESTRAL_API_KEY (a key from codestral.mistral.ai) or "
    "MISTRAL_API_KEY (a key from api.mistral.ai) in the environment the editor starts the "
    "server from; completions stay off until then."
)

#: Receives state changes: (state, human message, extra fields such as ``retryAfter``).
StateListener = Callable[[str, str, dict[str, Any]], None]


@dataclass(frozen=True)
class Permit:
    """Leave to send one request; handed back with the request's :class:`Outcome`."""

    model: str
    """The model asked (for the messages about it)."""
    endpoint: str
    probe: bool = False
    """Whether this request is the breaker's half-open probe."""


# --- what happened to a request that was sent ----------------------------------------------


@dataclass(frozen=True)
class Answered:
    """The upstream answered (whatever the text)."""

    permit: Permit


@dataclass(frozen=True)
class Superseded:
    """The request was cancelled (a newer keystroke, the client, shutdown) before it ended."""

    permit: Permit


@dataclass(frozen=True)
class Failed:
    """The upstream failed or refused the request."""

    permit: Permit
    error: BackendError


@dataclass(frozen=True)
class Broke:
    """A bug in the server ended the request (logged where it happened)."""

    permit: Permit


Outcome = Answered | Superseded | Failed | Broke


# --- why a request was not sent --------------------------------------------------------------


@dataclass(frozen=True)
class Skip:
    """No request went out.  ``reason`` is one of :data:`SKIP_REASONS`."""

    reason: str
    detail: str = ""
    """The language (disabled), what is wrong with the file (unsuitable), the problem
    (insecure)."""
    uri: str = ""


SKIP_REASONS = frozenset({"disabled", "unsuitable", "excluded", "insecure", "no-key", "paused"})


@dataclass(frozen=True)
class Shrunk:
    """The endpoint refused a prompt larger than its context; prompts are shortened from now
    on (:mod:`codestral_ls.overflow`)."""

    endpoint: str
    context: int | None
    prompt_tokens: int | None


class Gate(Protocol):
    """What the engine needs of the health object: leave to send, and a place for outcomes."""

    def may_send(self, model: str) -> Permit | None: ...

    def working(self, permit: Permit) -> None: ...

    def record(self, event: Outcome | Skip | Shrunk) -> None: ...


@dataclass
class Health:
    """Decides whether completions may reach the upstream, and says what is going on."""

    notifier: Notifier
    clock: Callable[[], float] = time.monotonic
    breaker: Breaker | None = None
    #: Told about every state change, in order (the server wires them; see docs/protocol.md).
    listeners: list[StateListener] = field(default_factory=list)

    settings: Settings = field(default_factory=Settings, init=False)
    connection: Connection = field(
        default_factory=lambda: Connection(endpoint="", api_key=None, key_source=None), init=False
    )
    #: The last state reported: (state, message, extra), or None before the first.
    status: tuple[str, str, dict[str, Any]] | None = field(default=None, init=False)
    _backend: str = field(default="", init=False)
    #: Requests sent and not yet settled: ``ready`` waits until none is left.
    _out: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.breaker is None:
            self.breaker = Breaker(threshold=3, base=2.0, ceiling=120.0, clock=self.clock)

    @property
    def _breaker(self) -> Breaker:
        assert self.breaker is not None
        return self.breaker

    # --- configuration -------------------------------------------------------------------

    def configure(
        self, settings: Settings, connection: Connection, *, requires_key: bool, backend: str = ""
    ) -> None:
        """Apply new settings.

        Any change resumes completions at once (a pause after a rejection, a 429 or failures
        ends: the next request goes out); a change of key, endpoint or model also starts a new
        episode, so a failure is told again.  Another ``backend`` (kind) starts afresh too.
        """
        changed = connection != self.connection or settings.model != self.settings.model
        if changed or settings != self.settings or backend != self._backend:
            self._breaker.reset()
        self.settings = settings
        self.connection = connection
        self._backend = backend
        if changed:
            self.notifier.resolve()
            if requires_key and not connection.api_key:
                self._state("unauthorized", "No API key")
            else:
                self._state("ready", f"Codestral ready ({settings.model})")
        if connection.api_key:
            self.notifier.resolve("no-key")

    @property
    def paused_for(self) -> float:
        """Seconds left before completions resume after a 429 or a rejection (0 if running)."""
        return self._breaker.retry_in

    def forget(self, uri: str) -> None:
        """A document closed: a problem told about it is over."""
        self.notifier.resolve(f"unsuitable:{uri}")

    # --- the gate ------------------------------------------------------------------------

    def may_send(self, model: str) -> Permit | None:
        """Leave to send a request for ``model`` now, or None while completions pause."""
        breaker = self._breaker
        probe = breaker.state == HALF_OPEN
        if not breaker.allow():
            return None
        self._out += 1
        return Permit(model=model, endpoint=self.connection.endpoint, probe=probe)

    def working(self, permit: Permit) -> None:
        """The request has been running long enough for a person to notice."""
        self._state("working", f"Asking {permit.model}")

    def record(self, event: Outcome | Skip | Shrunk) -> None:
        """Take in what happened: the end of a sent request, a request not sent, a prompt
        shortened to fit."""
        if isinstance(event, Skip):
            self._skipped(event)
        elif isinstance(event, Shrunk):
            self._shrunk(event)
        else:
            self._settle(event)

    # --- outcomes ------------------------------------------------------------------------

    def _settle(self, outcome: Outcome) -> None:
        permit = outcome.permit
        self._out = max(0, self._out - 1)
        breaker = self._breaker
        if isinstance(outcome, Answered):
            breaker.success()
            self.notifier.resolve()
            self._idle(permit.model)
        elif isinstance(outcome, Failed):
            self._failed(outcome.error, permit)
        elif isinstance(outcome, Broke):
            self._state("error", "Internal error; see the server log")
        else:
            self._idle(permit.model)
        # Every outcome settles a probe: one that neither succeeded nor failed (cancelled,
        # refused, an internal error) lets the next request probe again.
        if permit.probe:
            breaker.released()

    def _idle(self, model: str) -> None:
        """Back to ``ready`` unless another request is still out."""
        if not self._out:
            self._state("ready", f"Codestral ready ({model})")

    def _failed(self, error: BackendError, permit: Permit) -> None:
        """Pause and tell the user, once per episode, about an upstream failure."""
        logger.info("completion failed: %s", error.message)
        breaker = self._breaker
        endpoint = permit.endpoint
        if isinstance(error, AuthenticationError):
            pause = breaker.open(REJECTED_PAUSE)
            self.notifier.once("auth", f"codestral-ls: {error.message}", types.MessageType.Error)
            self._state("unauthorized", error.message, retryAfter=pause)
        elif isinstance(error, BadRequestError) and error.is_unknown_model:
            pause = breaker.open(REJECTED_PAUSE)
            self.notifier.once(
                f"model:{permit.model}",
                f"codestral-ls: the model '{permit.model}' is not available at "
                f"{endpoint} ({error.message}). Pick another with the "
                "'codestral.selectModel' command or the 'codestral.model' setting.",
                types.MessageType.Error,
            )
            self._state("error", f"Unknown model {permit.model}", retryAfter=pause)
        elif isinstance(error, RateLimitedError):
            wait = breaker.open(error.retry_after)
            self.notifier.once(
                "rate-limit",
                f"codestral-ls: rate limited by {endpoint}; completions pause for {wait:.0f} s.",
            )
            self._state("rateLimited", f"Rate limited; retrying in {wait:.0f} s", retryAfter=wait)
        elif isinstance(error, BadRequestError):
            # Other 4xx: this request was refused; the next one (other context) may pass.  The
            # upstream answered, so a breaker that was probing closes.
            breaker.success()
            self.notifier.once("bad-request", f"codestral-ls: {error.message}")
            self._state("error", error.message)
        else:
            pause = breaker.failure()
            suffix = f" Pausing completions for {pause:.0f} s." if pause else ""
            self.notifier.once("upstream", f"codestral-ls: {error.message}{suffix}")
            if pause:
                self._state("error", error.message + suffix, retryAfter=pause)
            else:
                self._state("error", error.message)

    # --- requests not sent ---------------------------------------------------------------

    def _skipped(self, skip: Skip) -> None:
        reason = skip.reason
        if reason == "disabled":
            self._state("disabled", f"Completions are off for {skip.detail or 'this file'}")
        elif reason == "unsuitable":
            name = skip.uri.rsplit("/", 1)[-1]
            self.notifier.once(
                f"unsuitable:{skip.uri}",
                f"codestral-ls: {name} {skip.detail}; no completions in it.",
                types.MessageType.Info,
            )
            self._state("excluded", f"{name} {skip.detail}")
        elif reason == "excluded":
            self._state("excluded", "This file is never sent to the model")
        elif reason == "insecure":
            self.notifier.once("insecure", skip.detail, types.MessageType.Error)
            self._state("error", skip.detail)
        elif reason == "no-key":
            self.notifier.once("no-key", NO_KEY_MESSAGE, types.MessageType.Warning)
            self._state("unauthorized", "No API key")
        # "paused": already told when the pause began.

    def _shrunk(self, shrunk: Shrunk) -> None:
        """Say once per endpoint that prompts are shortened to fit its context."""
        endpoint = shrunk.endpoint
        size = f"a context of {shrunk.context} tokens" if shrunk.context else "a smaller context"
        refused = (
            f" refused a prompt of {shrunk.prompt_tokens} tokens:" if shrunk.prompt_tokens else ""
        )
        self.notifier.once(
            f"context-size:{endpoint}",
            f"codestral-ls: {endpoint}{refused} it runs with {size}, so prompts are "
            "shortened to fit from now on (start the server with a larger context, e.g. "
            "llama-server -c 8192, for more).",
            types.MessageType.Info,
        )

    # --- status --------------------------------------------------------------------------

    def _state(self, state: str, message: str, **extra: Any) -> None:
        self.status = (state, message, extra)
        for listener in list(self.listeners):
            try:
                listener(state, message, extra)
            except Exception:  # a listener must never break a completion
                logger.exception("state listener failed")
