"""Turn a raw fill-in-the-middle answer into the ghost text worth showing.

Everything here is a pure function of strings: no I/O, no LSP types, no asyncio.

Vocabulary used throughout:

* ``prefix`` -- document text before the cursor (possibly trimmed at a line boundary, so
  its last line is complete up to the cursor).
* ``suffix`` -- document text after the cursor.
* ``line_before`` -- the cursor's line up to the cursor (``prefix`` after its last newline).
* ``completion`` -- what the model proposes to insert at the cursor.

The helpers accept ``"\\n"``, ``"\\r\\n"`` (and lone ``"\\r"``) line breaks in every input;
:func:`postprocess` returns text using the document's line ending.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .lines import LINE_BREAK, detect_eol
from .snippets import FILE_MARKER

__all__ = [
    "block_body_indent",
    "block_end_index",
    "cut_at_suffix_line",
    "cut_loop",
    "fix_indentation",
    "is_repetition",
    "loop_start",
    "normalize_line_endings",
    "postprocess",
    "strip_artifacts",
    "strip_trailing_whitespace",
    "trim_suffix_overlap",
    "truncate_single_line",
]

# --------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------


_OPEN_FOR_CLOSE = {")": "(", "]": "[", "}": "{"}
_OPENERS = frozenset(_OPEN_FOR_CLOSE.values())

#: Closing brackets, quotes and separators: an overlap made only of these is trimmed even
#: when it is a single character.
_STRUCTURAL = frozenset(")]}\"'`;,:")

#: Lines like ``}``, ``end`` or ``</div>`` legitimately repeat (closing nested blocks).
_CLOSER_KEYWORDS = frozenset(
    {"end", "fi", "done", "esac", "endif", "endfor", "endwhile", "endfunction", "endmodule"}
)
_CLOSING_TAG_RE = re.compile(r"</[\w:.-]*>")

#: Keywords that close a block: ``end`` (Lua, Ruby, Elixir, Julia...), shell's ``fi``,
#: ``done`` and ``esac``.
_KEYWORD_CLOSERS = ("end", "fi", "done", "esac")
#: A line that only closes the block: ``}``, ``});``, ``]``, ``),``, ``end``, ``end)``, ``fi``...
_PURE_CLOSER_RE = re.compile(r"(?:[)\]}]|(?:end|fi|done|esac)\b)[)\]};,\s]*")

#: Text at the end of a line that opens a deeper block on the next line.
_BLOCK_OPENER_RE = re.compile(r"(?:[:{(\[]|=>|\bdo|\bthen)$")


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _split_lines(text: str) -> list[str]:
    """Split on any line break; always returns at least one (possibly empty) line."""
    return LINE_BREAK.split(text)


def _iter_lines(text: str) -> Iterator[tuple[int, str, str]]:
    """Yield ``(start_offset, content, eol)`` for each line; the last line has ``eol == ""``."""
    pos = 0
    for match in LINE_BREAK.finditer(text):
        yield pos, text[pos : match.start()], match.group()
        pos = match.end()
    yield pos, text[pos:], ""


def _leading_ws(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _cursor_line(prefix: str) -> str:
    """The cursor's line up to the cursor (the text after the prefix's last line break)."""
    cut = max(prefix.rfind("\n"), prefix.rfind("\r"))
    return prefix[cut + 1 :]


def _lines_above(prefix: str, count: int) -> list[str]:
    """The last ``count`` complete lines before the cursor's line (fewer if there are not)."""
    if count <= 0:
        return []
    # rsplit keeps the work proportional to the lines we need, not to the prefix size.  With
    # count + 1 splits, parts[0] may still hold many lines, so it only counts when shorter.
    parts = prefix.rsplit("\n", count + 1)
    complete = parts[1:-1] if len(parts) == count + 2 else parts[:-1]
    return [part.rstrip("\r") for part in complete]


def _last_nonblank_line_above(prefix: str) -> str | None:
    """The last non-blank complete line before the cursor's line, stripped."""
    end = prefix.rfind("\n")
    while end != -1:
        start = prefix.rfind("\n", 0, end)
        line = prefix[start + 1 : end].strip()
        if line:
            return line
        end = start
    return None


