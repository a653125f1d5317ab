"""The ``codestral/status`` notification: what state the server is in, sent when it changes.

:class:`StatusReporter` receives every state the engine goes through (``update`` has the
signature of the engine's ``on_state`` listener) and sends a payload only when the state or the
model differs from the last one sent (or a problem state's message does), so a status bar
follows the server without a message per keystroke.  The payload (see docs/protocol.md)::

    {"state": "ready", "model": "codestral-latest", "message": "Codestral ready (...)"}

with ``uri`` and ``retryAfter`` (seconds, with ``rateLimited``) when the engine gives them.
It goes only to clients that opted in (:func:`opted_in`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

logger = logging.getLogger(__name__)

NOTIFICATION = "codestral/status"

#: Every state, with what it means (docs/protocol.md).
STATES = {
    "ready": "idle, completions available",
    "working": "a request to the model is under way",
    "disabled": "completions are off for the document (setting enable)",
    "excluded": "the current file is excluded from being sent (secrets)",
    "error": "the last request failed (network, server error, unknown model)",
    "rateLimited": "paused after a 429 until the time in message",
    "unauthorized": "the key was rejected (401/403) or is missing",
}

Payload = dict[str, Any]

#: States sent again when only their message changes (what went wrong, how long the pause).
RESTATED = frozenset({"error", "rateLimited", "unauthorized"})


def opted_in(experimental: Any) -> bool:
    """Whether a client's ``experimental`` capabilities ask for ``codestral/status``:
    ``{"codestral": {"statusNotification": true}}`` (docs/protocol.md).  Only such clients get
    the notification; the others would not know the method."""
    if not isinstance(experimental, Mapping):
        return False
    codestral = experimental.get("codestral")
    return isinstance(codestral, Mapping) and codestral.get("statusNotification") is True


class StatusReporter:
    """Turns state changes into ``codestral/status`` notifications.

    ``send`` delivers one payload (for the server: ``ls.protocol.notify(NOTIFICATION, p)``);
    ``model`` names the completion model in use when a state is reported, unless the state
    comes with its own ``model`` (a per-language override, say).
    """

    def __init__(self, send: Callable[[Payload], None], model: Callable[[], str]) -> None:
        self._send = send
        self._model = model
        self._last: Payload | None = None

    @property
    def last(self) -> Payload | None:
        """The last payload sent (a copy), or None before the first."""
        return dict(self._last) if self._last is not None else None

    @property
    def state(self) -> str | None:
        return self._last["state"] if self._last is not None else None

    def update(self, state: str, message: str, extra: Mapping[str, Any] | None = None) -> bool:
        """Report ``state``; sends only if the state or the model changed.  Returns whether
        it sent."""
        if state not in STATES:
            logger.warning("unknown status %r reported; sending it anyway", state)
        extra = extra or {}
        model = extra.get("model")
        if not isinstance(model, str) or not model:
            model = self._model()
        payload: Payload = {"state": state, "model": model, "message": message}
        uri = extra.get("uri")
        if isinstance(uri, str) and uri:
            payload["uri"] = uri
        retry_after = extra.get("retryAfter")
        if (
            isinstance(retry_after, (int, float))
            and not isinstance(retry_after, bool)
            and math.isfinite(retry_after)
        ):
            payload["retryAfter"] = max(0, math.ceil(retry_after))
        last = self._last
        # Same state: a problem whose explanation changed ("connection broke", then
        # "connection refused", then a pause) is sent again; anything else is not.
        if (
            last is not None
            and (last["state"], last["model"]) == (state, payload["model"])
            and (state not in RESTATED or last["message"] == message)
        ):
            return False
        return self._emit(payload)

    def model_changed(self, state: str | None = None, message: str | None = None) -> bool:
        """Re-send the last state if the model in use changed since it was sent.

        ``state``/``message`` replace the last ones in that case (a new model starts afresh).
        """
        last = self._last
        if last is None or last["model"] == self._model():
            return False
        payload = {k: v for k, v in last.items() if k not in ("uri", "retryAfter")}
        payload["model"] = self._model()
        if state is not None:
            payload["state"] = state
        if message is not None:
            payload["message"] = message
        return self._emit(payload)

    def _emit(self, payload: Payload) -> bool:
        self._last = payload
        logger.debug("status: %s", payload)
        try:
            self._send(dict(payload))
        except Exception:  # the transport may be closing; never fail the caller for a status
            logger.exception("could not send %s", NOTIFICATION)
            return False
        return True
