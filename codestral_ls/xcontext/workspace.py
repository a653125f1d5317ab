"""Workspace roots, and paths as the prompt shows them (relative to the root)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit


def uri_to_path(uri: str) -> Path | None:
    """The local path of a ``file:`` URI (None for other schemes)."""
    parts = urlsplit(uri)
    if parts.scheme and parts.scheme != "file":
        return None
    return Path(unquote(parts.path) if parts.scheme else uri)


def path_to_uri(path: Path) -> str:
    """The ``file:`` URI of an absolute path."""
    return "file://" + quote(path.as_posix())


class Workspace:
    """The folders the editor opened; the first one that holds a file is its root."""

    def __init__(self, roots: Iterable[Path | str] = ()) -> None:
        self.roots: tuple[Path, ...] = tuple(Path(root) for root in roots)
        self._relative: dict[str, str] = {}

    def root_of(self, path: Path) -> Path | None:
        for root in self.roots:
            if path == root or root in path.parents:
                return root
        return None

    def relative(self, uri: str) -> str:
        """``uri`` relative to its root, with ``/``; the file name alone outside any root."""
        known = self._relative.get(uri)
        if known is None:
            if len(self._relative) > 10_000:
                self._relative.clear()
            known = self._relative[uri] = self._compute_relative(uri)
        return known

    def _compute_relative(self, uri: str) -> str:
        path = uri_to_path(uri)
        if path is None:
            return uri.rsplit("/", 1)[-1] or uri
        root = self.root_of(path)
        if root is None:
            return path.name or str(path)
        return os.path.relpath(path, root).replace(os.sep, "/")