def _bracket_partners(text: str) -> dict[int, int | None]:
    """Map each ``)``/``]``/``}`` index in ``text`` to the index of its opener (or None).

    Deliberately ignores strings and comments: this is a heuristic over short snippets.
    """
    stack: list[int] = []
    partners: dict[int, int | None] = {}
    for i, ch in enumerate(text):
        if ch in _OPENERS:
            stack.append(i)
        elif ch in _OPEN_FOR_CLOSE:
            if stack and text[stack[-1]] == _OPEN_FOR_CLOSE[ch]:
                partners[i] = stack.pop()
            else:
                partners[i] = None
    return partners


def _cut_keeps_brackets(text: str, start: int) -> bool:
    """True unless ``text[start:]`` holds a bracket closing one opened in ``text[:start]``.

    Cutting must not drop ``[a[0]]``'s last ``]`` or ``bar()``'s ``)``: those close
    something the completion itself opened, so they are not the suffix's brackets.
    """
    return all(
        opener is None or opener >= start
        for closer, opener in _bracket_partners(text).items()
        if closer >= start
    )


def _is_trivial_line(stripped: str) -> bool:
    """Lines that legitimately repeat: bracket-only lines, ``end``-like keywords, closing tags."""
    if not any(_is_word_char(ch) for ch in stripped):
        return True
    word = stripped.rstrip(";,)").strip()
    return word in _CLOSER_KEYWORDS or _CLOSING_TAG_RE.fullmatch(stripped) is not None


# --------------------------------------------------------------------------------------
# 1. Control artefacts
# --------------------------------------------------------------------------------------

#: Markers after which the model is echoing the document's suffix: cut there.
_SUFFIX_MARKERS = ("[SUFFIX]", "<fim_suffix>", "<|fim_suffix|>", "<fim-suffix>")
#: Markers that are simply removed wherever they appear.
_DROP_MARKERS = (
    "[PREFIX]",
    "[MIDDLE]",
    "<fim_prefix>",
    "<fim_middle>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<fim-prefix>",
    "<fim-middle>",
    "<|endoftext|>",
    "</s>",
    "<EOT>",
)
_DROP_RE = re.compile("|".join(re.escape(m) for m in _DROP_MARKERS))
_HTML_S_OPEN_RE = re.compile(r"<s[\s>]")


def strip_file_marker(text: str) -> str:
    """Cut ``text`` where the model starts a ``+++++ path`` file block of the multi-file
    layout (echoing a context file header): the rest is not code for the cursor."""
    if text.startswith(FILE_MARKER):
        return ""
    cut = text.find("\n" + FILE_MARKER)
    return text if cut == -1 else text[: cut + 1]


def strip_artifacts(text: str) -> str:
    """Remove FIM control tokens the model sometimes echoes.

    Everything from the first suffix marker (``[SUFFIX]``, ``<fim_suffix>``,
    ``<|fim_suffix|>``, ``<fim-suffix>``) on is dropped, since what follows is the model
    echoing the suffix.  Other markers (``[PREFIX]``, ``[MIDDLE]``, ``<fim_prefix>``,
    ``<fim_middle>``, their ``<|...|>`` and ``<fim-...>`` forms, ``<|endoftext|>``, ``</s>``,
    ``<EOT>``) are removed wherever they occur (case-sensitive).
    A ``</s>`` that closes an HTML ``<s>`` tag opened earlier in ``text`` is kept.
    """
    cut = min((i for i in (text.find(m) for m in _SUFFIX_MARKERS) if i != -1), default=-1)
    if cut != -1:
        text = text[:cut]

    pieces: list[str] = []
    pos = 0
    open_s_tags = 0
    for match in _DROP_RE.finditer(text):
        before = text[pos : match.start()]
        pieces.append(before)
        open_s_tags += len(_HTML_S_OPEN_RE.findall(before))
        if match.group() == "</s>" and open_s_tags > 0:
            open_s_tags -= 1
            pieces.append(match.group())
        pos = match.end()
    pieces.append(text[pos:])
    return "".join(pieces)


