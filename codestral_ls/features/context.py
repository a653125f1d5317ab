"""Cross-file context: the workspace folders the context layer resolves files in."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types

from ..xcontext import Workspace
from ..xcontext.workspace import uri_to_path

if TYPE_CHECKING:
    from ..server import CodestralLanguageServer


def register(ls: CodestralLanguageServer) -> None:
    ls.initialize_hooks.append(_workspace_roots)


def _workspace_roots(ls: CodestralLanguageServer, params: types.InitializeParams) -> None:
    roots = []
    for folder in params.workspace_folders or ():
        path = uri_to_path(folder.uri)
        if path is not None:
            roots.append(path)
    if not roots and params.root_uri:
        path = uri_to_path(params.root_uri)
        if path is not None:
            roots.append(path)
    if not roots and params.root_path:
        roots.append(Path(params.root_path))
    ls.context.workspace = Workspace(roots)
