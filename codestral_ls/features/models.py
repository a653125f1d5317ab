"""Model choice and server status: ``codestral.listModels``, ``codestral.selectModel``,
``codestral.status`` and the ``codestral/status`` notification (docs/protocol.md).

The handlers are thin: parsing and merging the catalog live in :mod:`codestral_ls.catalog`,
the remembered choice in :mod:`codestral_ls.state`, the status logic in
:mod:`codestral_ls.status`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from ..catalog import KINDS, Catalog, deprecated_in_use, listing, picker_titles
from ..settings import MODEL_SETTING, SECTION
from ..state import StateFile, is_model_name
from .progress import begin_progress

if TYPE_CHECKING:
    from ..server import CodestralLanguageServer

logger = logging.getLogger(__name__)

LIST_MODELS = "codestral.listModels"
SELECT_MODEL = "codestral.selectModel"
STATUS = "codestral.status"

_WHAT = {"completion": "completions", "chat": "chat"}


class CommandFailed(JsonRpcException):
    """A command could not do its job; the message is one sentence for the user.

    Uses LSP's ``RequestFailed`` code: the request was valid, the work failed.
    """

    CODE = types.LSPErrorCodes.RequestFailed.value
    MESSAGE = "Request failed"


class ModelsFeature:
    """Per-server state of the feature: the state file and the warnings already given."""

    def __init__(self, ls: CodestralLanguageServer) -> None:
        self.ls = ls
        self.state_file: StateFile | None = None
        self.warned: set[str] = set()

    # --- start-up ---------------------------------------------------------------------------

    def on_initialize(self, ls: CodestralLanguageServer, params: types.InitializeParams) -> None:
        """Apply the models remembered from earlier runs, then start the post-settings work."""
        self.state_file = StateFile.default(os.environ)
        remembered = self.state_file.selected_models()
        if remembered:
            logger.info("remembered models from %s: %s", self.state_file.path, remembered)
            ls.selected_models.update(remembered)
            ls.update_settings()
        ls.background(self.when_settings_are_final())

    async def when_settings_are_final(self) -> None:
        """After the configuration pull that follows ``initialized``: first status, catalog."""
        await self.ls.settings_ready.wait()
        await self.ls.ensure_backend()
        self.initial_status()
        if has_credentials(self.ls):
            try:
                await self.ls.catalog.get()
            except Exception as error:  # the catalog is optional; completions go on without
                logger.info("could not fetch the model list: %s", error)

    def initial_status(self) -> None:
        """Send the first ``codestral/status`` unless the engine already reported one."""
        ls = self.ls
        if ls.status.last is not None:
            return
        if has_credentials(ls):
            ls.status.update("ready", f"Codestral ready ({host_of(ls)})")
        else:
            ls.status.update("unauthorized", "No API key")

    # --- engine state and deprecations ------------------------------------------------------

    def check_remembered(self, catalog: Catalog) -> None:
        """Drop a remembered choice the endpoint does not list (one message each)."""
        ls = self.ls
        if ls.catalog.current is not catalog:
            return  # a catalog of an endpoint no longer in use
        endpoint = ls.resolved.endpoint_key
        for kind, model in list(ls.selected_models.get(endpoint, {}).items()):
            if ls.pinned_model_setting(kind) is not None or catalog.find(model) is not None:
                continue
            ls.forget_model(kind)
            logger.info("remembered %s model %s is not offered by %s", kind, model, endpoint)
            ls.notifier.once(
                f"remembered:{endpoint}:{kind}:{model}",
                f"codestral-ls: the {_WHAT[kind]} model '{model}' chosen earlier is not offered "
                f"by {host_of(ls)}; using '{current_model(ls, kind)}' instead.",
                types.MessageType.Warning,
            )

    def check_deprecations(self, catalog: Catalog | None = None) -> None:
        """Warn once per deprecated model in use (by completions or chat)."""
        catalog = catalog if catalog is not None else self.ls.catalog.current
        if catalog is None:
            return
        for deprecation in deprecated_in_use(catalog, models_in_use(self.ls)):
            if deprecation.key in self.warned:
                continue
            self.warned.add(deprecation.key)
            self.ls.notifier.once(deprecation.key, deprecation.message, types.MessageType.Warning)

    @asynccontextmanager
    async def progress(self) -> AsyncIterator[None]:
        """A work-done progress around a catalog fetch, for clients that show them."""
        ls = self.ls
        token = await begin_progress(
            ls,
            "codestral-models",
            types.WorkDoneProgressBegin(
                title="Codestral", message=f"Loading the models of {host_of(ls)}"
            ),
        )
        outcome = "failed"
        try:
            yield
            outcome = "done"
        finally:
            if token is not None and not ls.closing:  # nothing to end after exit
                ls.work_done_progress.end(
                    token, types.WorkDoneProgressEnd(message=f"Model list {outcome}")
                )

    # --- commands ---------------------------------------------------------------------------

    async def fetch_catalog(self, *, refresh: bool = False) -> Catalog:
        """The catalog, or :class:`CommandFailed` with a sentence saying why not."""
        ls = self.ls
        if not has_credentials(ls):
            raise CommandFailed(
                "codestral-ls has no API key, so it cannot list the models: set "
                "CODESTRAL_API_KEY or MISTRAL_API_KEY where the editor starts the server."
            )
        try:
            return await ls.catalog.get(refresh=refresh)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            detail = str(getattr(error, "message", "") or error or type(error).__name__)
            raise CommandFailed(
                f"codestral-ls could not get the model list from {host_of(ls)}: "
                f"{detail.rstrip('.')}."
            ) from error

    async def list_models(self, options: dict[str, Any]) -> dict[str, Any]:
        refresh = options.get("refresh", False)
        if not isinstance(refresh, bool):
            raise JsonRpcInvalidParams(f"{LIST_MODELS}: 'refresh' must be true or false.")
        await self.ls.wait_for_settings()
        catalog = await self.fetch_catalog(refresh=refresh)
        settings = self.ls.settings
        return listing(
            catalog,
            endpoint=self.ls.engine.connection.endpoint,
            backend=backend_name(self.ls),
            completion_model=settings.model,
            chat_model=settings.chatModel,
        )

    async def select_model(self, options: dict[str, Any]) -> dict[str, Any] | None:
        ls = self.ls
        kind = options.get("kind", "completion")
        if kind not in KINDS:
            raise JsonRpcInvalidParams(
                f'{SELECT_MODEL}: \'kind\' must be "completion" or "chat", got {kind!r}.'
            )
        model = options.get("model")
        if model is not None and not is_model_name(model):
            raise JsonRpcInvalidParams(
                f"{SELECT_MODEL}: 'model' must be a model id such as 'codestral-latest', "
                f"got {model!r}."
            )
        await ls.wait_for_settings()

        pinned = ls.pinned_model_setting(kind)
        if pinned is not None:
            current = current_model(ls, kind)
            setting = f"{SECTION}.{pinned}"
            ls.window_show_message(
                types.ShowMessageParams(
                    type=types.MessageType.Warning,
                    message=(
                        f"codestral-ls: the '{setting}' setting pins the {_WHAT[kind]} model to "
                        f"'{current}', so it stays in use; remove the setting to choose with "
                        f"'{SELECT_MODEL}'."
                    ),
                )
            )
            return {"model": current, "kind": kind, "persisted": False, "pinnedBy": setting}

        if model is None:
            model = await self.ask(kind)
            if model is None:
                return None
        await self.validate(kind, model)

        before = ls.settings.model
        if not ls.select_model(kind, model):  # pinned meanwhile (a configuration change)
            return {"model": current_model(ls, kind), "kind": kind, "persisted": False}
        persisted = self.remember(kind, model)
        logger.info("selected %s model %s (persisted: %s)", kind, model, persisted)
        if ls.settings.model != before:
            if has_credentials(ls):
                ls.status.model_changed("ready", f"Codestral ready ({ls.settings.model})")
            else:
                ls.status.model_changed()
        self.check_deprecations()
        return {"model": model, "kind": kind, "persisted": persisted}

    async def ask(self, kind: str) -> str | None:
        """Ask the user to pick a model of ``kind``; None when the question was dismissed."""
        ls = self.ls
        catalog = await self.fetch_catalog()
        choices = catalog.models_for(kind)
        titles = picker_titles(choices)
        if not choices:
            raise CommandFailed(
                f"{host_of(ls)} offers no model that can do {_WHAT[kind]}, so there is "
                "nothing to choose from."
            )
        answer = await ls.window_show_message_request_async(
            types.ShowMessageRequestParams(
                type=types.MessageType.Info,
                message=(
                    f"codestral-ls: choose the model for {_WHAT[kind]} "
                    f"(now {current_model(ls, kind)})."
                ),
                actions=[types.MessageActionItem(title=title) for title in titles],
            )
        )
        if answer is None:
            logger.info("model choice dismissed")
            return None
        title = answer.title if isinstance(answer, types.MessageActionItem) else None
        if isinstance(title, str) and title in titles:
            return titles[title]
        if not is_model_name(title):
            raise CommandFailed(f"The editor answered the model question with {title!r}.")
        return title

    async def validate(self, kind: str, model: str) -> None:
        """Refuse a model the endpoint does not list, or one that cannot do ``kind``.

        Without a catalog (no key, endpoint down) the choice is taken as it is.
        """
        ls = self.ls
        catalog = ls.catalog.current
        if catalog is None or not ls.catalog.fresh:
            try:
                catalog = await self.fetch_catalog()
            except CommandFailed as error:
                logger.info("choosing %s without checking it: %s", model, error.message)
                catalog = ls.catalog.current
        if catalog is None:
            return
        info = catalog.find(model)
        if info is None:
            raise CommandFailed(
                f"{host_of(ls)} has no model '{model}'; '{LIST_MODELS}' lists the ones it has."
            )
        if not info.can(kind):
            raise CommandFailed(
                f"The model '{model}' cannot do {_WHAT[kind]}"
                + (" (fill-in-the-middle)" if kind == "completion" else "")
                + "; pick one that can."
            )

    def remember(self, kind: str, model: str) -> bool:
        """Save the choice for the next runs; False (and one message) when it cannot be."""
        state_file = self.state_file or StateFile.default(os.environ)
        self.state_file = state_file
        try:
            state_file.remember_model(self.ls.resolved.endpoint_key, kind, model)
        except OSError as error:
            logger.warning("could not write %s: %s", state_file.path, error)
            self.ls.notifier.once(
                "state-file",
                f"codestral-ls: could not save the model choice to {state_file.path} "
                f"({error.strerror or error}); it applies until the server restarts.",
                types.MessageType.Warning,
            )
            return False
        self.ls.notifier.resolve("state-file")
        return True

    async def status(self) -> dict[str, Any] | None:
        await self.ls.wait_for_settings()
        self.initial_status()
        return self.ls.status.last


def register(ls: CodestralLanguageServer) -> None:
    # Command handlers are annotated with pygls' class: pygls evaluates their annotations at
    # run time, and the server class is imported for type checking only (no import cycle).
    feature = ModelsFeature(ls)
    ls.catalog.progress = feature.progress
    ls.catalog.listeners.append(feature.check_remembered)
    ls.catalog.listeners.append(feature.check_deprecations)
    ls.state_listeners.append(feature.check_deprecations)
    ls.initialize_hooks.append(feature.on_initialize)

    @ls.command(LIST_MODELS)
    async def list_models(ls: LanguageServer, *args: Any) -> dict[str, Any]:
        return await feature.list_models(command_options(LIST_MODELS, args))

    @ls.command(SELECT_MODEL)
    async def select_model(ls: LanguageServer, *args: Any) -> dict[str, Any] | None:
        return await feature.select_model(command_options(SELECT_MODEL, args))

    @ls.command(STATUS)
    async def status(ls: LanguageServer, *args: Any) -> dict[str, Any] | None:
        return await feature.status()


# --- helpers ---------------------------------------------------------------------------------


def command_options(command: str, args: tuple[Any, ...]) -> dict[str, Any]:
    """The one JSON object argument of a command (``{}`` when there is none).

    An empty list counts as none: Lua clients encode an empty table ``{}`` as ``[]``.
    """
    if not args or args[0] is None or args[0] == []:
        return {}
    if len(args) > 1 or not isinstance(args[0], dict):
        raise JsonRpcInvalidParams(f"{command} takes one JSON object as its argument.")
    return args[0]


def models_in_use(ls: CodestralLanguageServer) -> dict[str, str]:
    return {kind: current_model(ls, kind) for kind in KINDS}


def current_model(ls: CodestralLanguageServer, kind: str) -> str:
    return str(getattr(ls.settings, MODEL_SETTING[kind]))


def backend_name(ls: CodestralLanguageServer) -> str:
    """The kind of backend serving requests: ``ls.backend.kind`` when the server has one, else
    the ``backend`` setting when it names one, else ``"mistral"``."""
    kind = getattr(getattr(ls, "backend", None), "kind", None)
    if isinstance(kind, str) and kind:
        return kind
    setting = getattr(ls.settings, "backend", None)
    if isinstance(setting, str) and setting and setting != "auto":
        return setting
    return "mistral"


def has_credentials(ls: CodestralLanguageServer) -> bool:
    """Whether requests can be sent: a key is set, or the backend needs none."""
    if ls.engine.connection.api_key:
        return True
    requires = getattr(getattr(ls, "backend", None), "requires_key", None)
    if isinstance(requires, bool):
        return not requires
    return backend_name(ls) != "mistral"


def host_of(ls: CodestralLanguageServer) -> str:
    endpoint = ls.engine.connection.endpoint
    return urlsplit(endpoint).netloc or endpoint or "the endpoint"
