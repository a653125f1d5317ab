"""What each Codestral code action is, which lines it covers and what it asks the chat model.

Pure: no LSP I/O, no network.  The feature module (:mod:`codestral_ls.features.code_actions`)
turns the results into LSP objects.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Protocol
from urllib.parse import unquote, urlsplit

from ..mistral.requests import ChatMessage

__all__ = [
    "ACTIONS",
    "CHAT_MAX_TOKENS",
    "CHAT_RETRY_MAX_TOKENS",
    "CHAT_TEMPERATURE",
    "CUSTOM_EDIT",
    "ActionSpec",
    "Destination",
    "Lines",
    "PromptInput",
    "Region",
    "build_messages",
    "companion_test_file",
    "enclosing_block",
    "fence_for",
    "fence_language",
    "file_name",
    "kind_matches",
    "language_aliases",
    "language_name",
    "mask_secrets",
    "region_for",
    "surrounding_context",
    "unmask_secrets",
]

#: Most tokens the chat model may generate for one action.
CHAT_MAX_TOKENS = 2048
#: The larger budget of the one retry after an answer was cut at ``CHAT_MAX_TOKENS``.
CHAT_RETRY_MAX_TOKENS = 2 * CHAT_MAX_TOKENS
#: Sampling temperature of code actions: low, so rewrites stay close to the code.
CHAT_TEMPERATURE = 0.2
#: Lines of context sent around the selection (before, after) and their character budgets.
CONTEXT_LINES = (30, 15)
CONTEXT_CHARS = (3000, 1500)


@dataclass(frozen=True)
class ActionSpec:
    """One code action: its id (used in ``data``), menu title, LSP kind and task for the model.

    Explain changes no code, so it has no standard kind: it gets ``codestral.explain``, which
    clients that filter by standard kinds (``context.only``) leave out.
    """

    id: str
    title: str
    kind: str | None
    task: str
    #: Whether the answer replaces the covered lines (else it is new code or prose).
    rewrites: bool = True
    #: Whether the task keeps the code as it is (documenting it): an answer that drops code
    #: lines is then wrong and refused.
    keeps_code: bool = False


ACTIONS: dict[str, ActionSpec] = {
    spec.id: spec
    for spec in (
        ActionSpec(
            "fix",
            "Codestral: Fix",
            "quickfix",
            "Fix the problems reported below in the selected code. Change only what is needed "
            "to fix them and keep everything else as it is.",
        ),
        ActionSpec(
            "document",
            "Codestral: Add docstring/comments",
            "refactor.rewrite",
            "Document the selected code: add docstrings (or the language's documentation "
            "comments) to the functions, classes and modules it defines, and short comments "
            "where the code is not obvious. Do not change the code itself.",
            keeps_code=True,
        ),
        ActionSpec(
            "simplify",
            "Codestral: Simplify/refactor",
            "refactor.rewrite",
            "Simplify and refactor the selected code so it is clearer and more idiomatic, "
            "without changing its behaviour or its public names.",
        ),
        ActionSpec(
            "tests",
            "Codestral: Generate tests",
            "refactor",
            "Write unit tests for the selected code, using the test framework that is usual "
            "for this language and project.",
            rewrites=False,
        ),
        ActionSpec(
            "explain",
            "Codestral: Explain",
            "codestral.explain",
            "Explain what the selected code does, how it works and anything surprising in it.",
            rewrites=False,
        ),
    )
}

#: The task behind ``codestral.edit`` (the user's instruction is added to it).
CUSTOM_EDIT = ActionSpec(
    "edit",
    "Codestral: Edit",
    "refactor.rewrite",
    "Rewrite the selected code following the instruction below.",
)


def kind_matches(kind: str | None, only: Sequence[str] | None) -> bool:
    """Whether an action of ``kind`` passes a ``context.only`` filter (kinds are hierarchical:
    ``refactor`` admits ``refactor.rewrite``)."""
    if not only:
        return True
    if not kind:
        return False
    return any(kind == wanted or kind.startswith(wanted + ".") for wanted in only)


# --------------------------------------------------------------------------------------------
# Languages

_LANGUAGE_NAMES = {
    "python": "Python",
    "javascript": "JavaScript",
    "javascriptreact": "JavaScript (React)",
    "typescript": "TypeScript",
    "typescriptreact": "TypeScript (React)",
    "go": "Go",
    "rust": "Rust",
    "java": "Java",
    "kotlin": "Kotlin",
    "c": "C",
    "cpp": "C++",
    "csharp": "C#",
    "ruby": "Ruby",
    "php": "PHP",
    "lua": "Lua",
    "shellscript": "shell script",
    "sh": "shell script",
    "bash": "Bash",
    "swift": "Swift",
    "scala": "Scala",
    "haskell": "Haskell",
    "markdown": "Markdown",
    "html": "HTML",
    "css": "CSS",
    "sql": "SQL",
    "yaml": "YAML",
    "json": "JSON",
}

#: Fence info strings that count as the same language (the first is the one we write).
_ALIASES: dict[str, tuple[str, ...]] = {
    "python": ("python", "py", "python3"),
    "javascript": ("javascript", "js", "node", "mjs", "cjs"),
    "javascriptreact": ("jsx", "javascript", "js"),
    "typescript": ("typescript", "ts"),
    "typescriptreact": ("tsx", "typescript", "ts"),
    "shellscript": ("bash", "sh", "shell", "zsh"),
    "sh": ("sh", "bash", "shell"),
    "bash": ("bash", "sh", "shell"),
    "cpp": ("cpp", "c++", "cc", "cxx", "hpp"),
    "c": ("c", "h"),
    "csharp": ("csharp", "cs", "c#"),
    "rust": ("rust", "rs"),
    "go": ("go", "golang"),
    "ruby": ("ruby", "rb"),
    "kotlin": ("kotlin", "kt"),
    "markdown": ("markdown", "md"),
    "yaml": ("yaml", "yml"),
    "haskell": ("haskell", "hs"),
}


def language_name(language_id: str) -> str:
    """A human name for an LSP language id (``"python"`` → ``"Python"``)."""
    return _LANGUAGE_NAMES.get(language_id, language_id or "plain text")


def language_aliases(language_id: str) -> tuple[str, ...]:
    """Fence info strings that mean ``language_id``, lower-case."""
    language = language_id.lower()
    return _ALIASES.get(language, (language,) if language else ())


def fence_language(language_id: str) -> str:
    """The info string to put after the opening fence for ``language_id``."""
    aliases = language_aliases(language_id)
    return aliases[0] if aliases else ""


def fence_for(text: str) -> str:
    """A backtick fence longer than any backtick run at a line start in ``text``."""
    longest = max((len(m.group(1)) for m in re.finditer(r"(?m)^\s*(`{3,})", text)), default=0)
    return "`" * max(3, longest + 1)


def file_name(uri: str) -> str:
    """The file name of ``uri`` (not its directory: the local path stays private)."""
    parts = urlsplit(uri)
    path = unquote(parts.path) if parts.scheme else uri
    name = PurePosixPath(path.replace("\\", "/")).name
    return name or uri


# --------------------------------------------------------------------------------------------
# Which lines an action covers


class Lines(Protocol):
    """Line contents (without terminators) by index: a list, or a view over a document."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> str: ...


