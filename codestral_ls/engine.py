"""The completion engine: cursor in, suggestion out, with no LSP types in between.

context extraction -> request building -> HTTP -> post-processing.  The engine also owns what
keeps the editor fast and quiet: superseding older requests for the same document, pausing after
a 429, and telling the user about a failing upstream once per episode.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lsprotocol import types

from .context import FimContext, build_fim_request, extract_context
from .documents import Cursor, Document
from .mistral import (
    AuthenticationError,
    BadRequestError,
    MistralClient,
    MistralError,
    RateLimitedError,
    UpstreamTimeout,
)
from .notify import Notifier
from .postprocess import block_body_indent, block_end_index, postprocess
from .settings import Connection, Settings

logger = logging.getLogger(__name__)

#: Seconds completions pause after the key or the model is rejected (a settings change resumes).
REJECTED_PAUSE = 60.0
#: Backoff after a 429 without Retry-After: first pause and ceiling, in seconds.
RATE_LIMIT_BACKOFF = (2.0, 120.0)

NO_KEY_MESSAGE = (
    "codestral-ls: no API key. Set CODESTRAL_API_KEY (a key from codestral.mistral.ai) or "
    "MISTRAL_API_KEY (a key from api.mistral.ai) in the environment the editor starts the "
    "server from; completions stay off until then."
)


#: Receives state changes: (state, human message, extra fields such as ``retryAfter``).
StateListener = Callable[[str, str, dict[str, Any]], None]


@dataclass(frozen=True)
class Suggestion:
    """Text to insert at the cursor."""

    text: str
    context: FimContext


class CompletionEngine:
    """Turns a cursor position into a suggestion from the FIM endpoint."""

    def __init__(
        self,
        client: MistralClient,
        notifier: Notifier,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.notifier = notifier
        self.settings = Settings()
        self.connection = Connection(endpoint="", api_key=None, key_source=None)
        self._clock = clock
        self._paused_until = 0.0
        self._rate_limit_strikes = 0
        self._latest: dict[str, int] = {}
        #: Told about every state change (see docs/protocol.md, ``codestral/status``).
        self.on_state: StateListener = lambda state, message, extra: None

    def _state(self, state: str, message: str, **extra: Any) -> None:
        try:
            self.on_state(state, message, extra)
        except Exception:  # a listener must never break a completion
            logger.exception("state listener failed")

    def configure(self, settings: Settings, connection: Connection) -> None:
        """Apply new settings; a change of key, endpoint or model lifts a rejection pause."""
        changed = connection != self.connection or settings.model != self.settings.model
        self.settings = settings
        self.connection = connection
        self.client.configure(
            endpoint=connection.endpoint,
            api_key=connection.api_key,
            timeout=settings.request_timeout,
        )
        if changed:
            self._paused_until = 0.0
            self.notifier.resolve()
        if connection.api_key:
            self.notifier.resolve("no-key")

    @property
    def paused_for(self) -> float:
        """Seconds left before completions resume after a 429 or a rejection (0 if running)."""
        return max(0.0, self._paused_until - self._clock())

    def forget(self, uri: str) -> None:
        """Drop per-document state when a document closes."""
        self._latest.pop(uri, None)

    async def complete(
        self, document: Document, cursor: Cursor, *, debounce: bool = True
    ) -> Suggestion | None:
        """The suggestion at ``cursor``, or None when there is nothing to show.

        A newer request for the same document supersedes this one: it then answers None without
        reaching the network.  Upstream failures answer None and tell the user once.
        """
        settings = self.settings
        if not settings.enabled_for(document.language_id):
            self._state(
                "disabled", f"Completions are off for {document.language_id or 'this file'}"
            )
            return None
        if not self.connection.api_key:
            self.notifier.once("no-key", NO_KEY_MESSAGE, types.MessageType.Warning)
            self._state("unauthorized", "No API key")
            return None

        generation = self._latest.get(document.uri, 0) + 1
        self._latest[document.uri] = generation
        version = document.version
        if debounce and settings.debounceMs > 0:
            await asyncio.sleep(settings.debounceMs / 1000.0)
            if self._latest.get(document.uri) != generation or document.version != version:
                logger.debug("superseded before reaching the network: %s", document.uri)
                return None
        if self.paused_for > 0:
            return None

        context = extract_context(document, cursor, settings.prefixChars, settings.suffixChars)
        request = build_fim_request(context, settings)
        self._state("working", f"Asking {settings.model}")
        try:
            completion = await asyncio.wait_for(
                self.client.fim(request), timeout=settings.request_timeout
            )
        except asyncio.TimeoutError:
            self._report(
                UpstreamTimeout(
                    f"{self.connection.endpoint} did not answer within "
                    f"{settings.requestTimeoutMs} ms (requestTimeoutMs)."
                ),
                settings,
            )
            return None
        except MistralError as error:
            self._report(error, settings)
            return None
        self._rate_limit_strikes = 0
        self.notifier.resolve()
        self._state("ready", f"Codestral ready ({settings.model})")
        text = finish(completion.text, context)
        return Suggestion(text, context) if text else None

    def _report(self, error: MistralError, settings: Settings) -> None:
        """Pause and tell the user, once per episode, about an upstream failure."""
        logger.info("completion failed: %s", error.message)
        now = self._clock()
        if isinstance(error, AuthenticationError):
            self._paused_until = now + REJECTED_PAUSE
            self.notifier.once("auth", f"codestral-ls: {error.message}", types.MessageType.Error)
            self._state("unauthorized", error.message)
        elif isinstance(error, BadRequestError) and error.is_unknown_model:
            self._paused_until = now + REJECTED_PAUSE
            self.notifier.once(
                f"model:{settings.model}",
                f"codestral-ls: the model '{settings.model}' is not available at "
                f"{self.connection.endpoint} ({error.message}). Pick another with the "
                "'codestral.selectModel' command or the 'codestral.model' setting.",
                types.MessageType.Error,
            )
            self._state("error", f"Unknown model {settings.model}")
        elif isinstance(error, RateLimitedError):
            self._rate_limit_strikes += 1
            first, ceiling = RATE_LIMIT_BACKOFF
            wait = error.retry_after
            if wait is None:
                wait = min(ceiling, first * 2 ** (self._rate_limit_strikes - 1))
            self._paused_until = now + wait
            self.notifier.once(
                "rate-limit",
                f"codestral-ls: rate limited by {self.connection.endpoint}; completions pause "
                f"for {wait:.0f} s.",
            )
            self._state("rateLimited", f"Rate limited; retrying in {wait:.0f} s", retryAfter=wait)
        else:
            self.notifier.once("upstream", f"codestral-ls: {error.message}")
            self._state("error", error.message)


def finish(raw: str, context: FimContext) -> str:
    """Post-process the model's text for ``context``; multi-line text ends with its block."""
    text = postprocess(raw, context.prefix, context.suffix, single_line=context.single_line)
    if text and not context.single_line:
        cut = block_end_index(text, block_body_indent(context.prefix))
        if cut is not None:
            text = postprocess(text[:cut], context.prefix, context.suffix, single_line=False)
    return text
