"""Initialisation, configuration and shutdown."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ..settings import SECTION
from ..status import opted_in

if TYPE_CHECKING:
    from ..server import CodestralLanguageServer

logger = logging.getLogger(__name__)


def register(ls: CodestralLanguageServer) -> None:
    @ls.feature(types.INITIALIZE)
    def on_initialize(ls: CodestralLanguageServer, params: types.InitializeParams) -> None:
        ls.log_to_client()
        ls.identify_client(params)
        ls.documents.encoding = ls.workspace.position_encoding or types.PositionEncodingKind.Utf16
        ls.wants_status = opted_in(params.capabilities.experimental)
        ls.update_settings(initialization_options=params.initialization_options or {})
        if supports_configuration(ls):
            ls.settings_ready.clear()  # until the pull after ``initialized``
        for hook in ls.initialize_hooks:
            hook(ls, params)

    @ls.feature(types.INITIALIZED)
    async def on_initialized(ls: CodestralLanguageServer, params: types.InitializedParams) -> None:
        # The model list is fetched right after this (features/models.py); that request also
        # opens the connection, so the first completion does not pay the handshake.
        await pull_configuration(ls)
        for hook in ls.initialized_hooks:
            hook(ls)

    @ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def on_did_change_configuration(
        ls: CodestralLanguageServer, params: types.DidChangeConfigurationParams
    ) -> None:
        if supports_configuration(ls):
            ls.settings_ready.clear()
            await pull_configuration(ls)
        elif isinstance(params.settings, dict) and params.settings:
            ls.update_settings(workspace_settings=params.settings)

    @ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def on_did_close(ls: CodestralLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.engine.forget(params.text_document.uri)
        ls.health.forget(params.text_document.uri)

    @ls.feature(types.SHUTDOWN)
    async def on_shutdown(ls: CodestralLanguageServer, params: Any) -> None:
        ls.shutdown_requested = True
        await ls.close()

    @ls.feature(types.EXIT)
    def on_exit(ls: CodestralLanguageServer, params: Any) -> None:
        # A client may exit without shutdown, or while start-up work is still running.  The
        # specification says the process then exits with code 1 (0 after shutdown).
        ls.exit_code = 0 if ls.shutdown_requested else 1
        ls.stop_work()


def supports_configuration(ls: CodestralLanguageServer) -> bool:
    workspace = ls.client_capabilities.workspace
    return bool(workspace and workspace.configuration)


async def pull_configuration(ls: CodestralLanguageServer) -> None:
    """Ask the client for the ``codestral`` section and apply it."""
    if not supports_configuration(ls):
        return
    try:
        await _pull(ls)
    finally:
        ls.settings_ready.set()


async def _pull(ls: CodestralLanguageServer) -> None:
    try:
        result = await asyncio.wait_for(
            ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)])
            ),
            timeout=10,
        )
    except asyncio.TimeoutError:
        logger.warning("the client did not answer workspace/configuration")
        return
    except Exception as error:  # a client may answer with an error; keep current settings
        logger.warning("workspace/configuration failed: %s", error)
        return
    section = result[0] if result else None
    ls.update_settings(workspace_settings=section if isinstance(section, dict) else {})
