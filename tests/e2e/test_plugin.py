"""The shipped pytest plugin's fixtures (codestral_ls.testing.plugin), used the way a plugin
author would: ``codestral_client`` against ``codestral_fake``, as each capability preset."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from codestral_ls.testing.clients import PRESETS
from codestral_ls.testing.plugin import TEST_KEY, CodestralFake

URI = "file:///work/add.py"
TEXT = "def add(a, b):\n    "


def open_add(client: LanguageClient) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=URI, language_id="python", version=1, text=TEXT
            )
        )
    )


async def suggestion(client: LanguageClient, preset: str) -> str | None:
    """What this preset's editor would show at the end of ``TEXT``."""
    document = types.TextDocumentIdentifier(uri=URI)
    position = types.Position(line=1, character=4)
    if preset == "vscode":
        result = await client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=document,
                position=position,
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Invoked
                ),
            )
        )
        items = result.items if isinstance(result, types.InlineCompletionList) else result
        return str(items[0].insert_text) if items else None
    listed = await client.text_document_completion_async(
        types.CompletionParams(text_document=document, position=position)
    )
    assert isinstance(listed, types.CompletionList)
    if not listed.items:
        return None
    edit = listed.items[0].text_edit
    assert isinstance(edit, types.TextEdit)
    return edit.new_text


@pytest.mark.parametrize("codestral_preset", PRESETS)
async def test_client_presets_complete_from_the_fake_rules(
    codestral_client: LanguageClient, codestral_fake: CodestralFake, codestral_preset: str
) -> None:
    codestral_fake.add_rule(prompt="def add(a, b):", text="return a + b")
    open_add(codestral_client)
    assert await suggestion(codestral_client, codestral_preset) == "return a + b"
    (request,) = codestral_fake.fim_requests()
    assert request.errors == []
    assert request.headers["authorization"] == f"Bearer {TEST_KEY}"
    assert request.body is not None and request.body["prompt"].endswith(TEXT)


@pytest.mark.parametrize("codestral_client", ["eglot"], indirect=True)
async def test_indirect_preset_and_a_fault(
    codestral_client: LanguageClient, codestral_fake: CodestralFake
) -> None:
    codestral_fake.fault("503")
    open_add(codestral_client)
    assert await suggestion(codestral_client, "eglot") is None
    assert await codestral_fake.await_requests(1)
    assert codestral_client.capabilities is not None
    assert codestral_client.capabilities.text_document is not None
    assert codestral_client.capabilities.text_document.inline_completion is None
