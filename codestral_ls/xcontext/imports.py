"""Source 3: what the current file imports from the workspace, as an outline.

Python, TypeScript/JavaScript and Go imports are read from the current file, resolved to files
of the workspace, and shown as the signatures and docstrings of the imported names (never
whole files).  Outlines are cached per file and modification time.
"""

from __future__ import annotations

import ast
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .snippet import Snippet

#: Lines of the current file scanned for imports.
HEAD_LINES = 400
#: Most characters of one outline.
MAX_OUTLINE = 1_200
#: Largest file outlined.
MAX_FILE_BYTES = 1_000_000
#: Names outlined per module imported as a whole (``import x``).
MAX_NAMES = 12

PYTHON = frozenset({"python"})
SCRIPT = frozenset(
    {"typescript", "typescriptreact", "javascript", "javascriptreact", "vue", "svelte"}
)
GO = frozenset({"go"})
_SCRIPT_EXTENSIONS = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs")


@dataclass(frozen=True)
class Import:
    """A file the current one imports, and the names it takes (empty: the whole module)."""

    path: Path
    names: tuple[str, ...] = ()


# --- reading imports -----------------------------------------------------------------------

_PY_FROM = re.compile(
    r"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#]+)", re.MULTILINE
)
_PY_IMPORT = re.compile(r"^[ \t]*import[ \t]+([\w.]+(?:[ \t]+as[ \t]+\w+)?)", re.MULTILINE)
_JS_FROM = re.compile(
    r"""^[ \t]*(?:import|export)[ \t]+(?:type[ \t]+)?(.*?)[ \t]*from[ \t]*['"]([^'"]+)['"]""",
    re.MULTILINE | re.DOTALL,
)
_JS_REQUIRE = re.compile(
    r"""(?:const|let|var)[ \t]+(\{[^}]*\}|\w+)[ \t]*=[ \t]*require\(['"]([^'"]+)['"]\)"""
)
_GO_SINGLE = re.compile(r"""^import[ \t]+(\w+[ \t]+)?"([^"]+)\"""", re.MULTILINE)
_GO_BLOCK = re.compile(r"^import[ \t]*\((.*?)\)", re.MULTILINE | re.DOTALL)
_GO_SPEC = re.compile(r"""^[ \t]*(\w+[ \t]+|\.[ \t]+|_[ \t]+)?"([^"]+)\"""", re.MULTILINE)
_GO_MODULE = re.compile(r"^module[ \t]+(\S+)", re.MULTILINE)

#: Module names resolved to files (or to nothing), kept by :class:`Imports` for a while.
Resolved = dict[tuple[str | Path, Path | None, tuple[Path, ...]], Path | None]
#: An open document's text (read lazily) and what identifies its version.
OpenText = tuple[Callable[[], str], tuple[object, ...]]
#: Seconds resolutions are trusted (a file created later is found after this).
RESOLVE_TTL = 10.0


def _names(spec: str) -> tuple[str, ...]:
    """``a, b as c`` / ``{a, b as c}`` / ``(a,\\n b)`` -> the imported names (``a``, ``b``)."""
    spec = spec.strip().strip("(){}").replace("\n", " ")
    names = []
    for part in spec.split(","):
        word = part.strip().split()
        if word and word[0] not in ("*", "type") and word[0].isidentifier():
            names.append(word[0])
        elif len(word) > 1 and word[0] == "type" and word[1].isidentifier():
            names.append(word[1])
    return tuple(names)


def python_imports(
    text: str, file: Path, roots: Sequence[Path], resolved: Resolved | None = None
) -> list[Import]:
    """Workspace modules imported by Python ``text`` of ``file``."""
    found: list[Import] = []
    for match in _PY_FROM.finditer(text):
        module, spec = match.group(1), match.group(2)
        names = _names(spec)
        base = _python_module(module, file, roots, resolved)
        if base is not None:
            found.append(Import(base, names))
            continue
        # ``from pkg import module``: each name may be a submodule.
        for name in names:
            sub = _python_module(
                f"{module}.{name}" if module.strip(".") else module + name, file, roots, resolved
            )
            if sub is not None:
                found.append(Import(sub))
    for match in _PY_IMPORT.finditer(text):
        module = match.group(1).split()[0]
        target = _python_module(module, file, roots, resolved)
        if target is not None:
            found.append(Import(target))
    return found


