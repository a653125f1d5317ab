"""Tests for codestral_ls.postprocess (pure string post-processing of FIM completions)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codestral_ls.postprocess import (
    block_body_indent,
    block_end_index,
    detect_eol,
    fix_indentation,
    is_repetition,
    normalize_line_endings,
    postprocess,
    strip_artifacts,
    trim_suffix_overlap,
    truncate_single_line,
)

P = pytest.param

# --------------------------------------------------------------------------------------
# strip_artifacts
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        P("return x", "return x", id="clean-text-unchanged"),
        P("", "", id="empty"),
        P("return x</s>", "return x", id="trailing-eos-s"),
        P("return x<|endoftext|>", "return x", id="trailing-endoftext"),
        P("return x<EOT>", "return x", id="trailing-eot"),
        P("[MIDDLE]return x", "return x", id="leading-middle-bracket"),
        P("[PREFIX]x = 1", "x = 1", id="leading-prefix-bracket"),
        P("<fim_middle>x = 1", "x = 1", id="starcoder-middle"),
        P("<|fim_middle|>x = 1<|endoftext|>", "x = 1", id="pipe-middle-and-eos"),
        P("<|fim_prefix|>a<fim_prefix>b", "ab", id="prefix-markers-anywhere"),
        P("a<fim-middle>b", "ab", id="hyphen-variant"),
        P("x = 1[SUFFIX]\nprint(x)\n", "x = 1", id="cut-at-bracket-suffix"),
        P("x = 1\n<fim_suffix>    return y", "x = 1\n", id="cut-at-starcoder-suffix"),
        P("y()<|fim_suffix|>z()", "y()", id="cut-at-pipe-suffix"),
        P("[SUFFIX]everything echoed", "", id="suffix-marker-first"),
        P("a[MIDDLE]b[SUFFIX]c[SUFFIX]d", "ab", id="cut-at-first-of-several-suffix-markers"),
        P("a<fim_suffix>b[SUFFIX]c", "a", id="cut-at-earliest-marker-kind"),
        P("x</s></s></s>", "x", id="repeated-eos"),
        P("print('é 中 🎉')</s>", "print('é 中 🎉')", id="unicode-kept"),
        P("\n    return x</s>\n", "\n    return x\n", id="whitespace-around-kept"),
        P("<s>old price</s>", "<s>old price</s>", id="html-strike-tag-kept"),
        P('<s class="x">a</s></s>', '<s class="x">a</s>', id="html-strike-then-eos"),
        P("<span>a</span></s>", "<span>a</span>", id="span-is-not-s-tag"),
        P("[prefix]", "[prefix]", id="markers-are-case-sensitive"),
    ],
)
def test_strip_artifacts(text: str, expected: str) -> None:
    assert strip_artifacts(text) == expected


# --------------------------------------------------------------------------------------
# truncate_single_line
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        P("a + b", "a + b", id="single-line-unchanged"),
        P("a + b\nc = 1", "a + b", id="lf"),
        P("a + b\r\nc = 1", "a + b", id="crlf"),
        P("a + b\rc = 1", "a + b", id="lone-cr"),
        P("a + b\n", "a + b", id="trailing-newline"),
        P("\nfoo()", "", id="leading-newline-means-nothing"),
        P("\r\n    foo()", "", id="leading-crlf-means-nothing"),
        P("", "", id="empty"),
        P("  \nfoo", "  ", id="whitespace-then-newline"),
        P("'中文' # ok\nx", "'中文' # ok", id="unicode"),
    ],
)
def test_truncate_single_line(text: str, expected: str) -> None:
    assert truncate_single_line(text) == expected


# --------------------------------------------------------------------------------------
# trim_suffix_overlap
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("completion", "suffix", "expected"),
    [
        # (a) tail of the completion == head of the suffix
        P("foo(a, b))", ")", "foo(a, b)", id="a-extra-paren"),
        P("a, b)", ")\n", "a, b", id="a-call-args-close-paren"),
        P("5;", ";\n", "5", id="a-js-semicolon"),
        P('hello")', '")\n', "hello", id="a-quote-and-paren"),
        P("hello';", "';", "hello", id="a-js-single-quote-semicolon"),
        P("x):", "):\n    pass", "x", id="a-python-def-signature"),
        P("x > 0) {", ") {\n}", "x > 0", id="a-if-condition-paren-brace"),
        P("a: 1 }", " }", "a: 1", id="a-overlap-with-leading-space"),
        P("x)   ", ")", "x", id="a-completion-trailing-spaces"),
        P("x)\n", ")", "x", id="a-completion-trailing-newline"),
        P("a, b)", ")  \n", "a, b", id="a-suffix-trailing-spaces"),
        P("return 0;\n}", "\n}\n", "return 0;", id="a-c-closing-brace-line"),
        P("return 0;\n}", "\r\n}\r\n", "return 0;", id="a-crlf-suffix-lf-completion"),
        P("return 0;\r\n}", "\r\n}\r\n", "return 0;", id="a-crlf-both"),
        P("\n  x();\n  y();\n}", "\n  y();\n}", "\n  x();", id="a-multi-line-overlap"),
        P(" + 1", " + 1", "", id="a-equal-to-suffix-with-word"),
        P(")", ")", "", id="a-completion-equal-to-suffix"),
        P("name = value", "name = value\n", "", id="a-completion-equal-to-suffix-line"),
        P("username", "name)", "username", id="a-word-overlap-would-split-word"),
        P("user.name", "name)", "user.", id="a-member-name-overlap"),
        P("x = foo", "foobar()", "x = foo", id="a-overlap-ends-mid-word-in-suffix"),
        P("x = ab", "ab = 1", "x = ab", id="a-short-word-overlap-kept"),
        P("f(abc", "abc)", "f(", id="a-three-char-word-overlap"),
        P("a[0]", "]", "a[0]", id="a-balanced-bracket-kept"),
        P("bar()", ")", "bar()", id="a-balanced-paren-kept"),
        P("{x: 1}", "}", "{x: 1}", id="a-balanced-brace-kept"),
        P("foo.", ".bar()", "foo.", id="a-single-dot-not-trimmed"),
        P("x =>", "=> 1", "x ", id="a-two-punct-trimmed"),
        P("é)", ")", "é", id="a-unicode-before-paren"),
        P("'🎉')", "')", "'🎉", id="a-emoji-string"),
        P("总计", "计算()", "总计", id="a-cjk-no-split"),
        # (b) rest of the cursor's line
        P("0, 1)", "1)\n", "0, ", id="b-rest-of-line"),
        P("a, b)", "  )  \nnext()", "a, b", id="b-rest-with-surrounding-spaces"),
        P("bar + foo", "foo\n", "bar + ", id="b-rest-is-word"),
        P("a,\n    b\n)", ")\n", "a,\n    b\n", id="b-multi-line-last-line-closer"),
        P("f(x)", ")\n", "f(x)", id="b-balanced-paren-kept"),
        P("x = total", "al\n", "x = total", id="b-no-word-split"),
        # (c) whole lines that already follow the cursor
        P("\n    x = 2\n    return 1", "\n    return 1\n", "\n    x = 2", id="c-python-line"),
        P(
            "\n\tx := 1\n\ty := 2\n\treturn x + y",
            "\n\treturn x + y\n}\n",
            "\n\tx := 1\n\ty := 2",
            id="c-go-line",
        ),
        P(
            "a = 1\nb = 2\n\nc = 3",
            "\n\nb = 2\n\n  c = 3  \nd = 4",
            "a = 1",
            id="c-blank-lines-ignored",
        ),
        P("\n\treturn 1\n}", "\n}", "\n\treturn 1", id="c-go-closing-brace"),
        P(
            "\n\tif x {\n\t\treturn 1\n\t}",
            "\n}",
            "\n\tif x {\n\t\treturn 1\n\t}",
            id="c-own-closing-brace-kept",
        ),
        P("return 1", "\n    return 1", "return 1", id="c-first-line-needs-line-before"),
        P(
            "\n    if y:\n        return x",
            "\n    return x\n",
            "\n    if y:\n        return x",
            id="c-no-dangling-block-opener",
        ),
        P(
            "\n    if y:\n        return x\n    return x",
            "\n    return x\n",
            "\n    if y:\n        return x",
            id="c-drops-only-the-dedented-dup",
        ),
        P("x\ny", "\nz\n", "x\ny", id="c-no-match"),
        P("let a = 1;\n", "\n", "let a = 1;\n", id="c-empty-suffix-lines"),
        # edge cases
        P("", ")", "", id="empty-completion"),
        P("foo()", "", "foo()", id="empty-suffix"),
        P("   ", ")", "   ", id="whitespace-only-completion"),
    ],
)
def test_trim_suffix_overlap(completion: str, suffix: str, expected: str) -> None:
    assert trim_suffix_overlap(completion, suffix) == expected


@pytest.mark.parametrize(
    ("completion", "suffix", "line_before", "expected"),
    [
        P("return 1", "\n    return 1", "    ", "", id="blank-line-dup-of-next-line"),
        P("foo()", "\nfoo()", "x = ", "foo()", id="assignment-not-dup-of-next-line"),
        P("1", "\nreturn 1", "return ", "", id="joined-line-dup"),
        P(
            "x = 1\n    return x",
            "\n    return x\n",
            "    ",
            "x = 1",
            id="multi-line-keeps-first",
        ),
        P("a\n}", "\n}", "", "a", id="brace-after-first-line"),
    ],
)
def test_trim_suffix_overlap_with_line_before(
    completion: str, suffix: str, line_before: str, expected: str
) -> None:
    assert trim_suffix_overlap(completion, suffix, line_before=line_before) == expected


# --------------------------------------------------------------------------------------
# is_repetition
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("completion", "prefix", "expected"),
    [
        P("x += 1", "def f():\n    x += 1\n    ", True, id="same-as-line-above"),
        P(
            "a = 1\n    b = 2",
            "def f():\n    a = 1\n    b = 2\n    ",
            True,
            id="same-as-two-lines-above",
        ),
        P("b = 2", "a = 1\nb = 2\n", True, id="cursor-at-column-zero"),
        P("a = 1", "a = 1\nb = 2\n", False, id="not-immediately-above"),
        P("c = 3", "a = 1\nb = 2\n", False, id="new-code"),
        P("x += 1", "x += 1\n\n", False, id="short-line-above-blank-line"),
        P("total += value", "total += value\n\n    ", True, id="long-line-above-blank-line"),
        P("\n\nx += 1\n\n", "x += 1\n", True, id="blank-lines-around-completion"),
        P("}", "    }\n", False, id="closing-brace-repeats-legitimately"),
        P("});", "  });\n", False, id="closing-call-repeats-legitimately"),
        P("end", "  end\n", False, id="ruby-end"),
        P("</div>", "  </div>\n", False, id="html-closing-tag"),
        P("}\n}", "", False, id="two-closers"),
        P("print(x)\nprint(x)\nprint(x)", "", True, id="one-line-repeated"),
        P("print(x)\n\nprint(x)", "x = 1\n", True, id="repeated-with-blank"),
        P("print(x)\nprint(y)", "", False, id="different-lines"),
        P("\nfoo()", "foo()", True, id="newline-then-cursor-line"),
        P("1)", "a.append(1)\na.append(", True, id="joined-with-cursor-line"),
        P("2)", "a.append(1)\na.append(", False, id="joined-differs"),
        P("foo()", "", False, id="empty-prefix"),
        P("", "x = 1\n", False, id="empty-completion"),
        P("  \n ", "x = 1\n", False, id="whitespace-completion"),
        P("x = 1", "x = 1\r\n", True, id="crlf-prefix"),
        P("s = 'é中🎉'", "s = 'é中🎉'\n", True, id="unicode"),
        P("a\nb\nc", "b\nc\n", False, id="more-lines-than-prefix"),
    ],
)
def test_is_repetition(completion: str, prefix: str, expected: bool) -> None:
    assert is_repetition(completion, prefix) is expected


# --------------------------------------------------------------------------------------
# fix_indentation
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("completion", "prefix", "expected"),
    [
        P("    return x", "def f():\n    ", "return x", id="same-indent-removed"),
        P("        x = 1", "if a:\n    ", "    x = 1", id="deeper-keeps-extra"),
        P("  x", "if a:\n    ", "x", id="shallower-removes-common"),
        P("return x", "def f():\n    ", "return x", id="no-leading-ws"),
        P("    return x", "def f():\n", "    return x", id="line-before-empty"),
        P("    return x", "", "    return x", id="prefix-empty"),
        P("  x", "x =", "  x", id="line-before-has-text"),
        P("\treturn x", "func f() {\n\t", "return x", id="go-tab"),
        P("\t\tx := 1", "\t", "\tx := 1", id="tab-deeper"),
        P("    x", "\t", "    x", id="tab-vs-spaces-literal"),
        P("\t  x", "\t    ", "x", id="mixed-common-run"),
        P("\t  x", "\t", "  x", id="tab-then-spaces"),
        P("  \tx", "\t", "  \tx", id="spaces-then-tab-vs-tab"),
        P(
            "    if x:\n        y()\n    z()",
            "def f():\n    ",
            "if x:\n        y()\n    z()",
            id="later-lines-untouched",
        ),
        P("    return x", "def f():\r\n    ", "return x", id="crlf-prefix"),
        P("\n    x", "    ", "\n    x", id="completion-starts-with-newline"),
        P("    é = 1", "    ", "é = 1", id="unicode"),
    ],
)
def test_fix_indentation(completion: str, prefix: str, expected: str) -> None:
    assert fix_indentation(completion, prefix) == expected


# --------------------------------------------------------------------------------------
# line endings
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "eol", "expected"),
    [
        P("a\nb\n", "\r\n", "a\r\nb\r\n", id="lf-to-crlf"),
        P("a\r\nb\r\n", "\n", "a\nb\n", id="crlf-to-lf"),
        P("a\r\nb\nc\rd", "\r\n", "a\r\nb\r\nc\r\nd", id="mixed-to-crlf"),
        P("a\r\nb", "\r\n", "a\r\nb", id="crlf-idempotent"),
        P("abc", "\r\n", "abc", id="no-newlines"),
        P("", "\n", "", id="empty"),
    ],
)
def test_normalize_line_endings(text: str, eol: str, expected: str) -> None:
    assert normalize_line_endings(text, eol) == expected


@pytest.mark.parametrize(
    ("prefix", "suffix", "expected"),
    [
        P("a\nb", "c\n", "\n", id="lf"),
        P("a\r\nb", "c\n", "\r\n", id="crlf-in-prefix"),
        P("ab", "\r\nc", "\r\n", id="crlf-in-suffix"),
        P("", "", "\n", id="empty-document"),
        P("x = 1", "", "\n", id="single-line-document"),
    ],
)
def test_detect_eol(prefix: str, suffix: str, expected: str) -> None:
    assert detect_eol(prefix, suffix) == expected


# --------------------------------------------------------------------------------------
# postprocess
# --------------------------------------------------------------------------------------

PY_PREFIX = "import os\n\n\ndef add(a, b):\n    "
TS_PREFIX = "export function greet(name: string): string {\n  "
GO_PREFIX = "package main\n\nfunc add(a, b int) int {\n\t"
RS_PREFIX = "fn main() {\n    let v = vec![1, 2, 3];\n    "


@pytest.mark.parametrize(
    ("completion", "prefix", "suffix", "single_line", "expected"),
    [
        # Python
        P("return a + b", PY_PREFIX, "\n", False, "return a + b", id="py-simple"),
        P(
            "    return a + b\n\n",
            PY_PREFIX,
            "\n",
            False,
            "return a + b",
            id="py-over-indented-and-trailing-lines",
        ),
        P(
            "result = a + b\n    return result\n",
            PY_PREFIX,
            "\n\n\ndef sub(a, b):\n    return a - b\n",
            False,
            "result = a + b\n    return result",
            id="py-multi-line",
        ),
        P(
            "total = a + b\n    return total",
            PY_PREFIX,
            "\n    return total\n",
            False,
            "total = a + b",
            id="py-rewrites-following-line",
        ),
        P("x, y):", "def f(", "):\n    pass\n", True, "x, y", id="py-signature-single-line"),
        P(
            "\n    return 1\n",
            "def f():",
            "\n",
            False,
            "\n    return 1",
            id="py-cursor-at-end-of-def-line",
        ),
        P(
            "return 1",
            "def f():\n    ",
            "\n    return 1\n",
            False,
            "",
            id="py-completion-is-next-line",
        ),
        P(
            "self.x = x\n        self.y = y",
            "def __init__(self, x, y):\n        self.x = x\n        self.y = y\n        ",
            "\n",
            False,
            "",
            id="py-repeats-two-lines-above",
        ),
        P(
            "self.x = x\n        self.y = y",
            "class P:\n    def __init__(self, x, y):\n        self.x = x\n        ",
            "\n",
            False,
            "self.x = x\n        self.y = y",
            id="py-partial-repeat-is-not-repetition",
        ),
        P(
            "a + b)\nprint('done')",
            "print(",
            ")\n",
            True,
            "a + b",
            id="py-single-line-truncated-then-trimmed",
        ),
        P(
            "import os",
            "import os\n",
            "\n",
            False,
            "",
            id="py-repeats-line-above",
        ),
        P(
            "print('é 中 🎉')",
            "def f():\n    ",
            "\n",
            False,
            "print('é 中 🎉')",
            id="py-unicode",
        ),
        # JS / TS
        P(
            "return `Hello, ${name}!`;\n}",
            TS_PREFIX,
            "\n}\n",
            False,
            "return `Hello, ${name}!`;",
            id="ts-drops-closing-brace-in-suffix",
        ),
        P("name);", "console.log(", ");\n", True, "name", id="js-call-args"),
        P("hello';", "const s = '", "';\n", True, "hello", id="js-inside-quotes"),
        P("items[0]", "const x = [", "];\n", True, "items[0]", id="js-balanced-index-kept"),
        P(
            "[PREFIX]x => x * 2);</s>",
            "const d = xs.map(",
            ");\n",
            True,
            "x => x * 2",
            id="js-artifacts-and-overlap",
        ),
        # Go
        P(
            "\treturn a + b\n}",
            GO_PREFIX,
            "\n}\n",
            False,
            "return a + b",
            id="go-tab-indent-and-brace",
        ),
        P(
            "if a > b {\n\t\treturn a\n\t}\n\treturn b\n}",
            GO_PREFIX,
            "\n}\n",
            False,
            "if a > b {\n\t\treturn a\n\t}\n\treturn b",
            id="go-nested-block-keeps-inner-brace",
        ),
        # Rust
        P(
            'for x in &v {\n        println!("{}", x);\n    }\n}',
            RS_PREFIX,
            "\n}\n",
            False,
            'for x in &v {\n        println!("{}", x);\n    }',
            id="rust-loop",
        ),
        P("&v);", "    let s = sum(", ");\n", True, "&v", id="rust-call"),
        # CRLF documents
        P(
            "x = 1\n    y = 2\n",
            "def f():\r\n    ",
            "\r\n",
            False,
            "x = 1\r\n    y = 2",
            id="crlf-document-gets-crlf",
        ),
        P(
            "return 0;\r\n}",
            "int main() {\r\n    ",
            "\r\n}\r\n",
            False,
            "return 0;",
            id="crlf-closing-brace-trimmed",
        ),
        P(
            "a,\r\n    b",
            "f(\r\n    ",
            "\r\n)",
            False,
            "a,\r\n    b",
            id="crlf-multi-line",
        ),
        # Nothing worth showing
        P("", "x = ", "\n", True, "", id="empty-completion"),
        P("   \n\n  ", "x = ", "\n", False, "", id="whitespace-completion"),
        P("\nfoo()", "x = 1", "\n", True, "", id="single-line-leading-newline"),
        P("</s>", "x = ", "\n", True, "", id="only-artifact"),
        P(");", "foo(", ");\n", True, "", id="completion-equal-to-suffix"),
        P(
            "print(x)\nprint(x)\nprint(x)",
            "def f():\n    ",
            "\n",
            False,
            "",
            id="degenerate-repeated-line",
        ),
        # Empty prefix / suffix
        P("import os\n", "", "", False, "import os", id="empty-document"),
        P("x = 1", "", "\ny = 2\n", False, "x = 1", id="empty-prefix"),
        P("return 1  \t", "def f():\n    ", "", False, "return 1", id="empty-suffix"),
    ],
)
def test_postprocess(
    completion: str, prefix: str, suffix: str, single_line: bool, expected: str
) -> None:
    assert postprocess(completion, prefix, suffix, single_line=single_line) == expected


# --------------------------------------------------------------------------------------
# block_body_indent / block_end_index
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        P("def f():", "    ", id="py-def-default-unit"),
        P("class A:\n  def f(self):\n    x = 1\n    if x:", "      ", id="py-two-space-unit"),
        P("def f():\n    x = 1\n    ", "    ", id="py-inside-body"),
        P("def f():\n    x = 1\n    return x", "    ", id="py-mid-statement"),
        P("function f() {", "    ", id="js-brace-default"),
        P("function f() {\n  a();\n  if (x) {", "    ", id="js-two-space"),
        P("const g = (x) =>", "    ", id="js-arrow"),
        P("foo(", "    ", id="open-paren"),
        P("xs = [", "    ", id="open-bracket"),
        P("func f() {\n\tif x {", "\t\t", id="go-tabs"),
        P("package main\n\nfunc main() {", "    ", id="no-indent-yet-defaults-to-4-spaces"),
        P("\tx := 1\n\ty := 2\nfunc g() {", "\t", id="tab-majority"),
        P("items.each do", "    ", id="ruby-do"),
        P("if [ -f x ]; then", "    ", id="shell-then"),
        P("  undo", "  ", id="undo-is-not-do"),
        P("x = 1", "", id="no-opener-no-indent"),
        P("", "", id="empty-prefix"),
        P("/**\n * doc\n */\nfunction f() {", "    ", id="jsdoc-not-one-space-unit"),
        P("def f():\r\n  x = 1\r\n  if x:", "    ", id="crlf"),
        P("fn main() {\n    let v = vec![", "        ", id="rust-vec-macro"),
    ],
)
def test_block_body_indent(prefix: str, expected: str) -> None:
    assert block_body_indent(prefix) == expected


JS_BLOCK = "\n  if (x) {\n    y();\n  }\n  return 1;\n}\n\nfunction g() {"
PY_BLOCK = "\n    a = 1\n    return a\n\ndef g():\n    pass"


@pytest.mark.parametrize(
    ("text", "base_indent", "expected_kept"),
    [
        P(JS_BLOCK, "  ", "\n  if (x) {\n    y();\n  }\n  return 1;\n}\n", id="js-closer-kept"),
        P(PY_BLOCK, "    ", "\n    a = 1\n    return a\n\n", id="py-dedent-cut"),
        P("\n    a = 1\n    b = 2", "    ", None, id="still-in-block"),
        P("\n    a = 1\n\n    b = 2", "    ", None, id="blank-lines-ignored"),
        P("x = 1\ny = 2", "    ", "x = 1\n", id="first-line-skipped-second-cut"),
        P("return x\n", "    ", None, id="single-line-trailing-newline"),
        P("\n    a\n", "", None, id="top-level-never-cut"),
        P("\n\treturn 1\n}\n\nfunc g() {", "\t", "\n\treturn 1\n}\n", id="go-tabs"),
        P("\n        x\n    })\n    y", "        ", "\n        x\n    })\n", id="js-callback"),
        P("\n    puts x\nend\ndef g", "    ", "\n    puts x\nend\n", id="ruby-end"),
        P("\n    a\n} else {\n    b\n}", "    ", "\n    a\n", id="else-is-not-closer"),
        P("\r\n    a\r\n}\r\nmore", "    ", "\r\n    a\r\n}\r\n", id="crlf"),
        P("\n    a\n}", "    ", None, id="streaming-closer-incomplete"),
        P("\n    a\nen", "    ", None, id="streaming-maybe-end"),
        P("\n    a\nre", "    ", "\n    a\n", id="streaming-dedented-text"),
        P("\n    a\n  ", "    ", None, id="streaming-whitespace-only-line"),
        P("\n  a", "\t", "\n", id="spaces-vs-tab-by-width"),
        P("\n\ta", "    ", None, id="tab-vs-four-spaces-equal-width"),
        P("\n    é = '中'\n🎉", "    ", "\n    é = '中'\n", id="unicode"),
    ],
)
def test_block_end_index(text: str, base_indent: str, expected_kept: str | None) -> None:
    index = block_end_index(text, base_indent)
    if expected_kept is None:
        assert index is None
    else:
        assert index is not None
        assert text[:index] == expected_kept


def test_block_helpers_together() -> None:
    prefix = "def outer():\n    def inner(x):"
    completion = "\n        return x * 2\n    return inner\n"
    base = block_body_indent(prefix)
    assert base == "        "
    index = block_end_index(completion, base)
    assert index is not None
    assert completion[:index] == "\n        return x * 2\n"


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------

_snippets = st.text(alphabet=st.sampled_from(list("ab é中🎉(){}[];:,'\"\t\r\n=_.")), max_size=30)


@settings(max_examples=300, database=None, deadline=None)
@given(completion=_snippets, suffix=_snippets, line_before=st.none() | _snippets)
def test_trim_suffix_overlap_only_removes_from_the_end(
    completion: str, suffix: str, line_before: str | None
) -> None:
    if line_before is not None:
        line_before = line_before.replace("\r", "").replace("\n", "")
    trimmed = trim_suffix_overlap(completion, suffix, line_before=line_before)
    assert completion.startswith(trimmed)


@settings(max_examples=300, database=None, deadline=None)
@given(completion=_snippets, prefix=_snippets, suffix=_snippets, single_line=st.booleans())
def test_postprocess_output_shape(
    completion: str, prefix: str, suffix: str, single_line: bool
) -> None:
    out = postprocess(completion, prefix, suffix, single_line=single_line)
    if not out:
        return
    assert out.strip()
    # no trailing line breaks; trailing spaces only where they keep the completion apart from
    # a token that follows on the cursor's line
    tail = out[len(out.rstrip()) :]
    assert "\n" not in tail and "\r" not in tail
    assert not tail or (suffix[:1].strip() and suffix[0] not in ")]},;:.")
    eol = detect_eol(prefix, suffix)
    assert normalize_line_endings(out, eol) == out
    if single_line:
        assert "\n" not in out
        assert "\r" not in out


@pytest.mark.parametrize(
    "completion, suffix, expected",
    [
        ("a + ", "foo\n", "a + "),  # the space keeps the tokens apart
        ("a + ", " foo\n", "a +"),  # the suffix has its own
        ("return ", "value\n", "return "),
        ("x, ", ")\n", "x,"),  # no space needed before a closer
        ("a + b   ", "\n", "a + b"),  # end of the line: meaningless
        ("a + b\n\n", "", "a + b"),
    ],
)
def test_trailing_spaces_that_separate_tokens_are_kept(
    completion: str, suffix: str, expected: str
) -> None:
    single_line = bool(suffix.split("\n", 1)[0].strip())
    assert postprocess(completion, "x = ", suffix, single_line=single_line) == expected


# --- keyword closers (issue 10, item 3) -------------------------------------------------------


def _finish(prefix: str, suffix: str, raw: str) -> str:
    from codestral_ls.context import FimContext
    from codestral_ls.engine import finish

    line_before = re.split(r"\r\n|\r|\n", prefix)[-1]
    line_after = re.split(r"\r\n|\r|\n", suffix)[0]
    return finish(raw, FimContext(prefix, suffix, line_before, line_after))


@pytest.mark.parametrize(
    "prefix, suffix, raw, expected",
    [
        # the completion closes the block it is in; the suffix's closer is the outer block's
        (
            "local function setup(opts)\n  if opts.debug then\n    ",
            "\nend\n",
            'print("debug")\n  end\n  return opts\n',
            'print("debug")\n  end',
        ),
        (
            "local function setup(opts)\n  ",
            "\nend\n",
            'if opts.debug then\n    print("debug")\n  end',
            'if opts.debug then\n    print("debug")\n  end',
        ),
        ("def run(opts)\n  if opts[:debug]\n    ", "\nend\n", 'puts "x"\n  end', 'puts "x"\n  end'),
        (
            "defmodule A do\n  def run(x) do\n    ",
            "\nend\n",
            "IO.puts(x)\n  end",
            "IO.puts(x)\n  end",
        ),
        ("function f(x)\n    if x > 0\n        ", "\nend\n", "g(x)\n    end", "g(x)\n    end"),
        ('main() {\n  if [ -n "$1" ]; then\n    ', "\n}\n", 'echo "$1"\n  fi', 'echo "$1"\n  fi'),
        ("main() {\n  for f in *; do\n    ", "\n}\n", 'echo "$f"\n  done', 'echo "$f"\n  done'),
        ("main() {\n  case $1 in\n    ", "\n}\n", "a) echo a ;;\n  esac", "a) echo a ;;\n  esac"),
        (
            'for f in *; do\n  if [ -f "$f" ]; then\n    ',
            "\ndone\n",
            'echo "$f"\n  fi',
            'echo "$f"\n  fi',
        ),
        # the suffix already closes this very block (same indentation): not repeated
        ("while true; do\n  ", "\ndone\n", "sleep 1\ndone", "sleep 1"),
        ("if x then\n  ", "\nend\n", "y()\nend", "y()"),
        ("def f\n  ", "\nend\n", "1\nend", "1"),
        # brackets keep their rules
        ("function f() {\n  ", "\n}\n", "return 1;\n}", "return 1;"),
        ("x = [\n    ", "\n]\n", "1, 2,\n]", "1, 2,"),
    ],
)
def test_keyword_closers_of_the_completions_own_block_are_kept(
    prefix: str, suffix: str, raw: str, expected: str
) -> None:
    assert _finish(prefix, suffix, raw) == expected