@dataclass(frozen=True)
class Region:
    """Whole lines ``first`` to ``last`` (inclusive) of a document."""

    first: int
    last: int


_CLOSERS = re.compile(r"^\s*(\}|\)|\]|end\b|fi\b|done\b|esac\b)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def enclosing_block(lines: Lines, line: int) -> Region:
    """The block the cursor is in when nothing is selected.

    The cursor's line alone, unless it opens a block (the next non-blank line is indented
    deeper): then the line and its indented body, plus a closing line (``}``, ``end``...) at the
    header's indentation.  ``lines`` are line contents without terminators.
    """
    if not lines:
        return Region(0, 0)
    line = min(max(line, 0), len(lines) - 1)
    header = lines[line]
    if not header.strip():
        return Region(line, line)
    base = _indent(header)
    last = line
    index = line + 1
    while index < len(lines):
        text = lines[index]
        if text.strip():
            if _indent(text) <= base:
                break
            last = index
        index += 1
    if last == line:
        return Region(line, line)
    if index < len(lines) and _indent(lines[index]) == base and _CLOSERS.match(lines[index]):
        last = index
    return Region(line, last)


def region_for(
    lines: Lines,
    start_line: int,
    start_character: int,
    end_line: int,
    end_character: int,
) -> Region:
    """The whole lines an action works on, for a client range.

    An empty range means the enclosing line or block (:func:`enclosing_block`); a selection is
    widened to whole lines, and a selection ending at the very start of a line does not
    include that line.
    """
    count = len(lines)
    if (start_line, start_character) > (end_line, end_character):
        start_line, start_character, end_line, end_character = (
            end_line,
            end_character,
            start_line,
            start_character,
        )
    if end_line >= count:  # past the end: the end of the document
        end_line, end_character = count - 1, max(end_character, 1)
    start_line = min(max(start_line, 0), count - 1)
    if (start_line, start_character) == (end_line, end_character):
        return enclosing_block(lines, start_line)
    if end_character == 0 and end_line > start_line:
        end_line -= 1
    return Region(start_line, end_line)


def surrounding_context(lines: Lines, region: Region) -> tuple[str, str]:
    """A little text before and after the region (whole lines, within the budgets)."""

    def take(indices: range) -> list[str]:
        taken: list[str] = []
        budget = CONTEXT_CHARS[0] if indices.step < 0 else CONTEXT_CHARS[1]
        limit = CONTEXT_LINES[0] if indices.step < 0 else CONTEXT_LINES[1]
        for index in indices:
            if len(taken) >= limit or budget - len(lines[index]) - 1 < 0:
                break
            budget -= len(lines[index]) + 1
            taken.append(lines[index])
        return taken

    before = take(range(region.first - 1, -1, -1))
    before.reverse()
    after = take(range(region.last + 1, len(lines)))
    return "\n".join(before), "\n".join(after)


# --------------------------------------------------------------------------------------------
# Tests


@dataclass(frozen=True)
class Destination:
    """Where generated tests go: ``"below"`` the code, into a ``"new"`` file, or ``"append"``ed
    to an existing test file (``file`` is then that file's name)."""

    mode: str
    file: str | None = None


def companion_test_file(name: str, language_id: str) -> str | None:
    """The conventional test file next to ``name``, or None (tests then go below the code).

    ``calc.py`` → ``test_calc.py``; ``calc.ts`` → ``calc.test.ts``; ``calc.go`` →
    ``calc_test.go``.  A file that already is a test file gets None.
    """
    path = PurePosixPath(name)
    stem, suffix = path.stem, path.suffix
    if not stem:
        return None
    if language_id == "python" and suffix == ".py":
        if stem.startswith("test_") or stem.endswith("_test"):
            return None
        return f"test_{stem}.py"
    if language_id in ("javascript", "typescript", "javascriptreact", "typescriptreact"):
        if not suffix or stem.endswith((".test", ".spec")):
            return None
        return f"{stem}.test{suffix}"
    if language_id == "go" and suffix == ".go":
        return None if stem.endswith("_test") else f"{stem}_test.go"
    return None


# --------------------------------------------------------------------------------------------
# Messages


@dataclass(frozen=True)
class PromptInput:
    """Everything a prompt is built from (texts without trailing line breaks)."""

    language_id: str
    file_name: str
    selection: str
    before: str = ""
    after: str = ""
    first_line: int = 0  # 0-based line of the selection's first line
    diagnostics: tuple[str, ...] = ()
    instruction: str | None = None
    tests: Destination | None = None


def _system(language: str, name: str) -> str:
    return (
        f"You are Codestral, an expert {language} programmer working inside a code editor on "
        f"the file {name} ({language}). You change code precisely: you keep the existing "
        "style, naming and indentation, and you never add code that was not asked for."
    )


def _code(text: str, tag: str) -> str:
    fence = fence_for(text)
    return f"{fence}{tag}\n{text}\n{fence}"


def build_messages(action: ActionSpec, prompt: PromptInput) -> tuple[ChatMessage, ...]:
    """The system and user messages for ``action`` on ``prompt``."""
    language = language_name(prompt.language_id)
    tag = fence_language(prompt.language_id)
    first = prompt.first_line + 1
    last = first + prompt.selection.count("\n")
    parts: list[str] = []
    if prompt.before:
        parts.append(
            f"Code before the selection in {prompt.file_name}:\n" + _code(prompt.before, tag)
        )
    parts.append(
        f"Selected code ({prompt.file_name}, lines {first}-{last}):\n"
        + _code(prompt.selection, tag)
    )
    if prompt.after:
        parts.append("Code after the selection:\n" + _code(prompt.after, tag))
    parts.append(f"Task: {action.task}")
    if prompt.diagnostics:
        parts.append(
            "Problems reported by the editor:\n"
            + "\n".join(f"- {diagnostic}" for diagnostic in prompt.diagnostics)
        )
    if prompt.instruction:
        parts.append(f"Instruction: {prompt.instruction.strip()}")
    parts.append(_answer_format(action, prompt, tag or "the language"))
    return (
        ChatMessage("system", _system(language, prompt.file_name)),
        ChatMessage("user", "\n\n".join(parts)),
    )


def _answer_format(action: ActionSpec, prompt: PromptInput, tag: str) -> str:
    if action.id == "explain":
        return (
            "Answer in Markdown for a developer reading it next to the code: a one-sentence "
            "summary first, then the details. Quote code in fenced blocks."
        )
    if action.id == "tests":
        target = prompt.tests or Destination("below")
        if target.mode == "new":
            where = (
                f"They go into a new file {target.file} next to {prompt.file_name}: write the "
                "whole file, with the imports it needs."
            )
        elif target.mode == "append":
            where = (
                f"They are appended to the existing test file {target.file}: write only the "
                "new tests and the imports they need."
            )
        else:
            where = (
                f"They are inserted right after the selected code in {prompt.file_name}: do "
                "not repeat the selected code."
            )
        return f"{where} Answer with the tests in exactly one fenced code block ({tag})."
    return (
        "Answer with the complete replacement for the selected lines in exactly one fenced "
        f"code block ({tag}), indented as the selection is. Do not include the code before or "
        "after the selection. Keep explanations, if any, outside the code block and short."
    )


# --------------------------------------------------------------------------------------------
# Secrets

#: What the privacy layer puts in place of a secret.
REDACTED = "[REDACTED]"
_PLACEHOLDER = re.compile(r"\[REDACTED-(\d+)\]")


def mask_secrets(text: str, redact: Callable[[str], str], secrets: list[str]) -> tuple[str, bool]:
    """``text`` with each secret ``redact`` finds replaced by a numbered placeholder.

    ``[REDACTED-1]``, ``[REDACTED-2]``...: the model sees no secret, and
    :func:`unmask_secrets` can put each one back where the answer keeps it, so a rewrite never
    writes ``[REDACTED]`` over a real secret.  New secrets are appended to ``secrets`` (shared
    across texts, so numbers stay unique).  Returns ``(masked, True)``; when the redacted text
    cannot be aligned with the original (overlapping or adjacent secrets, a literal
    ``[REDACTED]`` in the code) it returns ``(redact(text), False)``: still safe to send, but
    secrets cannot be restored.
    """
    redacted = redact(text)
    if redacted == text:
        return text, True
    pieces: list[tuple[str, bool]] = []  # (text, is a secret)
    i = j = 0
    while True:
        k = redacted.find(REDACTED, j)
        if k < 0:
            if text[i:] != redacted[j:]:
                return redacted, False
            pieces.append((text[i:], False))
            break
        literal = redacted[j:k]
        if text[i : i + len(literal)] != literal:
            return redacted, False
        pieces.append((literal, False))
        i += len(literal)
        j = k + len(REDACTED)
        following = redacted.find(REDACTED, j)
        if following == j:  # two secrets side by side: no way to tell where one ends
            return redacted, False
        anchor = redacted[j : following if following >= 0 else len(redacted)][:40]
        end = text.find(anchor, i + 1) if anchor else len(text)
        secret = text[i:end] if end > i else ""
        if not secret or REDACTED in secret or _PLACEHOLDER.search(secret):
            return redacted, False
        pieces.append((secret, True))
        i = end
    masked: list[str] = []
    for piece, is_secret in pieces:
        if is_secret:
            if piece not in secrets:
                secrets.append(piece)
            piece = f"[REDACTED-{secrets.index(piece) + 1}]"
        masked.append(piece)
    return "".join(masked), True


def unmask_secrets(answer: str, secrets: Sequence[str]) -> str:
    """``answer`` with the placeholders of :func:`mask_secrets` replaced by the secrets."""

    def restore(match: re.Match[str]) -> str:
        index = int(match.group(1)) - 1
        return secrets[index] if 0 <= index < len(secrets) else match.group(0)

    return _PLACEHOLDER.sub(restore, answer)
