"""Work-done progress (``$/progress``) the server starts itself, for the features that report it
(model list fetch, code actions)."""

from __future__ import annotations

import asyncio
import logging
import uuid

from lsprotocol import types
from pygls.lsp.server import LanguageServer

logger = logging.getLogger(__name__)

#: Seconds to wait for the client to accept a progress token before working without one.
PROGRESS_CREATE_TIMEOUT = 5.0


async def begin_progress(
    ls: LanguageServer, prefix: str, begin: types.WorkDoneProgressBegin
) -> str | None:
    """Create a token ``<prefix>-<hex>``, have the client accept it and send ``begin``.

    None (and the work goes on without progress) when the client does not show progress,
    refuses the token or does not answer within :data:`PROGRESS_CREATE_TIMEOUT`.
    """
    window = ls.client_capabilities.window
    if not (window is not None and window.work_done_progress):
        return None
    token = f"{prefix}-{uuid.uuid4().hex}"
    try:
        await asyncio.wait_for(ls.work_done_progress.create_async(token), PROGRESS_CREATE_TIMEOUT)
    except asyncio.TimeoutError:
        logger.info("the client did not accept a progress token; working without one")
        return None
    except Exception as error:  # the client may refuse: work without progress
        logger.info("window/workDoneProgress/create failed: %s", error)
        return None
    ls.work_done_progress.begin(token, begin)
    return token
