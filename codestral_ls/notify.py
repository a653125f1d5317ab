"""Tell the user about a problem once per episode, not on every keystroke."""

from __future__ import annotations

import logging
from collections.abc import Callable

from lsprotocol import types

logger = logging.getLogger(__name__)

Show = Callable[[types.MessageType, str], None]

#: Keys of problems with the upstream: a successful request ends all of them.
UPSTREAM_KEYS = ("auth", "rate-limit", "upstream", "bad-request", "model:")


class Notifier:
    """Sends each distinct problem to the user once, until the problem is over.

    A problem is identified by a key (``"auth"``, ``"rate-limit"``, ``"settings:maxTokens"``...).
    :meth:`once` shows the message only if that key is not already active; :meth:`resolve`
    ends an episode so the next occurrence is shown again.
    """

    def __init__(self, show: Show) -> None:
        self._show = show
        self._active: dict[str, str] = {}

    @property
    def active(self) -> dict[str, str]:
        """The problems currently shown, by key."""
        return dict(self._active)

    def once(
        self, key: str, message: str, kind: types.MessageType = types.MessageType.Warning
    ) -> bool:
        """Show ``message`` unless ``key`` is already active.  Returns whether it was shown."""
        if key in self._active:
            logger.debug("suppressed repeat of %s", key)
            return False
        self._active[key] = message
        logger.warning("%s", message)
        try:
            self._show(kind, message)
        except Exception:  # the transport may be closing; never fail the caller for a message
            logger.exception("could not send a message to the client")
        return True

    def resolve(self, *keys: str) -> None:
        """End the episodes of ``keys`` (all upstream episodes when none is given)."""
        if not keys:
            for key in [k for k in self._active if k.startswith(UPSTREAM_KEYS)]:
                del self._active[key]
            return
        for key in keys:
            self._active.pop(key, None)

    def resolve_prefix(self, prefix: str) -> None:
        """End every episode whose key starts with ``prefix``."""
        for key in [k for k in self._active if k.startswith(prefix)]:
            del self._active[key]