def _python_module(
    module: str, file: Path, roots: Sequence[Path], resolved: Resolved | None = None
) -> Path | None:
    if resolved is None:
        return _resolve_python(module, file, roots)
    key = (module, file.parent if module.startswith(".") else None, tuple(roots))
    if key not in resolved:
        resolved[key] = _resolve_python(module, file, roots)
    return resolved[key]


def _resolve_python(module: str, file: Path, roots: Sequence[Path]) -> Path | None:
    dots = len(module) - len(module.lstrip("."))
    parts = [part for part in module.lstrip(".").split(".") if part]
    if dots:
        base = file.parent
        for _ in range(dots - 1):
            base = base.parent
        bases = [base]
    else:
        bases = [root / sub for root in roots for sub in ("", "src", "lib")]
    for base in bases:
        target = base.joinpath(*parts) if parts else base
        for candidate in (target.with_suffix(".py") if parts else None, target / "__init__.py"):
            if candidate is not None and candidate.is_file():
                return candidate
    return None


def script_imports(text: str, file: Path, resolved: Resolved | None = None) -> list[Import]:
    """Relative imports of TypeScript/JavaScript ``text`` of ``file``."""
    found: list[Import] = []
    pairs = [(m.group(1), m.group(2)) for m in _JS_FROM.finditer(text)]
    pairs += [(m.group(1), m.group(2)) for m in _JS_REQUIRE.finditer(text)]
    for clause, source in pairs:
        if not source.startswith("."):
            continue
        target = _script_module(file.parent / source, resolved)
        if target is None:
            continue
        clause = clause.strip()
        names: list[str] = []
        if "{" in clause:
            names.extend(_names(clause[clause.index("{") : clause.rindex("}") + 1]))
            head = clause[: clause.index("{")].strip().rstrip(",").strip()
        else:
            head = clause
        if head and not head.startswith("*") and head.isidentifier():
            names.append("default")
        found.append(Import(target, tuple(names) if not clause.startswith("*") else ()))
    return found


def _script_module(target: Path, resolved: Resolved | None = None) -> Path | None:
    if resolved is None:
        return _resolve_script(target)
    key = ("js", target, ())
    if key not in resolved:
        resolved[key] = _resolve_script(target)
    return resolved[key]


def _resolve_script(target: Path) -> Path | None:
    if target.suffix in _SCRIPT_EXTENSIONS and target.is_file():
        return target
    for extension in _SCRIPT_EXTENSIONS:
        candidate = target.with_name(target.name + extension)
        if candidate.is_file():
            return candidate
    for extension in _SCRIPT_EXTENSIONS:
        candidate = target / f"index{extension}"
        if candidate.is_file():
            return candidate
    return None


def go_imports(text: str, roots: Sequence[Path], usage: str) -> list[Import]:
    """Packages of this Go module imported by ``text``, with the names ``usage`` uses."""
    specs = [(m.group(1), m.group(2)) for m in _GO_SINGLE.finditer(text)]
    for block in _GO_BLOCK.finditer(text):
        specs += [(m.group(1), m.group(2)) for m in _GO_SPEC.finditer(block.group(1))]
    found: list[Import] = []
    for root in roots:
        module = _go_module(root)
        if module is None:
            continue
        for alias, path in specs:
            if not path.startswith(module + "/"):
                continue
            directory = root / path[len(module) + 1 :]
            if not directory.is_dir():
                continue
            name = (alias or "").strip() or path.rsplit("/", 1)[-1]
            used = tuple(sorted(set(re.findall(rf"\b{re.escape(name)}\.([A-Z]\w*)", usage))))
            for file in sorted(directory.glob("*.go")):
                if not file.name.endswith("_test.go"):
                    found.append(Import(file, used or ("*",)))
    return found


def _go_module(root: Path) -> str | None:
    try:
        text = (root / "go.mod").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = _GO_MODULE.search(text)
    return match.group(1) if match else None


# --- outlines ------------------------------------------------------------------------------


def python_outline(source: str, names: Iterable[str] = ()) -> str:
    """Signatures and docstrings of the top-level definitions of ``source`` (only ``names``
    when given), with the public methods of classes."""
    wanted = set(names)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return ""
    lines = source.splitlines()
    parts: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if wanted and node.name not in wanted:
                continue
            if not wanted and node.name.startswith("_"):
                continue
            parts.append(_py_definition(node, lines, ""))
            if isinstance(node, ast.ClassDef):
                for member in node.body:
                    if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                        not member.name.startswith("_") or member.name == "__init__"
                    ):
                        parts.append(_py_definition(member, lines, ""))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and wanted:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id in wanted for t in targets):
                parts.append(lines[node.lineno - 1][:200])
    return "\n".join(part for part in parts if part)


