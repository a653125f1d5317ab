"""Code from other files that goes with a fill-in-the-middle request.

The context layer gathers :class:`ContextFile` snippets (workspace-relative path and text).
A backend either sends them natively (llama.cpp's ``/infill`` ``input_extra``) or lays them out
in front of the prompt with :func:`multifile_prompt`, the ``+++++ path`` layout Codestral
answers well to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["FILE_MARKER", "ContextFile", "multifile_prompt"]

#: Starts each file block of the multi-file layout (also a stop sequence for completions).
FILE_MARKER = "+++++ "


@dataclass(frozen=True, slots=True)
class ContextFile:
    """A snippet of another file: its workspace-relative ``path`` and the ``text`` to show."""

    path: str
    text: str


def multifile_prompt(files: Sequence[ContextFile], current_path: str | None, prefix: str) -> str:
    """``prefix`` preceded by ``files`` as ``+++++ path`` blocks, then ``+++++ current_path``.

    Without files the prefix is returned unchanged (no header for the current file alone).
    """
    if not files:
        return prefix
    parts = [f"{FILE_MARKER}{f.path}\n{f.text.rstrip(chr(10))}\n" for f in files]
    parts.append(f"{FILE_MARKER}{current_path or 'current'}\n")
    parts.append(prefix)
    return "".join(parts)
