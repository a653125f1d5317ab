"""From a cursor in a document to the FIM prompt and suffix, and from those to a request.

Pure functions: no LSP, no HTTP.  The prompt is the text before the cursor and the suffix the text
after it, each cut at a line boundary to fit its character budget, so the model always sees whole
lines.  Only the lines inside the budget are visited, so the cost does not grow with file size.
"""

from __future__ import annotations

from dataclasses import dataclass

from .documents import Cursor, Document, line_content
from .mistral import FimRequest
from .privacy import redact_around_cursor
from .settings import Settings
from .snippets import FILE_MARKER, ContextFile

#: Most tokens asked for when the completion should stay on the cursor's line.
SINGLE_LINE_MAX_TOKENS = 64
#: Characters per token assumed when fitting the prompt into a model's context (code runs at
#: about 3 to 4; the lower figure keeps a safety margin).
CHARS_PER_TOKEN = 3.0
#: Tokens kept free for the model's own framing of a FIM prompt.
CONTEXT_RESERVE_TOKENS = 64


def prompt_budget(settings: Settings, context_length: int | None) -> tuple[int, int]:
    """Prefix and suffix budgets in characters: the settings, shrunk to fit the model.

    With the model's context length known, prompt plus suffix must leave room for ``maxTokens``;
    the settings are upper bounds and their ratio is kept.
    """
    prefix, suffix = settings.prefixChars, settings.suffixChars
    if not context_length:
        return prefix, suffix
    room = max(0, context_length - settings.maxTokens - CONTEXT_RESERVE_TOKENS)
    fits = int(room * CHARS_PER_TOKEN)
    total = prefix + suffix
    if total <= fits:
        return prefix, suffix
    scaled_prefix = fits * prefix // total if total else 0
    return scaled_prefix, fits - scaled_prefix


@dataclass(frozen=True)
class FimContext:
    """What the model sees around the cursor."""

    prefix: str
    """Text before the cursor, cut at a line boundary to its budget."""
    suffix: str
    """Text after the cursor, cut at a line boundary to its budget."""
    line_before: str
    """Text of the cursor's line before the cursor."""
    line_after: str
    """Text of the cursor's line after the cursor, without the line terminator."""

    @property
    def single_line(self) -> bool:
        """Text after the cursor on its line means the completion must end on this line."""
        return bool(self.line_after.strip())


def extract_context(
    document: Document, cursor: Cursor, prefix_chars: int, suffix_chars: int
) -> FimContext:
    """Cut the prompt and suffix around ``cursor``.

    The cursor's own line is always kept up to the cursor (trimmed from the left only when that
    part alone exceeds the budget, as in minified files); whole lines above are added while they
    fit.  The suffix is built the same way going down.
    """
    raw_line = document.lines[cursor.line]
    content = line_content(raw_line)
    line_before = content[: cursor.column]
    rest = raw_line[cursor.column :]

    prefix_parts = [line_before[-prefix_chars:] if prefix_chars else ""]
    used = len(prefix_parts[0])
    for line in document.lines_before(cursor.line):
        if used + len(line) > prefix_chars:
            break
        prefix_parts.append(line)
        used += len(line)
    prefix_parts.reverse()

    suffix_parts = [rest[:suffix_chars]]
    used = len(suffix_parts[0])
    for line in document.lines_after(cursor.line):
        if used + len(line) > suffix_chars:
            break
        suffix_parts.append(line)
        used += len(line)

    return FimContext(
        prefix="".join(prefix_parts),
        suffix="".join(suffix_parts),
        line_before=line_before,
        line_after=line_content(rest),
    )


#: Stop sequence added when other files are laid out in front of the prompt: the model would
#: start another file block.
FILE_STOP = "\n" + FILE_MARKER


def context_room(context: FimContext, settings: Settings, context_length: int | None) -> int | None:
    """Characters the model's window leaves after this prefix, suffix and ``maxTokens``
    (None when the window is unknown)."""
    if not context_length:
        return None
    room = max(0, context_length - settings.maxTokens - CONTEXT_RESERVE_TOKENS)
    return max(0, int(room * CHARS_PER_TOKEN) - len(context.prefix) - len(context.suffix))


def request_profile(settings: Settings, budget: tuple[int, int]) -> tuple[object, ...]:
    """Every setting that shapes the body :func:`build_fim_request` sends, besides the text
    (``budget`` is the prefix and suffix budget of :func:`prompt_budget`).

    Two requests with the same text and the same profile get the same answer, so the
    completion cache keys on it: a change of any of these settings is never answered from an
    answer made with the old ones.  Whatever starts to shape the body must be added here
    (``tests/test_context.py`` checks every setting).
    """
    trial = settings.trial
    return (
        settings.model,
        settings.maxTokens,
        settings.temperature,
        tuple(settings.stop),
        settings.redactSecrets,
        budget,
        # A trial sends some requests to other models (and backends): a change of trial is
        # never answered from answers of the previous one.
        (trial.models, tuple(sorted(trial.endpoints.items()))) if trial.active else None,
    )


def build_fim_request(
    context: FimContext,
    settings: Settings,
    *,
    stream: bool = False,
    context_files: tuple[ContextFile, ...] = (),
    path: str | None = None,
) -> FimRequest:
    """The FIM request for ``context``: single-line requests stop at the end of the line.

    ``context_files`` (already redacted) go in front of the prompt under ``path``.
    """
    stop = list(settings.stop)
    if context_files and FILE_STOP not in stop:
        stop.append(FILE_STOP)
    max_tokens = settings.maxTokens
    if context.single_line:
        max_tokens = min(max_tokens, SINGLE_LINE_MAX_TOKENS)
        if "\n" not in stop:
            stop.append("\n")
    prompt, suffix = context.prefix, context.suffix
    if settings.redactSecrets:
        prompt, suffix = redact_around_cursor(prompt, suffix)
    return FimRequest(
        model=settings.model,
        prompt=prompt,
        suffix=suffix,
        max_tokens=max_tokens,
        temperature=settings.temperature,
        stop=tuple(stop),
        stream=stream,
        context_files=context_files,
        path=path if context_files else None,
    )