def _py_definition(node: ast.AST, lines: list[str], indent: str) -> str:
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    first = node.decorator_list[0].lineno - 1 if node.decorator_list else node.lineno - 1
    body_start = node.body[0].lineno - 1 if node.body else node.lineno
    header = lines[first : max(body_start, node.lineno)]
    if node.body and node.body[0].lineno == node.lineno:  # ``def f(): ...`` on one line
        header = lines[first : node.lineno]
    text = "\n".join(header)
    doc = ast.get_docstring(node)
    if doc:
        summary = doc.strip().split("\n\n")[0].strip()
        body_indent = " " * (node.col_offset + 4)
        text += f'\n{body_indent}"""{summary}"""'
    return text


_JS_DECL = re.compile(
    r"^[ \t]*export[ \t]+(?:default[ \t]+)?(?:declare[ \t]+)?(?:async[ \t]+)?(?:abstract[ \t]+)?"
    r"(function\*?|class|interface|type|const|let|var|enum)[ \t]+(\w+)"
)
_JS_DEFAULT = re.compile(r"^[ \t]*export[ \t]+default\b")


def script_outline(source: str, names: Iterable[str] = ()) -> str:
    """Exported declarations of TypeScript/JavaScript ``source`` with their doc comments."""
    wanted = set(names)
    lines = source.splitlines()
    parts: list[str] = []
    for index, line in enumerate(lines):
        match = _JS_DECL.match(line)
        is_default = _JS_DEFAULT.match(line) is not None
        if match is None and not is_default:
            continue
        name = match.group(2) if match else "default"
        if wanted and name not in wanted and not (is_default and "default" in wanted):
            continue
        kind = match.group(1) if match else ""
        header = _declaration(lines, index, kind)
        parts.append(_leading_comment(lines, index, ("*", "/**", "*/", "//")) + header)
    return "\n".join(parts)


def _declaration(lines: list[str], index: int, kind: str) -> str:
    """The declaration starting at ``index`` up to its body (``{`` or ``=>``), or its whole
    text for types and interfaces (capped)."""
    if kind in ("interface", "type", "enum", "class"):
        collected = []
        depth = 0
        for line in lines[index : index + 30]:
            collected.append(line)
            depth += line.count("{") - line.count("}")
            if depth <= 0 and (line.rstrip().endswith(("}", ";")) or "{" not in "".join(collected)):
                break
        if kind == "class":
            return "\n".join(
                line for line in collected if not line.strip().startswith(("//", "return"))
            )
        return "\n".join(collected)
    collected = []
    for line in lines[index : index + 8]:
        collected.append(line)
        if "{" in line or "=>" in line or line.rstrip().endswith(";"):
            break
    text = "\n".join(collected)
    cut = text.find("{")
    return text[:cut].rstrip() if cut > 0 and kind.startswith("function") else text


def _leading_comment(lines: list[str], index: int, starts: tuple[str, ...]) -> str:
    comment: list[str] = []
    at = index - 1
    while at >= 0 and len(comment) < 12:
        stripped = lines[at].strip()
        if not stripped or not stripped.startswith(starts):
            break
        comment.append(lines[at])
        at -= 1
    return "".join(line + "\n" for line in reversed(comment))


_GO_DECL = re.compile(r"^(func(?:[ \t]*\([^)]*\))?[ \t]+([A-Z]\w*)|type[ \t]+([A-Z]\w*))")


def go_outline(source: str, names: Iterable[str] = ()) -> str:
    """Exported functions, methods and types of Go ``source`` with their doc comments."""
    wanted = set(names) - {"*"}
    lines = source.splitlines()
    parts: list[str] = []
    for index, line in enumerate(lines):
        match = _GO_DECL.match(line)
        if match is None:
            continue
        name = match.group(2) or match.group(3)
        is_method = line.startswith("func") and line[4:].lstrip().startswith("(")
        if wanted and name not in wanted and not is_method:
            continue
        if is_method and wanted:
            receiver = line[line.index("(") + 1 : line.index(")")]
            if not any(re.search(rf"\b{re.escape(w)}\b", receiver) for w in wanted):
                continue
        if line.startswith("type") and line.rstrip().endswith("{"):
            header = _declaration(lines, index, "interface")
        else:
            header = line.split("{")[0].rstrip() if line.startswith("func") else line
        parts.append(_leading_comment(lines, index, ("//",)) + header)
    return "\n".join(parts)


