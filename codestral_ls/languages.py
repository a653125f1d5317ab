"""Language ids: the ones editors send, and the LSP ids that settings are written with.

Settings key per-language overrides (``languages``, ``enableLanguages``) by LSP language id
(``python``, ``typescriptreact``...).  Not every client sends those: eglot derives the id from
the major mode, so a tree-sitter buffer arrives as ``python-ts``; ``codestral-ls complete`` only
has a file name.  :func:`canonical` and :func:`from_path` map both to the LSP id.
"""

from __future__ import annotations

from pathlib import PurePath

#: Ids some clients send -> the LSP id (https://microsoft.github.io/language-server-protocol/
#: specification#textDocumentItem lists the LSP ones).
ALIASES = {
    "js": "javascript",
    "jsx": "javascriptreact",
    "ts": "typescript",
    "tsx": "typescriptreact",
    "sh": "shellscript",
    "bash": "shellscript",
    "zsh": "shellscript",
    "c++": "cpp",
    "objc": "objective-c",
    "cs": "csharp",
    "c#": "csharp",
    "elisp": "emacs-lisp",
    "yml": "yaml",
}

#: File suffixes -> the LSP id, for callers that only have a path.
EXTENSIONS = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascriptreact",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "typescriptreact",
    ".rs": "rust",
    ".go": "go",
    ".rb": "ruby",
    ".lua": "lua",
    ".sh": "shellscript",
    ".bash": "shellscript",
    ".zsh": "shellscript",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".cs": "csharp",
    ".java": "java",
    ".kt": "kotlin",
    ".kts": "kotlin",
    ".scala": "scala",
    ".swift": "swift",
    ".php": "php",
    ".ex": "elixir",
    ".exs": "elixir",
    ".erl": "erlang",
    ".jl": "julia",
    ".r": "r",
    ".dart": "dart",
    ".hs": "haskell",
    ".ml": "ocaml",
    ".el": "emacs-lisp",
    ".vim": "vim",
    ".sql": "sql",
    ".html": "html",
    ".htm": "html",
    ".css": "css",
    ".scss": "scss",
    ".json": "json",
    ".jsonc": "jsonc",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".md": "markdown",
    ".markdown": "markdown",
    ".tex": "latex",
    ".xml": "xml",
    ".zig": "zig",
    ".nix": "nix",
    ".tf": "terraform",
    ".vue": "vue",
    ".svelte": "svelte",
}


def canonical(language_id: str | None) -> str:
    """The LSP id for ``language_id`` as a client sent it: ``python-ts`` (eglot with a
    tree-sitter mode) -> ``python``, ``js`` -> ``javascript``; an unknown id is kept as sent,
    in lower case."""
    found = (language_id or "").strip().lower()
    if found.endswith("-ts"):
        found = found[: -len("-ts")]
    return ALIASES.get(found, found)


def from_path(path: str | PurePath) -> str:
    """The LSP id for a file, from its suffix (``""`` when the suffix is unknown)."""
    pure = PurePath(path)
    if pure.name == "Makefile":
        return "makefile"
    if pure.name == "Dockerfile":
        return "dockerfile"
    return EXTENSIONS.get(pure.suffix.lower(), "")