# --------------------------------------------------------------------------------------
# 2. Single-line mode
# --------------------------------------------------------------------------------------


def truncate_single_line(text: str) -> str:
    """Keep only the first line of ``text`` (``\\n``, ``\\r\\n`` or ``\\r`` ends it).

    A completion that starts with a line break yields ``""``.
    """
    match = LINE_BREAK.search(text)
    return text if match is None else text[: match.start()]


# --------------------------------------------------------------------------------------
# 3. Overlap with the suffix
# --------------------------------------------------------------------------------------


def _normalize_for_compare(text: str, limit: int | None = None) -> tuple[str, list[int]]:
    """Canonical form for overlap matching, plus the original index of every kept char.

    Line breaks become ``\\n``, trailing spaces/tabs of each line are dropped, and all
    trailing whitespace at the very end is dropped.  With ``limit``, stop at the first line
    boundary after at least ``limit`` characters (the result is then a prefix of the full
    normalisation, which is all the overlap search needs).
    """
    chars: list[str] = []
    index: list[int] = []
    for start, content, eol in _iter_lines(text):
        kept = content.rstrip(" \t")
        chars.extend(kept)
        index.extend(range(start, start + len(kept)))
        if eol:
            chars.append("\n")
            index.append(start + len(content))
        if limit is not None and len(chars) > limit:
            return "".join(chars), index
    while chars and chars[-1].isspace():
        chars.pop()
        index.pop()
    return "".join(chars), index


def _overlap_is_trimmable(overlap: str) -> bool:
    """Is an overlapping piece worth trimming on its own merits (ignoring context)?"""
    core = overlap.strip()
    if not core:
        return False
    if all(ch in _STRUCTURAL or ch.isspace() for ch in core):
        return True
    if any(_is_word_char(ch) for ch in core):
        return len(core) >= 3
    return len(core) >= 2


def _trim_tail_overlap(completion: str, suffix: str) -> str:
    """Rule (a): the completion's tail equals the suffix's head."""
    norm_c, index = _normalize_for_compare(completion)
    if not norm_c:
        return completion
    norm_s, _ = _normalize_for_compare(suffix, limit=len(norm_c) + 1)
    for k in range(min(len(norm_c), len(norm_s)), 0, -1):
        start = len(norm_c) - k
        if norm_c[start:] != norm_s[:k]:
            continue
        overlap = norm_c[start:]
        if not _overlap_is_trimmable(overlap):
            continue
        # Do not cut a word in half on either side of the overlap.
        if start > 0 and _is_word_char(overlap[0]) and _is_word_char(norm_c[start - 1]):
            continue
        if k < len(norm_s) and _is_word_char(overlap[-1]) and _is_word_char(norm_s[k]):
            continue
        if not _cut_keeps_brackets(norm_c, start):
            continue
        return completion[: index[start]]
    return completion


def _trim_rest_of_line(completion: str, suffix: str) -> str:
    """Rule (b): the completion's last line ends with the rest of the cursor's line."""
    eol = LINE_BREAK.search(suffix)
    rest = (suffix if eol is None else suffix[: eol.start()]).strip()
    if not rest:
        return completion
    body = completion.rstrip()
    last_line_start = max(body.rfind("\n"), body.rfind("\r")) + 1
    if not body[last_line_start:].endswith(rest):
        return completion
    cut = len(body) - len(rest)
    if cut > 0 and _is_word_char(rest[0]) and _is_word_char(body[cut - 1]):
        return completion
    if not _cut_keeps_brackets(body, cut):
        return completion
    return completion[:cut]


def _first_nonblank_lines(text: str, count: int) -> list[str]:
    out: list[str] = []
    for _, content, _ in _iter_lines(text):
        stripped = content.strip()
        if stripped:
            out.append(content)
            if len(out) == count:
                break
    return out


