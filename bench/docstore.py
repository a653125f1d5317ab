"""Synthetic source files, and the per-keystroke cost of the document store.

The micro-benchmark types one character at the cursor and computes what a completion request
needs, in-process, with no LSP or HTTP:

- codestral-ls: ``Document.apply_edit`` + ``text_above``/``text_below`` (the engine's cache keys
  on the full text around the cursor) + ``extract_context`` (prompt and suffix budgets);
- pygls: ``TextDocument.apply_change`` + ``.lines`` + ``offset_at_position`` + slicing the
  prompt and suffix budgets out of ``.source`` (pygls' own workspace documents; no full-text
  keys, which would only add to its cost).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from pygls.workspace import TextDocument

from codestral_ls.context import build_fim_request, extract_context
from codestral_ls.documents import Cursor, Document
from codestral_ls.settings import Settings

PREFIX_CHARS = 9000
SUFFIX_CHARS = 3000
#: The line the benchmarks type on: the cursor starts at its end.
TARGET_LINE = "    result = compute_"


@dataclass(frozen=True)
class Source:
    """A synthetic Python file with the cursor line in the middle."""

    text: str
    line: int
    """The cursor's line (it reads :data:`TARGET_LINE`)."""

    @property
    def column(self) -> int:
        return len(TARGET_LINE)

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")


def make_source(size: int) -> Source:
    """About ``size`` bytes of plausible Python, with :data:`TARGET_LINE` in the middle."""
    blocks: list[str] = []
    total = 0
    index = 0
    while total < size:
        block = (
            f"def function_{index}(alpha, beta):\n"
            f'    """Combine alpha and beta, variant {index}."""\n'
            f"    total = alpha * {index % 89 + 2} + beta\n"
            f"    if total > {index % 97}:\n"
            f"        return total - beta\n"
            f"    return total\n"
            f"\n"
        )
        blocks.append(block)
        total += len(block)
        index += 1
    middle = len(blocks) // 2
    target = f"def target(alpha, beta):\n{TARGET_LINE}\n    return result\n\n"
    line = sum(block.count("\n") for block in blocks[:middle]) + 1
    text = "".join(blocks[:middle]) + target + "".join(blocks[middle:])
    return Source(text, line)


def _ours(source: Source) -> Callable[[], Any]:
    document = Document("file:///bench/ours.py", source.text, version=1)
    state = {"column": source.column}
    line = source.line

    def keystroke() -> Any:
        column = state["column"]
        at = types.Position(line=line, character=column)
        document.apply_edit(types.Range(start=at, end=at), "x")
        state["column"] = column + 1
        document.text_above(line)
        document.text_below(line)
        return extract_context(document, Cursor(line, column + 1), PREFIX_CHARS, SUFFIX_CHARS)

    return keystroke


def _pygls(source: Source) -> Callable[[], Any]:
    document = TextDocument("file:///bench/pygls.py", source.text, version=1)
    state = {"column": source.column}
    line = source.line

    def keystroke() -> Any:
        column = state["column"]
        at = types.Position(line=line, character=column)
        document.apply_change(
            types.TextDocumentContentChangePartial(range=types.Range(start=at, end=at), text="x")
        )
        state["column"] = column + 1
        lines = document.lines
        offset = document.offset_at_position(types.Position(line=line, character=column + 1))
        text = document.source
        prefix = text[max(0, offset - PREFIX_CHARS) : offset]
        suffix = text[offset : offset + SUFFIX_CHARS]
        return len(lines), prefix, suffix

    return keystroke


def _time(keystroke: Callable[[], Any], budget: float, min_runs: int, max_runs: int) -> dict:
    """Wall-clock and CPU time (this thread's) per call; CPU time is what the figures use,
    as it does not count time slices lost to other processes on a busy machine."""
    keystroke()  # the first call pays one-time joins; not a keystroke's cost
    wall: list[float] = []
    cpu: list[float] = []
    deadline = time.perf_counter() + budget
    while len(wall) < max_runs and (len(wall) < min_runs or time.perf_counter() < deadline):
        started, started_cpu = time.perf_counter(), time.thread_time()
        keystroke()
        cpu.append(time.thread_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    wall.sort()
    cpu.sort()
    return {
        "runs": len(wall),
        "p50_us": cpu[len(cpu) // 2] * 1e6,
        "mean_us": sum(cpu) / len(cpu) * 1e6,
        "wall_p50_us": wall[len(wall) // 2] * 1e6,
        "wall_mean_us": sum(wall) / len(wall) * 1e6,
    }


def _request_costs(source: Source, budget: float) -> dict[str, Any]:
    """What a cache miss adds after the keystroke: building the request from the context
    (with the default settings, which redact secrets, and with redaction off when the setting
    exists)."""
    document = Document("file:///bench/request.py", source.text, version=1)
    context = extract_context(
        document, Cursor(source.line, source.column), PREFIX_CHARS, SUFFIX_CHARS
    )
    settings = Settings()
    found: dict[str, Any] = {
        "prompt_chars": len(context.prefix),
        "suffix_chars": len(context.suffix),
        "build_request": _time(lambda: build_fim_request(context, settings), budget, 5, 100_000),
    }
    if "redactSecrets" in {field.name for field in dataclasses.fields(Settings)}:
        plain = dataclasses.replace(settings, redactSecrets=False)
        found["build_request_no_redaction"] = _time(
            lambda: build_fim_request(context, plain), budget, 5, 100_000
        )
    return found


def run(sizes: dict[str, int], budget: float) -> dict[str, Any]:
    """Per-keystroke CPU time of both stores at each size; ratio pygls / ours (medians)."""
    results: dict[str, Any] = {}
    for label, size in sizes.items():
        source = make_source(size)
        ours = _time(_ours(source), budget, min_runs=20, max_runs=200_000)
        theirs = _time(_pygls(source), budget, min_runs=5, max_runs=200_000)
        results[label] = {
            "bytes": len(source.text.encode()),
            "lines": source.text.count("\n") + 1,
            "codestral_ls": ours,
            "pygls": theirs,
            "ratio": theirs["p50_us"] / ours["p50_us"],
            "request": _request_costs(source, budget / 2),
        }
    return results
