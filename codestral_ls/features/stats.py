"""Acceptance statistics: the LSP glue of :mod:`codestral_ls.stats` (docs/stats.md).

- every suggestion returned carries the ``codestral.didAccept`` command (see
  :func:`accept_command`); the suggestion is recorded as shown (once per answer);
- ``codestral.didAccept`` records an accept (``partial``: a word or line of it);
- ``codestral.stats`` answers the figures and a one-line summary;
- with a ``trial`` set, the engine's variant chooser sends each request to one of its models.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from ..backends import LOCAL_KINDS, Backend, create_backend
from ..documents import Document
from ..engine import Suggestion
from ..privacy import is_loopback
from ..settings import LOCAL_REQUEST_TIMEOUT_MS, Settings, TrialSettings
from ..state import state_dir
from ..stats import Recorder, StatsStore, Variant, parse_trial_entry, pick_variant, summarise
from ..stats.summary import one_line
from ..stats.trial import DEFAULT_ENDPOINTS
from .completion import DID_ACCEPT
from .models import command_options

if TYPE_CHECKING:
    from ..server import CodestralLanguageServer

logger = logging.getLogger(__name__)

STATS = "codestral.stats"


class StatsFeature:
    def __init__(self, ls: CodestralLanguageServer) -> None:
        self.ls = ls
        self.store = StatsStore.under(state_dir(os.environ))
        self.recorder = Recorder(self._append)
        self.trial = TrialSettings()
        self.variants: list[Variant] = []
        #: Requests sent during the trial (the ``alternate`` split's turn).
        self.sent = 0
        self._backends: dict[tuple[str, str], Backend] = {}

    def _append(self, record: dict[str, Any]) -> None:
        try:
            self.store.append(record)
        except OSError as error:
            self.ls.notifier.once(
                "stats-file",
                f"codestral-ls: cannot write the statistics file {self.store.path} ({error}); "
                "statistics are not recorded.",
                types.MessageType.Warning,
            )
            return
        self.ls.notifier.resolve("stats-file")

    # --- settings and trials ---------------------------------------------------------------

    def on_settings(self, settings: Settings) -> None:
        self.recorder.enabled = settings.telemetry
        if settings.trial != self.trial:
            self.trial = settings.trial
            self.sent = 0
            self.variants = self._variants(settings)

    def _variants(self, settings: Settings) -> list[Variant]:
        trial = settings.trial
        if not trial.active:
            return []
        variants: list[Variant] = []
        for text in trial.models:
            entry = parse_trial_entry(text)
            if entry.backend is None:
                variants.append(Variant(entry.label, entry.model))
                continue
            endpoint = trial.endpoints.get(entry.backend) or DEFAULT_ENDPOINTS[entry.backend]
            parts = urlsplit(endpoint)
            if (
                parts.scheme == "http"
                and not settings.allowInsecureHttp
                and not is_loopback(parts.hostname)
            ):
                self.ls.notifier.once(
                    f"trial:{text}",
                    f"codestral-ls: trial model '{text}' is left out: its endpoint {endpoint} "
                    "is plain HTTP to another machine (use https:// or 'allowInsecureHttp').",
                    types.MessageType.Warning,
                )
                continue
            variants.append(
                Variant(entry.label, entry.model, self._backend(entry.backend, endpoint), endpoint)
            )
        if len(variants) < 2:
            return []
        logger.info("trial: %s (%s)", ", ".join(v.label for v in variants), trial.split)
        return variants

    def _backend(self, kind: str, endpoint: str) -> Backend:
        backend = self._backends.get((kind, endpoint))
        if backend is None:
            local = kind in LOCAL_KINDS
            key = None if local else self.ls.engine.connection.api_key
            timeout = LOCAL_REQUEST_TIMEOUT_MS / 1000.0 if local else 5.0
            backend = create_backend(
                kind, endpoint=endpoint, api_key=key, timeout=timeout, http=self.ls.http
            )
            self._backends[(kind, endpoint)] = backend
        return backend

    def choose(self, document: Document, settings: Settings) -> Variant | None:
        """The engine's variant chooser: the variant of a request about to be sent."""
        if not self.variants:
            return None
        index = pick_variant(
            self.trial.split,
            len(self.variants),
            counter=self.sent,
            day=datetime.date.today().toordinal(),
            uri=document.uri,
        )
        self.sent += 1
        return self.variants[index]

    # --- recording ---------------------------------------------------------------------------

    def shown(self, document: Document, suggestion: Suggestion) -> None:
        self.recorder.shown(
            suggestion.id,
            chars=len(suggestion.text) - len(suggestion.typed),
            model=suggestion.model,
            endpoint=suggestion.endpoint,
            variant=suggestion.variant,
            language=document.language_id or "",
            latency_ms=suggestion.latency_ms,
            source=suggestion.source,
            typed=len(suggestion.typed),
        )

    def did_accept(self, options: dict[str, Any]) -> dict[str, Any]:
        suggestion_id = options.get("id")
        if not isinstance(suggestion_id, str) or not suggestion_id:
            raise JsonRpcInvalidParams(f"{DID_ACCEPT} needs the suggestion's 'id' (a string).")
        partial = options.get("partial")
        chars = partial if partial is not None else options.get("chars", 0)
        if isinstance(chars, bool) or not isinstance(chars, int) or chars < 0:
            raise JsonRpcInvalidParams(
                f"{DID_ACCEPT}: 'chars' and 'partial' must be whole numbers of characters."
            )
        known = self.recorder.accepted(suggestion_id, chars, partial=partial is not None)
        return {"recorded": known and self.recorder.enabled}

    async def stats(self, options: dict[str, Any]) -> dict[str, Any]:
        since_days = options.get("sinceDays", 7)
        if isinstance(since_days, bool) or not isinstance(since_days, (int, float)):
            raise JsonRpcInvalidParams(f"{STATS}: 'sinceDays' must be a number of days.")
        since = datetime.datetime.now().timestamp() - float(since_days) * 86400.0
        # Up to a few MB of records: read in a thread, the event loop keeps serving keystrokes.
        groups = await asyncio.to_thread(lambda: summarise(self.store.read(), since=since))
        return {
            "summary": one_line(groups),
            "telemetry": self.recorder.enabled,
            "file": str(self.store.path),
            "groups": [group.as_json() for group in groups],
        }


def register(ls: CodestralLanguageServer) -> None:
    feature = StatsFeature(ls)
    ls.engine.choose_variant = feature.choose
    ls.settings_hooks.append(feature.on_settings)
    ls.suggestion_listeners.append(feature.shown)
    feature.on_settings(ls.settings)

    @ls.command(DID_ACCEPT)
    def did_accept(ls: LanguageServer, *args: Any) -> dict[str, Any]:
        return feature.did_accept(command_options(DID_ACCEPT, args))

    @ls.command(STATS)
    async def stats(ls: LanguageServer, *args: Any) -> dict[str, Any]:
        return await feature.stats(command_options(STATS, args))
