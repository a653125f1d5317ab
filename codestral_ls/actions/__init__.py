"""Chat-based code actions: prompts, answer parsing and minimal edits (pure logic).

The LSP handlers live in :mod:`codestral_ls.features.code_actions`.
"""

from __future__ import annotations

from .edits import Hunk, detect_eol, fit_answer, keeps_code, line_hunks, rebase_indent
from .parse import CodeBlock, code_blocks, is_cut, pick_block
from .prompts import (
    ACTIONS,
    CHAT_MAX_TOKENS,
    CHAT_RETRY_MAX_TOKENS,
    CHAT_TEMPERATURE,
    CUSTOM_EDIT,
    ActionSpec,
    Destination,
    PromptInput,
    Region,
    build_messages,
    companion_test_file,
    kind_matches,
    region_for,
)

__all__ = [
    "ACTIONS",
    "CHAT_MAX_TOKENS",
    "CHAT_RETRY_MAX_TOKENS",
    "CHAT_TEMPERATURE",
    "CUSTOM_EDIT",
    "ActionSpec",
    "CodeBlock",
    "Destination",
    "Hunk",
    "PromptInput",
    "Region",
    "build_messages",
    "code_blocks",
    "companion_test_file",
    "detect_eol",
    "fit_answer",
    "is_cut",
    "keeps_code",
    "kind_matches",
    "line_hunks",
    "pick_block",
    "rebase_indent",
    "region_for",
]
