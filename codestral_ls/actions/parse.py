"""Finding the code in a chat answer.

The prompts ask for exactly one fenced code block, but models add prose around it, repeat the
original code before the new one, or add a usage example.  :func:`code_blocks` finds every
fenced block (backtick or tilde fences, CommonMark's rule that a closing fence is at least as
long as the opening one, and a block cut off by the token limit still counts);
:func:`pick_block` chooses one:

1. Blocks tagged with the document's language (or an alias: ``py`` for Python...) come first,
   then untagged blocks, then blocks tagged with another language.  Only the first non-empty
   group is considered.
2. For a rewrite, blocks identical to the selection (the model quoting the original) are
   dropped when another block is left, and the block most similar to the selection wins
   (``difflib`` ratio over lines): a usage example or a shell command scores low.  For new
   code (tests), the longest block wins.
3. Ties go to the longer block, then to the later one (models put the final version last).

An answer without any fenced block gives None: it is most likely prose ("the code is already
fine"), and prose must never land in the code.  The caller then changes nothing and says so.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from .prompts import language_aliases

__all__ = ["CodeBlock", "code_blocks", "is_cut", "pick_block"]

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass(frozen=True)
class CodeBlock:
    """One fenced block: its language tag (lower-case, may be empty) and its text."""

    language: str
    text: str
    closed: bool = True


def _lines(text: str) -> list[str]:
    return re.split(r"\r\n|\r|\n", text)


def code_blocks(answer: str) -> list[CodeBlock]:
    """Every fenced code block of ``answer``, in order."""
    blocks: list[CodeBlock] = []
    lines = _lines(answer)
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None or (opening.group("fence")[0] == "`" and "`" in opening.group("info")):
            index += 1
            continue
        fence = opening.group("fence")
        indent = len(opening.group("indent"))
        info = opening.group("info").strip()
        language = info.split()[0].lower() if info else ""
        body: list[str] = []
        index += 1
        closed = False
        while index < len(lines):
            closing = _FENCE.match(lines[index])
            if (
                closing is not None
                and closing.group("fence")[0] == fence[0]
                and len(closing.group("fence")) >= len(fence)
                and not closing.group("info").strip()
            ):
                closed = True
                index += 1
                break
            line = lines[index]
            # CommonMark: an indented opening fence removes up to that much indentation.
            strip = min(indent, len(line) - len(line.lstrip(" ")))
            body.append(line[strip:])
            index += 1
        blocks.append(CodeBlock(language, "\n".join(body), closed))
    return blocks


def is_cut(answer: str) -> bool:
    """Whether ``answer`` stops inside a code block (its fence never closed): the model was cut
    off, and the code it was writing is incomplete."""
    return any(not block.closed for block in code_blocks(answer))


def _normalized(text: str) -> list[str]:
    return [line.strip() for line in _lines(text) if line.strip()]


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, _normalized(a), _normalized(b), autojunk=False).ratio()


def pick_block(answer: str, language_id: str, selection: str | None = None) -> str | None:
    """The code the model meant, or None when the answer holds no code.

    ``selection`` is the original code for a rewrite (choose the most similar block), or None
    for new code (choose the longest block).  See the module docstring for the rules.
    """
    blocks = [block for block in code_blocks(answer) if block.text.strip()]
    if not blocks:
        return None
    aliases = set(language_aliases(language_id))
    tagged = [block for block in blocks if block.language in aliases]
    untagged = [block for block in blocks if not block.language]
    group = tagged or untagged or blocks
    order = {id(block): position for position, block in enumerate(blocks)}

    if selection is None:
        best = max(group, key=lambda b: (len(b.text.strip()), order[id(b)]))
        return best.text

    original = _normalized(selection)
    changed = [block for block in group if _normalized(block.text) != original]
    candidates = changed or group
    best = max(
        candidates,
        key=lambda b: (_similarity(b.text, selection), len(b.text.strip()), order[id(b)]),
    )
    return best.text
