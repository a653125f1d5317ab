"""The cross-file context layer, source by source, without LSP."""

from __future__ import annotations

from pathlib import Path

import pytest

from codestral_ls.context import FILE_STOP, build_fim_request, extract_context
from codestral_ls.documents import Cursor, Document
from codestral_ls.postprocess import postprocess, strip_file_marker
from codestral_ls.settings import ContextSettings, Settings, parse_settings
from codestral_ls.snippets import ContextFile
from codestral_ls.xcontext import ContextGatherer, Workspace, collect_context, context_budget
from codestral_ls.xcontext.assemble import assemble, block_cost
from codestral_ls.xcontext.imports import (
    go_imports,
    go_outline,
    python_imports,
    python_outline,
    script_imports,
    script_outline,
)
from codestral_ls.xcontext.openfiles import OpenFiles, query_tokens
from codestral_ls.xcontext.recent import RecentEdits
from codestral_ls.xcontext.snippet import Snippet
from codestral_ls.xcontext.tokens import jaccard, line_tokens, windows


def doc(uri: str, text: str, language: str = "python", version: int = 1) -> Document:
    return Document(uri, text, version=version, language_id=language)


# --- tokens ----------------------------------------------------------------------------------


def test_tokens_skip_syntax_words_and_single_letters() -> None:
    assert line_tokens("def total_price(items, x): return self.tax") == {
        "total_price",
        "items",
        "tax",
    }


def test_jaccard() -> None:
    assert jaccard(frozenset("ab"), frozenset("ab")) == 1.0
    assert jaccard(frozenset("ab"), frozenset("bc")) == pytest.approx(1 / 3)
    assert jaccard(frozenset(), frozenset("a")) == 0.0


def test_windows_cover_the_file() -> None:
    lines = [f"name_{i}\n" for i in range(100)]
    found = windows(lines, 40, 20)
    assert [(s, e) for s, e, _ in found] == [(0, 40), (20, 60), (40, 80), (60, 100)]
    assert "name_99" in found[-1][2]


# --- open files ------------------------------------------------------------------------------


def test_open_files_pick_the_similar_window_same_language_first() -> None:
    filler = "".join(f"unrelated_{i} = {i}\n" for i in range(80))
    target = "def ship_order(order, carrier):\n    return carrier.book(order)\n"
    other = doc("file:///w/ship.py", filler + target + filler)
    script = doc("file:///w/ship.ts", filler + target + filler, "typescript")
    current = doc("file:///w/main.py", "order = load()\ncarrier = pick()\nship_order(")
    query = query_tokens(current.lines, 2, "ship_order(")
    found = OpenFiles().snippets(query, current, [script, other, current], lambda u: u[8:])
    assert found[0].uri == other.uri and "def ship_order" in found[0].text
    assert found[0].score > max(s.score for s in found if s.uri == script.uri)
    assert all(s.uri != current.uri for s in found)
    assert found[0].end - found[0].start <= 40


def test_open_file_windows_are_kept_until_the_document_changes() -> None:
    source = OpenFiles()
    other = doc("file:///w/a.py", "alpha_beta = 1\n")
    first = source.windows_of(other)
    assert source.windows_of(other) is first
    other.replace_all("gamma_delta = 2\n", version=2)
    assert "gamma_delta" in source.windows_of(other)[0][2]


# --- recent edits ----------------------------------------------------------------------------


def test_recent_edits_merge_neighbours_and_keep_the_last() -> None:
    edits = RecentEdits(limit=2)
    edits.record("a", 10, 11)
    edits.record("a", 12, 13)  # next to the first: one region
    assert [(r.uri, r.start, r.end) for r in edits.regions] == [("a", 10, 13)]
    edits.record("b", 1, 2)
    edits.record("c", 1, 2)
    assert [r.uri for r in edits.regions] == ["b", "c"]


def test_recent_edit_snippets_show_the_region_with_context() -> None:
    text = "".join(f"line {i}\n" for i in range(50))
    other = doc("file:///w/b.py", text)
    edits = RecentEdits()
    edits.record(other.uri, 20, 21)
    edits.record("file:///w/main.py", 3, 4)  # the current file is never context
    found = edits.snippets("file:///w/main.py", {other.uri: other}.get, lambda u: "b.py")
    [snippet] = found
    assert snippet.text == "".join(f"line {i}\n" for i in range(17, 24))
    assert edits.snippets("file:///w/main.py", lambda uri: None, lambda u: u) == []


# --- imports ---------------------------------------------------------------------------------


