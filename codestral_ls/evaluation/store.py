"""The results file: one JSON object per line, appended as each answer arrives.

A line is either ``{"type": "run", ...}`` (written when a run starts: seed, holes, variants) or
``{"type": "result", "variant": ..., "fingerprint": ..., "hole": ..., ...}``.  A re-run with the
same file skips every (variant, hole) pair it already holds with the same fingerprint, so an
interrupted run resumes where it stopped.  A line cut short by a crash is ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["ResultsFile", "read_records"]


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The well-formed records of ``path`` (none if it does not exist)."""
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError:
        return
    with handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash or a kill
            if isinstance(record, dict):
                yield record


def results_of(path: Path) -> list[dict[str, Any]]:
    """The result records of ``path``, the last one winning for a (variant, hole) pair."""
    latest: dict[tuple[Any, Any], dict[str, Any]] = {}
    for record in read_records(path):
        if record.get("type") == "result":
            latest[(record.get("variant"), record.get("hole"))] = record
    return list(latest.values())


class ResultsFile:
    """Appends records to ``path`` and knows which (fingerprint, hole) pairs are done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: set[tuple[str, str]] = {
            (str(r.get("fingerprint")), str(r.get("hole")))
            for r in read_records(path)
            if r.get("type") == "result"
        }
        self._handle: IO[str] | None = None

    def is_done(self, fingerprint: str, hole: str) -> bool:
        return (fingerprint, hole) in self.done

    def append(self, record: dict[str, Any]) -> None:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._ensure_line_start()
            self._handle = self.path.open("a", encoding="utf-8")
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()
        if record.get("type") == "result":
            self.done.add((str(record.get("fingerprint")), str(record.get("hole"))))

    def _ensure_line_start(self) -> None:
        """After a crash mid-line, start on a fresh line so the next record stays readable."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(0, 2)
                if handle.tell() == 0:
                    return
                handle.seek(-1, 2)
                ends_with_newline = handle.read(1) == b"\n"
        except FileNotFoundError:
            return
        if not ends_with_newline:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write("\n")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
