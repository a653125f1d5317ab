"""Holes: spots in the user's own files where a completion is asked for and the answer is known.

A hole removes a piece of a source file (the *middle*) and puts the cursor where it started.
The engine then sees exactly what an editor would send at that cursor: the text before it and
the text after it, cut to the prompt budget.  Three kinds:

- ``line``: the rest of a line, from a point after its indentation;
- ``span``: 2 to 8 whole lines, from the first one's indentation, within one block;
- ``block``: the whole body of a block (the lines indented under a line ending in ``:`` or
  ``{``), from the first body line's indentation.

Sampling is deterministic: the same files, kinds, count and seed give the same holes, so runs
on different days compare.  Pure functions, but :func:`list_source_files` (which asks git for
the files it does not ignore).
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..languages import EXTENSIONS
from ..privacy import is_excluded

__all__ = [
    "KINDS",
    "LANGUAGES",
    "Hole",
    "SourceFile",
    "language_of",
    "list_source_files",
    "read_sources",
    "sample_holes",
]

KINDS = ("line", "span", "block")

#: The languages holes are cut in (code, not prose or data).
HOLE_LANGUAGES = frozenset(
    {
        "python", "javascript", "javascriptreact", "typescript", "typescriptreact", "go",
        "rust", "java", "kotlin", "scala", "swift", "c", "cpp", "csharp", "ruby", "php", "lua",
        "shellscript",
    }
)  # fmt: skip
#: File extension -> LSP language id (the id editors send, which per-language settings use).
LANGUAGES: dict[str, str] = {
    suffix: language for suffix, language in EXTENSIONS.items() if language in HOLE_LANGUAGES
}

#: Files larger than this are skipped (generated code, vendored bundles).
MAX_FILE_BYTES = 512 * 1024
#: Directories never walked when the repository is not a git checkout.
SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "venv", "build", "dist", "target"})
#: Longest block body taken as a hole, in lines.
MAX_BLOCK_LINES = 40
#: Shortest middle worth asking for, in non-blank characters.
MIN_MIDDLE = 3
#: Lines starting like this are comments: not used as ``line`` holes.
COMMENT_STARTS = ("#", "//", "/*", "*", "--", '"""', "'''")


@dataclass(frozen=True)
class SourceFile:
    """A file holes may come from: repository-relative POSIX path, language id and text."""

    path: str
    language: str
    text: str

    @property
    def digest(self) -> str:
        return hashlib.sha1(self.text.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Hole:
    """A removed middle ``text[start:end]`` of the file at ``path``."""

    id: str
    path: str
    language: str
    kind: str
    start: int
    """Offset of the cursor (in characters) in the original text."""
    end: int
    line: int
    """0-based line of the cursor."""
    column: int
    """0-based column of the cursor, in characters (code points)."""

    def expected(self, text: str) -> str:
        return text[self.start : self.end]

    def document_text(self, text: str) -> str:
        """The file as the editor has it at the cursor: the middle is not typed yet."""
        return text[: self.start] + text[self.end :]


def language_of(path: str) -> str | None:
    return LANGUAGES.get(os.path.splitext(path)[1].lower())


def list_source_files(root: Path, paths: Sequence[str] = ()) -> list[str]:
    """Repository-relative paths of the files under ``root`` (restricted to ``paths``).

    In a git checkout, git lists them: tracked and untracked files, without what
    ``.gitignore`` ignores.  Elsewhere the tree is walked, skipping hidden directories and
    the usual build and dependency folders.
    """
    try:
        listed = subprocess.run(
            [
                "git",
                "-C",
                str(root),
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
                "--",
                *paths,
            ],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError):
        return _walk(root, paths)
    return sorted({name for name in listed.split("\0") if name})


def _walk(root: Path, paths: Sequence[str]) -> list[str]:
    starts = [root / p for p in paths] if paths else [root]
    found: set[str] = set()
    for start in starts:
        if start.is_file():
            found.add(start.relative_to(root).as_posix())
            continue
        for folder, dirs, files in os.walk(start):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS]
            for name in files:
                found.add((Path(folder) / name).relative_to(root).as_posix())
    return sorted(found)


def read_sources(
    root: Path,
    names: Iterable[str],
    *,
    languages: Iterable[str] = (),
    exclude: Sequence[str] = (),
) -> list[SourceFile]:
    """The readable UTF-8 source files among ``names`` that may be sent.

    Files matching the secret globs or ``exclude`` are never read; nor are files of other
    languages than ``languages`` (all known languages when empty), binary or huge files.
    """
    wanted = {lang.lower() for lang in languages}
    sources: list[SourceFile] = []
    for name in names:
        language = language_of(name)
        if language is None or (wanted and language not in wanted):
            continue
        path = root / name
        # As the server matches them (the absolute path), and relative to the repository.
        if is_excluded(path.resolve().as_uri(), exclude) or is_excluded(name, exclude):
            continue
        try:
            if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
                continue
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if "\0" in text or not text.strip():
            continue
        sources.append(SourceFile(name, language, text.replace("\r\n", "\n")))
    return sources


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _line_starts(lines: Sequence[str]) -> list[int]:
    starts, offset = [], 0
    for line in lines:
        starts.append(offset)
        offset += len(line) + 1
    return starts