def _trim_duplicate_lines(completion: str, suffix: str, line_before: str | None) -> str:
    """Rule (c): the completion's last lines re-write the lines that follow the cursor."""
    lines = list(_iter_lines(completion))
    # (line index, stripped full line) for the non-blank lines that are eligible.  The first
    # line continues the cursor's line, so it is only comparable when we know that line.
    candidates: list[tuple[int, str]] = []
    for i, (_, content, _) in enumerate(lines):
        if i == 0:
            if line_before is None:
                continue
            full = line_before + content
            if content.strip() and full.strip():
                candidates.append((0, full))
        elif content.strip():
            candidates.append((i, content))
    if not candidates:
        return completion

    wanted = _first_nonblank_lines(suffix, len(candidates))
    for k in range(min(len(candidates), len(wanted)), 0, -1):
        tail = candidates[-k:]
        if [text.strip() for _, text in tail] != [line.strip() for line in wanted[:k]]:
            continue
        # A line that only closes a block (``}``, ``end``, ``fi``...) repeats the suffix's only
        # at the same indentation; at another one it closes another block, and dropping it
        # would leave the completion's own block open.
        if any(
            _PURE_CLOSER_RE.fullmatch(text.strip()) and _leading_ws(text) != _leading_ws(line)
            for (_, text), line in zip(tail, wanted, strict=False)
        ):
            continue
        first_dropped = tail[0][0]
        if first_dropped == 0:
            cut = 0
        else:
            # Drop the line break before the first dropped line, and any blank lines too.
            prev_start, prev_content, _ = lines[first_dropped - 1]
            cut = prev_start + len(prev_content)
            kept_blank = first_dropped - 1
            while kept_blank > 0 and not lines[kept_blank][1].strip():
                kept_blank -= 1
                cut = lines[kept_blank][0] + len(lines[kept_blank][1])
        if not _cut_keeps_brackets(completion, cut):
            continue
        # Stripped comparison ignores indentation: never leave a block opener without body
        # ("if y:" + dropped "    return x" when the suffix's "return x" is one level up).
        kept_last_line = completion[:cut].rstrip().rsplit("\n", 1)[-1].strip()
        if kept_last_line and _BLOCK_OPENER_RE.search(kept_last_line):
            continue
        return completion[:cut]
    return completion


def trim_suffix_overlap(completion: str, suffix: str, *, line_before: str | None = None) -> str:
    """Drop the end of ``completion`` that duplicates the start of ``suffix``.

    Three rules, applied in order, each only ever shortening the completion (the result is
    always a prefix of ``completion``):

    (a) the longest tail of the completion equal to the head of the suffix (line breaks and
        trailing whitespace normalised) -- trimmed when it is made of closing brackets,
        quotes or ``;,:`` (any length), or is >= 3 chars if it contains a word character,
        or >= 2 chars of other punctuation; never when it would split a word, or drop a
        closing bracket that matches an opening bracket kept in the completion;
    (b) the completion's last line ends with the whole rest of the cursor's line -> drop it
        (same word and bracket guards);
    (c) the completion's last k non-blank lines equal the suffix's first k non-blank lines
        (stripped) -> drop them, unless that leaves a closing bracket without its opener or
        a block opener (``if y:``, ``{``...) without its body.  The completion's first line
        continues the cursor's line, so it is compared as ``line_before + first_line`` and
        only when ``line_before`` is given; otherwise it never takes part in rule (c).
    """
    if not completion or not suffix:
        return completion
    completion = _trim_tail_overlap(completion, suffix)
    completion = _trim_rest_of_line(completion, suffix)
    return _trim_duplicate_lines(completion, suffix, line_before)


# --------------------------------------------------------------------------------------
# 4. Repetition of the text above the cursor
# --------------------------------------------------------------------------------------