# --- the source ----------------------------------------------------------------------------


class Imports:
    """Outlines of imported workspace files, cached by path, names and modification time."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._outlines: dict[tuple[Path, tuple[str, ...]], tuple[tuple[object, ...], str]] = {}
        self._parsed: dict[tuple[str, str], list[Import]] = {}
        self._resolved: Resolved = {}
        self._clock = clock
        self._resolved_at = clock()

    def imports_of(
        self, language: str, head: str, file: Path, roots: Sequence[Path], usage: str
    ) -> list[Import]:
        now = self._clock()
        if now - self._resolved_at > RESOLVE_TTL:
            self._resolved.clear()
            self._parsed.clear()
            self._resolved_at = now
        key = (language, head if language not in GO else head + "\0" + usage)
        cached = self._parsed.get(key)
        if cached is None:
            if language in PYTHON:
                cached = python_imports(head, file, roots, self._resolved)
            elif language in SCRIPT:
                cached = script_imports(head, file, self._resolved)
            elif language in GO:
                cached = go_imports(head, roots, usage)
            else:
                cached = []
            if len(self._parsed) > 64:
                self._parsed.clear()
            self._parsed[key] = cached
        return cached

    def outline(
        self, target: Import, language: str, read_open: Callable[[Path], OpenText | None]
    ) -> str:
        """The outline of ``target`` (from the open document when there is one)."""
        key = (target.path, target.names)
        opened = read_open(target.path)
        text: str | None = None
        if opened is not None:
            stamp: tuple[object, ...] = ("open", *opened[1])
            cached = self._outlines.get(key)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            text = opened[0]()
        else:
            try:
                stat = target.path.stat()
            except OSError:
                return ""
            if stat.st_size > MAX_FILE_BYTES:
                return ""
            stamp = (stat.st_mtime_ns, stat.st_size)
            cached = self._outlines.get(key)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            try:
                text = target.path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                return ""
        outline = _outline_for(target, text)
        if len(self._outlines) > 4_096:
            self._outlines.clear()
        self._outlines[key] = (stamp, outline)
        return outline

    def snippets(
        self,
        language: str,
        head: str,
        file: Path,
        roots: Sequence[Path],
        usage: str,
        read_open: Callable[[Path], OpenText | None],
        relative: Callable[[Path], tuple[str, str]],
        allowed: Callable[[str], bool],
    ) -> list[Snippet]:
        """One outline per imported workspace file, in import order."""
        found: list[Snippet] = []
        seen: set[tuple[Path, tuple[str, ...]]] = set()
        merged: dict[Path, list[str]] = {}
        imports = self.imports_of(language, head, file, roots, usage)
        for target in imports:
            if target.path == file:
                continue
            merged.setdefault(target.path, [])
            merged[target.path].extend(target.names)
            if not target.names:
                merged[target.path].append("")
        for rank, (path, names) in enumerate(merged.items()):
            uri, shown = relative(path)
            if not allowed(uri):
                continue
            key = (path, tuple(sorted(set(names))))
            if key in seen:
                continue
            seen.add(key)
            wanted = () if "" in names else tuple(dict.fromkeys(names))
            outline = self.outline(Import(path, wanted), language, read_open)
            if not outline.strip():
                continue
            if len(outline) > MAX_OUTLINE:
                outline = outline[: outline.rfind("\n", 0, MAX_OUTLINE) + 1 or MAX_OUTLINE]
            found.append(
                Snippet(
                    uri=uri,
                    path=shown,
                    text=outline,
                    score=0.6 * (0.95**rank),
                    source="imports",
                )
            )
        return found


def _outline_for(target: Import, text: str) -> str:
    suffix = target.path.suffix
    if suffix in (".py", ".pyi"):
        outline = python_outline(text, target.names)
    elif suffix == ".go":
        outline = go_outline(text, target.names)
    else:
        outline = script_outline(text, target.names)
    if not target.names:
        return "\n".join(outline.split("\n")[: MAX_NAMES * 4])
    return outline