def test_python_imports_resolve_to_workspace_files(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sub" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "tools.py").write_text("")
    (tmp_path / "pkg" / "sub" / "deep.py").write_text("")
    main = tmp_path / "pkg" / "main.py"
    text = (
        "import os\nfrom pkg.tools import (\n    a,\n    b as c,\n)\n"
        "from .sub import deep\nimport pkg.sub.deep as d\nfrom requests import get\n"
    )
    found = python_imports(text, main, [tmp_path])
    assert (tmp_path / "pkg" / "tools.py", ("a", "b")) in [(i.path, i.names) for i in found]
    assert tmp_path / "pkg" / "sub" / "deep.py" in [i.path for i in found]
    assert all("requests" not in str(i.path) and i.path.stem != "os" for i in found)


def test_python_outline_is_signatures_and_first_docstring_paragraph() -> None:
    source = (
        "import x\n\n"
        "@decorator\n"
        "def scale(shape,\n          factor: float = 1.0) -> Shape:\n"
        '    """Scale a shape.\n\n    Details.\n    """\n    return shape\n\n'
        "class Box:\n"
        '    """A box."""\n'
        "    def area(self) -> float:\n        return 1.0\n"
        "    def _hidden(self):\n        pass\n\n"
        "def other():\n    pass\n"
        "LIMIT = 10\n"
    )
    outline = python_outline(source, ["scale", "Box", "LIMIT"])
    assert "@decorator\ndef scale(shape,\n          factor: float = 1.0) -> Shape:" in outline
    assert '"""Scale a shape."""' in outline and "Details" not in outline
    assert "class Box:" in outline and "def area(self) -> float:" in outline
    assert "_hidden" not in outline and "def other" not in outline and "return" not in outline
    assert "LIMIT = 10" in outline
    assert python_outline("def broken(:\n") == ""


def test_script_imports_and_outline(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "math.ts").write_text("")
    (tmp_path / "lib" / "index.js").write_text("")
    main = tmp_path / "main.ts"
    text = (
        "import { add, type Vec as V } from './lib/math';\n"
        "import lib from './lib';\nimport React from 'react';\n"
        "const { helper } = require('./lib/index.js');\n"
    )
    found = {i.path.name: i.names for i in script_imports(text, main)}
    assert found == {"math.ts": ("add", "Vec"), "index.js": ("helper",)} or found == {
        "math.ts": ("add", "Vec"),
        "index.js": ("default",),
    }
    source = (
        "/** Adds two vectors. */\n"
        "export function add(a: Vec, b: Vec): Vec {\n  return a;\n}\n"
        "export interface Vec {\n  x: number;\n  y: number;\n}\n"
        "export const unused = 1;\n"
    )
    outline = script_outline(source, ["add", "Vec"])
    assert "/** Adds two vectors. */\nexport function add(a: Vec, b: Vec): Vec" in outline
    assert "return a" not in outline and "x: number;" in outline and "unused" not in outline


def test_go_imports_and_outline(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module example.com/shop\n\ngo 1.22\n")
    (tmp_path / "cart").mkdir()
    (tmp_path / "cart" / "cart.go").write_text(
        "package cart\n\n// Total sums the cart.\nfunc Total(items []Item) int {\n\treturn 0\n}\n"
        "func helper() {}\n\n// Item is a line.\ntype Item struct {\n\tPrice int\n}\n"
        "func (i *Item) Cost() int { return i.Price }\n"
    )
    (tmp_path / "cart" / "cart_test.go").write_text("package cart\n")
    text = 'package main\n\nimport (\n\t"fmt"\n\t"example.com/shop/cart"\n)\n'
    usage = text + "x := cart.Total(items)\nvar i cart.Item\n"
    found = go_imports(text, [tmp_path], usage)
    assert [(i.path.name, i.names) for i in found] == [("cart.go", ("Item", "Total"))]
    outline = go_outline((tmp_path / "cart" / "cart.go").read_text(), ("Item", "Total"))
    assert "// Total sums the cart.\nfunc Total(items []Item) int" in outline
    assert "type Item struct {\n\tPrice int\n}" in outline
    assert "func (i *Item) Cost() int" in outline
    assert "helper" not in outline and "return 0" not in outline


# --- assembly --------------------------------------------------------------------------------


def snip(path: str, text: str, score: float, start: int = 0, end: int = 0) -> Snippet:
    return Snippet(f"file:///{path}", path, text, score, "openFiles", start, end)


def test_assemble_ranks_dedupes_and_fits_the_budget() -> None:
    best = snip("a.py", "best = 1\n" * 20, 0.9, 0, 20)
    overlapping = snip("a.py", "overlap = 1\n" * 20, 0.8, 10, 30)
    duplicate = snip("b.py", "best = 1\n" * 20, 0.7)
    second = snip("c.py", "second = 2\n" * 20, 0.6)
    files = assemble([second, duplicate, overlapping, best], 10_000)
    assert files == (
        ContextFile("c.py", second.text),
        ContextFile("a.py", best.text),
    )  # most relevant last, next to the cursor's file


def test_assemble_trims_to_whole_lines_and_never_exceeds_the_budget() -> None:
    big = snip("a.py", "".join(f"value_{i} = {i}\n" for i in range(200)), 0.9)
    budget = 500
    [file] = assemble([big], budget)
    assert block_cost(file.path, file.text) <= budget
    assert file.text.endswith("\n") and file.text.startswith("value_0 = 0\n")
    assert assemble([big], 0) == ()
    assert assemble([snip("a.py", "x = 1\n" * 50, 0.5)], 30) == ()  # too small to be useful


def test_assemble_cleans_texts() -> None:
    [file] = assemble([snip("a.py", 'token = "abcdef-secret"\n' * 5, 0.5)], 1000, clean=str.upper)
    assert file.text.startswith('TOKEN = "ABCDEF-SECRET"')


# --- the request -----------------------------------------------------------------------------


def test_request_lays_out_files_and_stops_at_a_file_marker() -> None:
    document = doc("file:///w/main.py", "x = ")
    context = extract_context(document, Cursor(0, 4), 1000, 1000)
    files = (ContextFile("lib/a.py", "def a(): pass\n"),)
    request = build_fim_request(context, Settings(), context_files=files, path="main.py")
    assert request.to_body()["prompt"] == "+++++ lib/a.py\ndef a(): pass\n+++++ main.py\nx = "
    assert FILE_STOP in request.stop
    plain = build_fim_request(context, Settings(), path="main.py")
    assert plain.to_body()["prompt"] == "x = " and FILE_STOP not in plain.stop


@pytest.mark.parametrize(
    "raw, kept",
    [
        ("total = 1\n+++++ other.py\nmore", "total = 1\n"),
        ("+++++ other.py\nx", ""),
        ("a +++++ b", "a +++++ b"),
    ],
)
def test_echoed_file_markers_are_cut(raw: str, kept: str) -> None:
    assert strip_file_marker(raw) == kept


def test_postprocess_strips_the_marker() -> None:
    assert postprocess("42\n+++++ b.py\nfoo", "x = ", "", single_line=False) == "42"


# --- settings and the entry point ------------------------------------------------------------


def test_context_settings_parse_and_report_bad_keys() -> None:
    settings, problems = parse_settings(
        {"context": {"openFiles": False, "share": 0.5, "maxSnippets": "many", "bogus": 1}}
    )
    assert settings.context == ContextSettings(openFiles=False, share=0.5)
    assert problems == [
        "codestral: setting 'context.maxSnippets' must be a number from 0 to 64; "
        "using the default (8)."
    ]
    off, problems = parse_settings({"context": False})
    assert off.context.any_source is False and problems == []
    _, problems = parse_settings({"context": "yes"})
    assert len(problems) == 1 and "'context'" in problems[0]


def test_budget_is_a_share_of_the_prefix_within_the_room_left() -> None:
    settings = Settings()
    assert context_budget(settings) == 2250
    assert context_budget(settings, room=100) == 100
    assert context_budget(settings, room=0) == 0
    assert context_budget(Settings(context=ContextSettings(enable=False))) == 0


def test_collect_context_outside_the_server(tmp_path: Path) -> None:
    (tmp_path / "util.py").write_text('def helper(value):\n    """Help."""\n    return value\n')
    main_path = tmp_path / "app" / "main.py"
    main_path.parent.mkdir()
    current = doc(main_path.as_uri(), "import util\n\nparse_number = 1\nresult = ")
    other = doc((tmp_path / "app" / "num.py").as_uri(), "def parse_number(text):\n    pass\n")
    secret = doc((tmp_path / ".env").as_uri(), "parse_number = 1\nresult = 2\n")
    files = collect_context(tmp_path, [secret, other], current, Cursor(3, 9))
    paths = [f.path for f in files]
    assert "app/num.py" in paths and "util.py" in paths and ".env" not in paths
    assert "def helper(value):" in dict((f.path, f.text) for f in files)["util.py"]


def test_gatherer_orders_by_recency() -> None:
    gatherer = ContextGatherer(Workspace(["/w"]))
    a, b = doc("file:///w/a.py", ""), doc("file:///w/b.py", "")
    gatherer.touch(a.uri)
    gatherer.edited(b.uri, 3, "x\ny")
    assert gatherer.by_recency([a, b]) == [b, a]
    assert [(r.start, r.end) for r in gatherer.recent.regions] == [(3, 5)]
    assert gatherer.workspace.relative("file:///w/sub/c.py") == "sub/c.py"
    assert gatherer.workspace.relative("file:///elsewhere/d.py") == "d.py"


def test_context_is_an_explicit_key() -> None:
    from codestral_ls.settings import explicit_keys

    assert "context" in explicit_keys({"context": {"imports": False}})