def is_repetition(completion: str, prefix: str) -> bool:
    """True when ``completion`` merely repeats the text right above the cursor.

    The completion's first line is joined to the cursor's line when that line already has
    text (a completion starting with a line break instead makes the cursor's line a
    complete line above it).  Then it is a repetition when:

    * its non-blank lines (blank lines at either end ignored) equal, stripped, the lines
      immediately above; or
    * it is a single line of >= 8 characters equal to the last non-blank line above; or
    * it has >= 2 non-blank lines that are all the same line.

    Lines that legitimately repeat (``}``, ``});``, ``end``, ``</div>``...) never count on
    their own: at least one repeated line must be "real" code.
    """
    line_before = _cursor_line(prefix)
    above_prefix = prefix[: len(prefix) - len(line_before)]
    lines = _split_lines(completion)
    if line_before.strip():
        if len(lines) > 1 and not lines[0].strip():
            above_prefix = prefix + "\n"
            lines = lines[1:]
        else:
            lines[0] = line_before + lines[0]
    stripped = [line.strip() for line in lines]
    while stripped and not stripped[-1]:
        stripped.pop()
    while stripped and not stripped[0]:
        stripped.pop(0)
    if not stripped:
        return False

    nonblank = [line for line in stripped if line]
    if all(_is_trivial_line(line) for line in nonblank):
        return False

    above = [line.strip() for line in _lines_above(above_prefix, len(stripped))]
    if len(above) == len(stripped) and above == stripped:
        return True

    if (
        len(stripped) == 1
        and len(stripped[0]) >= 8
        and stripped[0] == _last_nonblank_line_above(above_prefix)
    ):
        return True

    return len(nonblank) >= 2 and len(set(nonblank)) == 1


# --------------------------------------------------------------------------------------
# 5. Indentation of the first line
# --------------------------------------------------------------------------------------


def fix_indentation(completion: str, prefix: str) -> str:
    """Remove from the completion's first line the indentation the cursor's line already has.

    Only applies when the cursor's line is whitespace-only up to the cursor: the common
    leading run of that whitespace and the first line's leading whitespace is removed
    (compared literally, so tabs never match spaces).  Later lines are left untouched.
    """
    line_before = _cursor_line(prefix)
    if not line_before or line_before.strip(" \t"):
        return completion
    first_ws = _leading_ws(completion)
    common = 0
    while (
        common < len(first_ws)
        and common < len(line_before)
        and first_ws[common] == line_before[common]
    ):
        common += 1
    return completion[common:]


# --------------------------------------------------------------------------------------
# 6. Trailing whitespace
# --------------------------------------------------------------------------------------

#: Characters after which no space is needed: trailing spaces before them are dropped.
_NO_SPACE_BEFORE = frozenset(")]},;:.")


def strip_trailing_whitespace(text: str, suffix: str) -> str:
    """``text`` without trailing blank lines and trailing spaces, unless those spaces separate
    it from what follows on the cursor's line: ``a + `` before ``foo`` stays ``a + `` (else
    ``a +foo``), while ``a `` before ``)`` or the end of the line loses its space."""
    stripped = text.rstrip()
    tail = text[len(stripped) :]
    if not stripped or not tail or "\n" in tail or "\r" in tail:
        return stripped
    follows = suffix[:1]
    if follows and not follows.isspace() and follows not in _NO_SPACE_BEFORE:
        return text
    return stripped


# --------------------------------------------------------------------------------------
# 7. Line endings
# --------------------------------------------------------------------------------------


def normalize_line_endings(text: str, eol: str) -> str:
    """Replace every line break in ``text`` (``\\r\\n``, ``\\r`` or ``\\n``) with ``eol``."""
    return LINE_BREAK.sub(eol, text)


# --------------------------------------------------------------------------------------
# 8. Pipeline
# --------------------------------------------------------------------------------------


def postprocess(completion: str, prefix: str, suffix: str, *, single_line: bool) -> str:
    """Turn the model's raw answer into the text to show at the cursor ("" = nothing).

    strip_artifacts -> (single_line: truncate_single_line, else cut_at_suffix_line) ->
    fix_indentation -> trim_suffix_overlap -> drop trailing whitespace (blank lines and
    trailing spaces, but not the spaces that separate the completion from the rest of the
    line) -> "" if blank or a repetition of the lines above -> (multi-line: cut_loop, and the
    same check again) -> line endings of the document.
    """
    text = normalize_line_endings(strip_artifacts(strip_file_marker(completion)), "\n")
    line_before = _cursor_line(prefix)
    text = truncate_single_line(text) if single_line else cut_at_suffix_line(text, suffix)
    text = fix_indentation(text, prefix)
    text = trim_suffix_overlap(text, suffix, line_before=line_before)
    text = strip_trailing_whitespace(text, suffix)
    if not text.strip() or is_repetition(text, prefix):
        return ""
    if not single_line:
        text = strip_trailing_whitespace(cut_loop(text, line_before=line_before), suffix)
        if not text.strip() or is_repetition(text, prefix):
            return ""
    return normalize_line_endings(text, detect_eol((prefix, suffix)))