@dataclass(frozen=True)
class _Candidate:
    source: SourceFile
    kind: str
    line: int
    """First line of the middle."""
    last: int
    """Last line of the middle (``span`` holes choose their length when sampled)."""


def _candidates(source: SourceFile, kinds: Sequence[str]) -> dict[str, list[_Candidate]]:
    lines = source.text.split("\n")
    found: dict[str, list[_Candidate]] = {kind: [] for kind in kinds}
    for number, line in enumerate(lines):
        content = line.strip()
        if not content:
            continue
        if (
            "line" in found
            and len(content) >= MIN_MIDDLE + 2
            and not content.startswith(COMMENT_STARTS)
        ):
            found["line"].append(_Candidate(source, "line", number, number))
        if (
            "span" in found
            and number + 1 < len(lines)
            and lines[number + 1].strip()
            and _indent(lines[number + 1]) >= _indent(line)
        ):
            found["span"].append(_Candidate(source, "span", number, number + 1))
        if "block" in found and content.endswith((":", "{")):
            last = _block_end(lines, number)
            if last is not None:
                found["block"].append(_Candidate(source, "block", number + 1, last))
    return found


def _block_end(lines: Sequence[str], header: int) -> int | None:
    """The last line of the body under ``lines[header]``, if it has a short indented body."""
    depth = _indent(lines[header])
    first = header + 1
    if first >= len(lines) or not lines[first].strip() or _indent(lines[first]) <= depth:
        return None
    last = first
    for number in range(first + 1, len(lines)):
        line = lines[number]
        if not line.strip():
            continue
        if _indent(line) <= depth:
            break
        last = number
    if last - first + 1 > MAX_BLOCK_LINES:
        return None
    return last


def _make_hole(candidate: _Candidate, rng: random.Random) -> Hole | None:
    source = candidate.source
    lines = source.text.split("\n")
    starts = _line_starts(lines)
    first = lines[candidate.line]
    indent = _indent(first)
    last = candidate.last
    if candidate.kind == "line":
        content_end = len(first.rstrip())
        # The cursor goes anywhere from the indentation to MIN_MIDDLE characters before the end.
        column = rng.randint(indent, max(indent, content_end - MIN_MIDDLE))
        end = starts[candidate.line] + content_end
    else:
        if candidate.kind == "span":
            # 2 to 8 lines, but not past the end of the block (the engine never suggests
            # beyond it, so such a hole would measure the cut, not the model).
            want = candidate.line + rng.randint(2, 8) - 1
            last = candidate.line
            for number in range(candidate.line + 1, min(len(lines) - 1, want) + 1):
                if lines[number].strip() and _indent(lines[number]) < indent:
                    break
                last = number
            while last > candidate.line and not lines[last].strip():
                last -= 1
        column = indent
        end = starts[last] + len(lines[last].rstrip())
    start = starts[candidate.line] + column
    middle = source.text[start:end]
    if len(middle.strip()) < MIN_MIDDLE:
        return None
    key = f"{source.path}\0{source.digest}\0{candidate.kind}\0{start}\0{end}"
    return Hole(
        id=hashlib.sha1(key.encode("utf-8")).hexdigest()[:16],
        path=source.path,
        language=source.language,
        kind=candidate.kind,
        start=start,
        end=end,
        line=candidate.line,
        column=column,
    )


def sample_holes(
    sources: Sequence[SourceFile], count: int, kinds: Sequence[str] = KINDS, seed: int = 0
) -> list[Hole]:
    """``count`` holes spread evenly over ``kinds`` (a kind short of spots leaves its share to
    the others), drawn with ``seed``; the same inputs always give the same holes."""
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        raise ValueError(f"unknown hole kind {unknown[0]!r}; expected one of {', '.join(KINDS)}")
    pools: dict[str, list[_Candidate]] = {kind: [] for kind in kinds}
    for source in sorted(sources, key=lambda s: s.path):
        for kind, found in _candidates(source, kinds).items():
            pools[kind].extend(found)
    rng = random.Random(f"codestral-ls-eval:{seed}")
    for pool in pools.values():
        rng.shuffle(pool)
    holes: list[Hole] = []
    seen: set[str] = set()
    order = list(kinds)
    while len(holes) < count and any(pools[kind] for kind in order):
        for kind in order:
            if len(holes) >= count:
                break
            while pools[kind]:
                hole = _make_hole(pools[kind].pop(), rng)
                if hole is not None and hole.id not in seen:
                    seen.add(hole.id)
                    holes.append(hole)
                    break
    return holes
