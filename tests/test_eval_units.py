"""Unit tests of the pure parts of ``codestral-ls eval``: holes, variants, metrics, prices,
the results file and the report."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codestral_ls.evaluation.holes import (
    KINDS,
    SourceFile,
    list_source_files,
    read_sources,
    sample_holes,
)
from codestral_ls.evaluation.metrics import (
    bootstrap_interval,
    edit_similarity,
    exact_match,
    first_line_match,
    parses,
    percentile,
)
from codestral_ls.evaluation.prices import PRICES_DATE, Price, load_prices
from codestral_ls.evaluation.report import render_json, render_markdown, summarize
from codestral_ls.evaluation.store import ResultsFile, results_of
from codestral_ls.evaluation.variants import (
    Variant,
    VariantError,
    load_variants_file,
    parse_variant,
    resolve_settings,
)

CODE = '''import os


def area(width: int, height: int) -> int:
    """The area of a rectangle."""
    total = width * height
    return total


class Shape:
    def __init__(self, name: str) -> None:
        self.name = name
        self.sides = 4

    def describe(self) -> str:
        return f"{self.name} with {self.sides} sides"
'''

JS = """function add(a, b) {
    const total = a + b;
    return total;
}
"""


def make_repo(root: Path, *, git: bool = True) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "shapes.py").write_text(CODE)
    (root / "pkg" / "add.js").write_text(JS)
    (root / "ignored").mkdir()
    (root / "ignored" / "gen.py").write_text(CODE)
    (root / ".env").write_text("TOKEN=abc\n")
    (root / "secrets").mkdir()
    (root / "secrets" / "keys.py").write_text(CODE)
    (root / "README.md").write_text("# readme\n")
    (root / ".gitignore").write_text("ignored/\n")
    if git:
        subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


# --- holes ------------------------------------------------------------------------------


def test_files_respect_gitignore_secret_globs_and_exclude(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    names = list_source_files(root)
    assert "ignored/gen.py" not in names  # .gitignore
    sources = read_sources(root, names, exclude=["secrets/**"])
    paths = sorted(s.path for s in sources)
    assert paths == ["pkg/add.js", "pkg/shapes.py"]  # no .env, no README, no secrets/
    assert [s.language for s in read_sources(root, names, languages=["python"])] == [
        "python",
        "python",
    ]


def test_files_without_git_skip_hidden_folders(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "plain", git=False)
    (root / ".venv").mkdir()
    (root / ".venv" / "lib.py").write_text(CODE)
    names = list_source_files(root)
    assert ".venv/lib.py" not in names
    assert "pkg/shapes.py" in names
    assert list_source_files(root, ["pkg/add.js"]) == ["pkg/add.js"]


def test_holes_are_deterministic_by_seed_and_cover_every_kind(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    sources = read_sources(root, list_source_files(root))
    first = sample_holes(sources, 9, KINDS, seed=1)
    assert first == sample_holes(sources, 9, KINDS, seed=1)
    assert first != sample_holes(sources, 9, KINDS, seed=2)
    assert {h.kind for h in first} == set(KINDS)
    assert len({h.id for h in first}) == len(first) == 9
    texts = {s.path: s.text for s in sources}
    for hole in first:
        text = texts[hole.path]
        middle = hole.expected(text)
        assert middle.strip()
        lines = text.split("\n")
        assert text[: hole.start].split("\n")[-1] == lines[hole.line][: hole.column]
        if hole.kind == "line":
            assert "\n" not in middle
            assert hole.document_text(text).split("\n")[hole.line].strip() == (
                lines[hole.line][: hole.column].strip()
            )
        elif hole.kind == "span":
            assert 1 <= middle.count("\n") <= 7
        else:
            assert lines[hole.line - 1].rstrip().endswith((":", "{"))


def test_block_hole_is_the_whole_body(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    sources = [s for s in read_sources(root, list_source_files(root)) if s.path.endswith(".js")]
    holes = sample_holes(sources, 5, ["block"], seed=0)
    assert [h.expected(sources[0].text) for h in holes] == [
        "const total = a + b;\n    return total;"
    ]


def test_unknown_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown hole kind 'word'"):
        sample_holes([], 3, ["word"])


# --- variants ---------------------------------------------------------------------------


def test_variant_from_the_command_line() -> None:
    variant = parse_variant("fast:model=codestral-2508,maxTokens=64,context=off")
    assert variant == Variant("fast", {"model": "codestral-2508", "maxTokens": 64}, False)
    settings = resolve_settings(variant, {"maxTokens": 128, "prefixChars": 500})
    assert (settings.model, settings.maxTokens, settings.prefixChars) == (
        "codestral-2508",
        64,
        500,
    )
    assert parse_variant("plain") == Variant("plain", {})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("bad name:model=x", "variant name"),
        ("v:model", "expected key=value"),
        ("v:context=maybe", "context must be on or off"),
        ("v:apiKey=sk-123", "environment"),
    ],
)
def test_bad_variants_are_explained(spec: str, message: str) -> None:
    with pytest.raises(VariantError, match=message):
        parse_variant(spec)


def test_unknown_or_bad_settings_are_errors() -> None:
    with pytest.raises(VariantError, match="unknown setting 'maxtokens'"):
        resolve_settings(parse_variant("v:maxtokens=3"), {})
    with pytest.raises(VariantError, match="maxTokens"):
        resolve_settings(parse_variant("v:maxTokens=-3"), {})


def test_variants_from_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "v.toml"
    toml.write_text(
        '[variants.latest]\nmodel = "codestral-latest"\n\n'
        '[variants.local]\nbackend = "ollama"\nendpoint = "http://localhost:11434"\n'
        'context = "off"\n'
    )
    variants = load_variants_file(toml)
    assert [v.name for v in variants] == ["latest", "local"]
    assert variants[1].settings == {"backend": "ollama", "endpoint": "http://localhost:11434"}
    assert variants[1].context is False
    listed = tmp_path / "v.json"
    listed.write_text(json.dumps({"variants": [{"name": "a", "maxTokens": 32}]}))
    assert load_variants_file(listed) == [Variant("a", {"maxTokens": 32})]
    broken = tmp_path / "b.json"
    broken.write_text("{")
    with pytest.raises(VariantError, match="not valid JSON"):
        load_variants_file(broken)


def test_fingerprint_follows_what_is_sent() -> None:
    a = parse_variant("a:model=x")
    assert a.fingerprint({}) == parse_variant("a:model=x").fingerprint({})
    assert a.fingerprint({}) != parse_variant("a:model=y").fingerprint({})
    assert a.fingerprint({}) != parse_variant("a:model=x,context=on").fingerprint({})
    assert a.fingerprint({}) != a.fingerprint({"maxTokens": 3})


# --- metrics ----------------------------------------------------------------------------


def test_exact_and_first_line_match() -> None:
    assert exact_match("return total  \n", "return total")
    assert not exact_match("return totals", "return total")
    assert first_line_match("a = 1\nb = 3", "a = 1\nb = 2")
    assert not exact_match("a = 1\nb = 3", "a = 1\nb = 2")
    assert not first_line_match("", "a = 1")


def test_edit_similarity_between_zero_and_one() -> None:
    assert edit_similarity("return total", "return total") == 1.0
    assert edit_similarity("", "return total") == 0.0
    assert 0.0 < edit_similarity("return to", "return total") < 1.0


def test_parses_only_for_python_files_that_parse() -> None:
    assert parses("python", "x = 1\n", "x = (1\n") is False
    assert parses("python", "x = 1\n", "x = 2\n") is True
    assert parses("python", "x = (\n", "x = 2\n") is None
    assert parses("javascript", "x = 1", "x = (") is None


def test_bootstrap_interval_and_percentiles() -> None:
    values = [1.0] * 30 + [0.0] * 70
    interval = bootstrap_interval(values, seed=3)
    assert interval is not None
    assert interval.mean == pytest.approx(0.3)
    assert interval.low < 0.3 < interval.high
    assert interval.stderr == pytest.approx((0.3 * 0.7 / 99) ** 0.5, rel=0.01)
    assert bootstrap_interval(values, seed=3) == interval
    assert bootstrap_interval([]) is None
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10.0], 95) == 10.0


# --- prices -----------------------------------------------------------------------------


def test_prices_are_dated_and_overridable(tmp_path: Path) -> None:
    assert PRICES_DATE
    table = load_prices(None)
    assert table.price("codestral-2508", "mistral") == Price(0.3, 0.9)
    assert table.price("mystery", "mistral") is None
    assert table.price("codestral:22b", "ollama") == Price(0.0, 0.0)
    override = tmp_path / "prices.json"
    override.write_text(json.dumps({"codestral-2508": {"input": 1, "output": 2}}))
    assert load_prices(override).price("codestral-2508", "mistral") == Price(1.0, 2.0)
    assert Price(1.0, 2.0).cost(1_000_000, 500_000) == pytest.approx(2.0)
    override.write_text(json.dumps({"x": {"input": "cheap"}}))
    with pytest.raises(ValueError, match="needs numbers"):
        load_prices(override)


# --- results file and report ------------------------------------------------------------


def record(variant: str, hole: str, exact: bool, similarity: float, **extra: object) -> dict:
    return {
        "type": "result",
        "variant": variant,
        "fingerprint": f"fp-{variant}",
        "hole": hole,
        "kind": "line",
        "model": "codestral-2508",
        "backend": "mistral",
        "status": "ok",
        "answer": "x" if similarity else "",
        "exact": exact,
        "firstLine": exact,
        "editSimilarity": similarity,
        "parses": None,
        "latencyMs": 100.0,
        "promptTokens": 1000,
        "completionTokens": 10,
        "usageReported": True,
        **extra,
    }


def test_results_file_resumes_and_survives_a_cut_line(tmp_path: Path) -> None:
    path = tmp_path / "out" / "results.jsonl"
    store = ResultsFile(path)
    store.append(record("a", "h1", True, 1.0))
    store.close()
    with path.open("a") as handle:
        handle.write('{"type": "result", "variant": "a", "hole": "h2"')  # killed mid-line
    again = ResultsFile(path)
    assert again.is_done("fp-a", "h1")
    assert not again.is_done("fp-a", "h2")
    again.append(record("a", "h2", False, 0.5))
    again.close()
    assert sorted(r["hole"] for r in results_of(path)) == ["h1", "h2"]


def test_summary_ranks_and_renders() -> None:
    records = [record("good", f"h{i}", True, 1.0) for i in range(10)]
    records += [record("bad", f"h{i}", False, 0.4) for i in range(9)]
    records.append(
        {**record("bad", "h9", False, 0.0), "status": "error", "errorKind": "RateLimitedError"}
    )
    summaries = summarize(records, load_prices(None))
    assert [s.variant for s in summaries] == ["good", "bad"]
    good, bad = summaries
    assert good.exact is not None and good.exact.mean == 1.0
    assert bad.exact is not None and bad.exact.mean == 0.0
    assert bad.edit_similarity is not None and bad.edit_similarity.mean == pytest.approx(0.4)
    assert bad.errors == 1 and bad.error_kinds == {"RateLimitedError": 1}
    assert good.cost == pytest.approx((10_000 * 0.3 + 100 * 0.9) / 1e6)
    markdown = render_markdown(summaries, "title")
    rows = [line for line in markdown.splitlines() if line.startswith("| 1 |")]
    assert rows and "good" in rows[0]
    assert "bootstrap" in markdown and PRICES_DATE in markdown
    data = render_json(summaries, {"seed": 0})
    assert [v["variant"] for v in data["variants"]] == ["good", "bad"]
    json.dumps(data)  # serialisable
    assert summarize(records, load_prices(None), holes={"h0"})[0].holes == 1


line_text = st.text(alphabet=st.sampled_from(list("abc =(){}:#\t")), max_size=12)


@given(
    st.lists(st.tuples(st.integers(0, 3), line_text), min_size=1, max_size=30),
    st.integers(0, 5),
)
def test_any_file_gives_holes_that_put_it_back_together(
    rows: list[tuple[int, str]], seed: int
) -> None:
    text = "\n".join("    " * depth + content for depth, content in rows) + "\n"
    source = SourceFile("f.py", "python", text)
    for hole in sample_holes([source], 12, KINDS, seed=seed):
        middle = hole.expected(text)
        assert len(middle.strip()) >= 3
        document = hole.document_text(text)
        assert document[: hole.start] + middle + document[hole.start :] == text
        assert text[: hole.start].split("\n")[-1] == text.split("\n")[hole.line][: hole.column]