# --------------------------------------------------------------------------------------
# Block detection (used by the engine to stop multi-line completions early)
# --------------------------------------------------------------------------------------


def _indent_unit(prefix: str) -> str:
    """Guess one indentation level from the prefix: a tab, or N spaces (default 4)."""
    tab_lines = space_lines = 0
    smallest_step: int | None = None
    smallest_indent: int | None = None
    previous: int | None = None
    for line in _split_lines(prefix):
        body = line.lstrip(" \t")
        if not body:
            continue
        ws = line[: len(line) - len(body)]
        if ws.startswith("\t"):
            tab_lines += 1
            previous = None
            continue
        if ws:
            space_lines += 1
        if body.startswith("*") or "\t" in ws:
            # Block-comment continuation lines (" * text") are aligned, not indented.
            continue
        width = len(ws)
        if width >= 2 and (smallest_indent is None or width < smallest_indent):
            smallest_indent = width
        if previous is not None and width - previous >= 2:
            step = width - previous
            if smallest_step is None or step < smallest_step:
                smallest_step = step
        previous = width
    if tab_lines > space_lines:
        return "\t"
    if smallest_step is not None:
        return " " * smallest_step
    if smallest_indent is not None:
        return " " * smallest_indent
    return "    "


def block_body_indent(prefix: str) -> str:
    """Indentation of the block body the cursor is in.

    That is the cursor line's leading whitespace, plus one indentation unit when the text
    before the cursor ends with something that opens a block (``:``, ``{``, ``(``, ``[``,
    ``=>``, ``do``, ``then``).  The unit is a tab when the cursor's line or most indented
    lines of the prefix use tabs, else the smallest indentation step (>= 2) seen in the
    prefix, else 4 spaces.
    """
    line_before = _cursor_line(prefix)
    indent = _leading_ws(line_before)
    if not _BLOCK_OPENER_RE.search(line_before.strip()):
        return indent
    unit = "\t" if "\t" in indent else _indent_unit(prefix)
    return indent + unit


def _indent_less(indent: str, base: str) -> bool:
    if indent == base or indent.startswith(base):
        return False
    if base.startswith(indent):
        return True
    return len(indent.expandtabs(4)) < len(base.expandtabs(4))


def block_end_index(text: str, base_indent: str) -> int | None:
    """Where a multi-line completion leaves the block whose body is at ``base_indent``.

    Scans the lines of ``text`` after its first (which continues the cursor's line),
    ignoring blank lines, for the first line indented less than ``base_indent``, and
    returns the index in ``text`` where that line starts; the caller keeps ``text[:index]``
    (which ends with the line break, so strip it).  When that line only closes brackets
    (``}``, ``});``, ``]``, ``)``, ``end``...), it is the block's own closer: it is kept
    and the index of the line after it is returned.  Returns ``None`` when the completion
    has not left the block -- including while a dedented closer-looking last line has no
    line break yet (it may still grow), so this is safe to call on streamed text.
    """
    if not base_indent:
        return None
    lines = list(_iter_lines(text))
    for i, (start, content, eol) in enumerate(lines):
        if i == 0:
            continue
        stripped = content.strip()
        if not stripped:
            continue
        if not _indent_less(_leading_ws(content), base_indent):
            continue
        is_last = i == len(lines) - 1
        if _PURE_CLOSER_RE.fullmatch(stripped):
            return None if is_last else start + len(content) + len(eol)
        if is_last and any(keyword.startswith(stripped) for keyword in _KEYWORD_CLOSERS):
            return None
        return start
    return None


