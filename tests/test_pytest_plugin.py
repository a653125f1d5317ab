"""The pytest plugin from a user's point of view: a temporary project with nothing but a
ten-line test file, run by ``pytest`` in a subprocess.  The fixtures come from the
``pytest11`` entry point of the installed package (tests/run installs the testing extra)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: The example of docs/testing.md, verbatim.
EXAMPLE = """\
import pytest
from lsprotocol import types as t

@pytest.mark.asyncio
async def test_ghost_text(codestral_client, codestral_fake):
    codestral_fake.add_rule(prompt="def add(a, b):", text="return a + b")
    doc = t.TextDocumentItem("file:///p/add.py", "python", 1, "def add(a, b):\\n    ")
    codestral_client.text_document_did_open(t.DidOpenTextDocumentParams(doc))
    context = t.InlineCompletionContext(t.InlineCompletionTriggerKind.Invoked)
    ghost = await codestral_client.text_document_inline_completion_async(
        t.InlineCompletionParams(context, t.TextDocumentIdentifier(doc.uri), t.Position(1, 4)))
    assert ghost.items[0].insert_text == "return a + b"
"""

ROOT = Path(__file__).resolve().parent.parent


def test_docs_show_the_same_example() -> None:
    assert EXAMPLE in (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")


def test_plugin_from_a_temporary_project(tmp_path: Path) -> None:
    (tmp_path / "test_editor_setup.py").write_text(EXAMPLE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODESTRAL", "MISTRAL"))}
    env.pop("PYTEST_ADDOPTS", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
