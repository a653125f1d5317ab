"""The statistics file: append-only JSON Lines, rotated, bounded in size.

Records go to ``<state dir>/stats/stats.jsonl`` (the state directory of
:func:`codestral_ls.state.state_dir`).  When a record would take that file past
:data:`MAX_BYTES`, it is renamed ``stats.1.jsonl`` (``stats.1`` becomes ``stats.2`` and so on;
the oldest beyond :data:`KEEP` is deleted), so the files never hold more than about
``(KEEP + 1) * MAX_BYTES`` bytes.  Each record is one line written with a single append, so
two editors writing at once interleave whole lines.  Lines that are not JSON objects (a crash
mid-write, a hand edit) are skipped when reading.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DIRECTORY = "stats"
FILE_NAME = "stats.jsonl"
#: Bytes of one file before it is rotated.
MAX_BYTES = 1_000_000
#: Rotated files kept besides the current one.
KEEP = 3


class StatsStore:
    """Appends records to the statistics file and reads them back (oldest first)."""

    def __init__(self, directory: Path, *, max_bytes: int = MAX_BYTES, keep: int = KEEP) -> None:
        self.directory = directory
        self.max_bytes = max(1, max_bytes)
        self.keep = max(0, keep)

    @classmethod
    def under(cls, state_directory: Path) -> StatsStore:
        return cls(state_directory / DIRECTORY)

    @property
    def path(self) -> Path:
        return self.directory / FILE_NAME

    def rotated(self, index: int) -> Path:
        return self.directory / f"stats.{index}.jsonl"

    def files(self) -> list[Path]:
        """The files that exist, oldest first."""
        paths = [self.rotated(i) for i in range(self.keep, 0, -1)] + [self.path]
        return [path for path in paths if path.exists()]

    def append(self, record: Mapping[str, Any]) -> None:
        """Add one record; raises OSError when the file cannot be written."""
        line = (json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n").encode()
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size and size + len(line) > self.max_bytes:
            self._rotate()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def _rotate(self) -> None:
        if self.keep == 0:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        with contextlib.suppress(FileNotFoundError):
            self.rotated(self.keep).unlink()
        for index in range(self.keep - 1, 0, -1):
            with contextlib.suppress(FileNotFoundError):
                os.replace(self.rotated(index), self.rotated(index + 1))
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.path, self.rotated(1))

    def read(self) -> Iterator[dict[str, Any]]:
        """Every readable record, oldest first."""
        for path in self.files():
            try:
                with path.open("r", encoding="utf-8", errors="replace") as stream:
                    for line in stream:
                        try:
                            record = json.loads(line)
                        except ValueError:
                            continue
                        if isinstance(record, dict):
                            yield record
            except OSError as error:
                logger.warning("cannot read %s: %s", path, error)