# --------------------------------------------------------------------------------------
# Runaway loops (small local models repeat a line or a block until max_tokens)
# --------------------------------------------------------------------------------------

#: Longest block (in non-blank lines) looked for as an immediate repeat.
LOOP_MAX_BLOCK = 8
#: A line at least this long (stripped) seen this many times is a loop even when the
#: repeats are not adjacent (``if isinstance(name, str):`` 14 times in 34 lines).
LOOP_LONG_LINE = 12
LOOP_LONG_LINE_COUNT = 3


def _nonblank_lines(text: str, line_before: str) -> list[tuple[int, str]]:
    """(start offset, line with trailing whitespace removed) of each non-blank line; the
    first line is joined to ``line_before`` (the text of the cursor's line it continues)."""
    lines: list[tuple[int, str]] = []
    for start, content, _ in _iter_lines(text):
        full = (line_before + content if start == 0 else content).rstrip()
        if full.strip():
            lines.append((start, full))
    return lines


def _cut_before_line(text: str, start: int) -> str:
    """``text`` up to the line starting at ``start``, without the line breaks before it."""
    return text[:start].rstrip("\r\n \t") if start else ""


def loop_start(completion: str, *, line_before: str = "") -> int | None:
    """Offset of the line where ``completion`` starts to loop, or None.

    A loop is, over the non-blank lines (indentation included):

    * a block of 1 to :data:`LOOP_MAX_BLOCK` lines followed at once by the same block, where
      the block has a line that is not a mere closer (``}``, ``end``...); the loop starts at
      the second copy;
    * a line of at least :data:`LOOP_LONG_LINE` characters seen
      :data:`LOOP_LONG_LINE_COUNT` times; the loop starts at its second occurrence.

    The first line is compared as ``line_before`` + its text (it continues the cursor's
    line), and is never where a loop starts.
    """
    lines = _nonblank_lines(completion, line_before)
    if len(lines) < 2:
        return None
    texts = [text for _, text in lines]
    best: int | None = None
    for size in range(1, LOOP_MAX_BLOCK + 1):
        for i in range(0, len(texts) - 2 * size + 1):
            if best is not None and i + size >= best:
                break
            block = texts[i : i + size]
            if block == texts[i + size : i + 2 * size] and not all(
                _is_trivial_line(line.strip()) for line in block
            ):
                best = i + size
                break
    seen: dict[str, list[int]] = {}
    for index, text in enumerate(texts):
        key = text.strip()
        if len(key) < LOOP_LONG_LINE or _is_trivial_line(key):
            continue
        hits = seen.setdefault(key, [])
        hits.append(index)
        if len(hits) == LOOP_LONG_LINE_COUNT:
            if best is None or hits[1] < best:
                best = hits[1]
            break
    if best is None or best == 0:
        return None
    return lines[best][0]


def cut_loop(completion: str, *, line_before: str = "") -> str:
    """``completion`` up to where it starts to loop (see :func:`loop_start`)."""
    start = loop_start(completion, line_before=line_before)
    if start is None:
        return completion
    return _cut_before_line(completion, start)


def cut_at_suffix_line(completion: str, suffix: str) -> str:
    """Cut ``completion`` where it writes the suffix's next non-blank line again.

    The model wrote the code between the cursor and that line, then went on re-writing the
    code that already follows.  Lines are compared with their indentation (so the same
    statement in a nested block does not count), only from the completion's second line on,
    never for a mere closer (``}``), and never so that a block opener or an open bracket is
    left dangling.
    """
    following = next((line.rstrip() for line in _split_lines(suffix) if line.strip()), None)
    if following is None or _is_trivial_line(following.strip()):
        return completion
    for number, (start, content, _) in enumerate(_iter_lines(completion)):
        if number == 0 or content.rstrip() != following:
            continue
        kept = _cut_before_line(completion, start)
        last = kept.rsplit("\n", 1)[-1].strip()
        if last and _BLOCK_OPENER_RE.search(last):
            return completion
        if not _cut_keeps_brackets(completion, len(kept)):
            return completion
        return kept
    return completion
