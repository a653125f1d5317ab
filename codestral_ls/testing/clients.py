"""What other LSP clients send: their ``initialize`` capabilities and request shapes, replayed.

Editors that cannot be installed here (Helix, Zed, Sublime Text's LSP package, Kate) are
tested by replaying what they send, written down from each client's source:

- Helix: ``helix-lsp/src/client.rs``, ``Client::initialize`` (helix 25.x);
- Zed: ``crates/lsp/src/lsp.rs``, ``LanguageServer::default_initialize_params`` (2025);
- Sublime Text LSP: ``plugin/core/sessions.py``, ``get_initialize_params`` (LSP 1.2x for ST4);
- Kate: ``addons/lspclient/lspclientserver.cpp``, ``LSPClientServerPrivate::initialize``.

Only the parts that change what codestral-ls does are kept (completion items, code actions,
window, workspace, position encodings, experimental); a client that leaves a capability out
is written the same way here.  Emacs (eglot 1.9, lsp-mode 8) runs for real in
tests/editors/test_emacs.py; their capabilities here are copied from the same versions
(eglot 1.9's ``eglot-client-capabilities``, lsp-mode 8.0's ``lsp--client-capabilities``) so
that the protocol tests can check details the screen does not show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lsprotocol.types import ClientCapabilities

_CODE_ACTION_KINDS = [
    "quickfix",
    "refactor",
    "refactor.extract",
    "refactor.inline",
    "refactor.rewrite",
    "source",
    "source.organizeImports",
]


@dataclass(frozen=True)
class ClientProfile:
    """One client: its name, capabilities (LSP JSON) and how it shapes its requests."""

    name: str
    capabilities: dict[str, Any]
    #: ``context`` of ``textDocument/completion`` (None: the client sends none).
    completion_context: dict[str, Any] | None = None
    #: Whether the client sends ``textDocument/didSave`` (all of these do).
    sends_did_save: bool = True
    #: Whether it sends ``workspace/didChangeConfiguration`` with ``settings`` after start.
    pushes_configuration: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def encodings(self) -> list[str]:
        return list(self.capabilities.get("general", {}).get("positionEncodings", ["utf-16"]))

    @property
    def resolves_edits(self) -> bool:
        action = self.capabilities.get("textDocument", {}).get("codeAction", {})
        return "edit" in action.get("resolveSupport", {}).get("properties", [])

    @property
    def as_is(self) -> bool:
        item = self.capabilities["textDocument"]["completion"].get("completionItem", {})
        return 1 in item.get("insertTextModeSupport", {}).get("valueSet", [])

    @property
    def shows_documents(self) -> bool:
        show = self.capabilities.get("window", {}).get("showDocument") or {}
        return bool(show.get("support"))


HELIX = ClientProfile(
    name="helix",
    capabilities={
        "workspace": {
            "configuration": True,
            "didChangeConfiguration": {"dynamicRegistration": False},
            "workspaceFolders": True,
            "applyEdit": True,
            "executeCommand": {"dynamicRegistration": False},
            "workspaceEdit": {
                "documentChanges": True,
                "resourceOperations": ["create", "rename", "delete"],
                "failureHandling": "abort",
                "normalizesLineEndings": False,
            },
            "didChangeWatchedFiles": {"dynamicRegistration": True, "relativePatternSupport": True},
            "fileOperations": {"willRename": True, "didRename": True},
        },
        "textDocument": {
            "completion": {
                "completionItem": {
                    "snippetSupport": True,
                    "resolveSupport": {
                        "properties": ["documentation", "detail", "additionalTextEdits"]
                    },
                    "insertReplaceSupport": True,
                    "deprecatedSupport": True,
                    "tagSupport": {"valueSet": [1]},
                },
                "completionItemKind": {},
            },
            "codeAction": {
                "codeActionLiteralSupport": {
                    "codeActionKind": {"valueSet": ["", *_CODE_ACTION_KINDS, "source.fixAll"]}
                },
                "isPreferredSupport": True,
                "disabledSupport": True,
                "dataSupport": True,
                "resolveSupport": {"properties": ["edit", "command"]},
            },
            "publishDiagnostics": {"versionSupport": True, "tagSupport": {"valueSet": [1, 2]}},
        },
        "window": {"workDoneProgress": True, "showDocument": {"support": True}},
        "general": {"positionEncodings": ["utf-8", "utf-32", "utf-16"]},
    },
    completion_context={"triggerKind": 1},
)

ZED = ClientProfile(
    name="zed",
    capabilities={
        "workspace": {
            "configuration": True,
            "didChangeWatchedFiles": {"dynamicRegistration": True, "relativePatternSupport": True},
            "didChangeConfiguration": {"dynamicRegistration": True},
            "workspaceFolders": True,
            "workspaceEdit": {
                "resourceOperations": ["create", "rename", "delete"],
                "documentChanges": True,
                "snippetEditSupport": True,
            },
            "fileOperations": {"dynamicRegistration": False, "didRename": True, "willRename": True},
            "applyEdit": True,
            "executeCommand": {"dynamicRegistration": False},
        },
        "textDocument": {
            "codeAction": {
                "codeActionLiteralSupport": {
                    "codeActionKind": {"valueSet": ["refactor", "quickfix", "source"]}
                },
                "dataSupport": True,
                "resolveSupport": {
                    "properties": [
                        "kind",
                        "diagnostics",
                        "isPreferred",
                        "disabled",
                        "edit",
                        "command",
                    ]
                },
            },
            "completion": {
                "completionItem": {
                    "snippetSupport": True,
                    "resolveSupport": {
                        "properties": ["additionalTextEdits", "command", "documentation"]
                    },
                    "insertReplaceSupport": True,
                    "labelDetailsSupport": True,
                    "insertTextModeSupport": {"valueSet": [1, 2]},
                },
                "insertTextMode": 2,
                "completionList": {
                    "itemDefaults": [
                        "commitCharacters",
                        "editRange",
                        "insertTextMode",
                        "insertTextFormat",
                        "data",
                    ]
                },
                "contextSupport": True,
            },
            "synchronization": {"didSave": True},
        },
        # Zed's own status opt-in is rust-analyzer's, not ours: it must not get codestral/status.
        "experimental": {"serverStatusNotification": True, "localDocs": True},
        "window": {"workDoneProgress": True, "showMessage": {}},
        "general": {"positionEncodings": ["utf-16"]},
    },
    completion_context={"triggerKind": 1},
)

SUBLIME = ClientProfile(
    name="sublime-text-lsp",
    capabilities={
        "workspace": {
            "applyEdit": True,
            "didChangeConfiguration": {"dynamicRegistration": True},
            "executeCommand": {},
            "workspaceEdit": {"documentChanges": True, "failureHandling": "abort"},
            "workspaceFolders": True,
            "configuration": True,
        },
        "textDocument": {
            "synchronization": {
                "dynamicRegistration": True,
                "didSave": True,
                "willSave": True,
                "willSaveWaitUntil": True,
            },
            "completion": {
                "dynamicRegistration": True,
                "completionItem": {
                    "snippetSupport": True,
                    "deprecatedSupport": True,
                    "documentationFormat": ["markdown", "plaintext"],
                    "tagSupport": {"valueSet": [1]},
                    "resolveSupport": {
                        "properties": ["detail", "documentation", "additionalTextEdits"]
                    },
                    # Sublime re-indents every insertion: it does not offer asIs.
                    "insertTextModeSupport": {"valueSet": [2]},
                    "labelDetailsSupport": True,
                },
                "insertTextMode": 2,
            },
            "codeAction": {
                "dynamicRegistration": True,
                "codeActionLiteralSupport": {
                    "codeActionKind": {
                        "valueSet": [
                            "quickfix",
                            "refactor",
                            "refactor.extract",
                            "refactor.inline",
                            "refactor.rewrite",
                            "source.organizeImports",
                        ]
                    }
                },
                "dataSupport": True,
                "disabledSupport": True,
                "resolveSupport": {"properties": ["edit"]},
            },
        },
        "window": {
            "showDocument": {"support": True},
            "showMessage": {"messageActionItem": {"additionalPropertiesSupport": True}},
            "workDoneProgress": True,
        },
    },
)

KATE = ClientProfile(
    name="kate",
    capabilities={
        "textDocument": {
            "documentSymbol": {"hierarchicalDocumentSymbolSupport": True},
            "publishDiagnostics": {"relatedInformation": True},
            "codeAction": {
                "codeActionLiteralSupport": {
                    "codeActionKind": {"valueSet": ["quickfix", "refactor", "source"]}
                }
            },
            "synchronization": {"didSave": True},
            "selectionRange": {"dynamicRegistration": False},
            "hover": {"contentFormat": ["markdown", "plaintext"]},
            "completion": {
                "completionItem": {
                    "snippetSupport": False,
                    "resolveSupport": {"properties": ["additionalTextEdits", "documentation"]},
                }
            },
            "inlayHint": {"dynamicRegistration": False},
        },
        "window": {
            "workDoneProgress": True,
            "showMessage": {"messageActionItem": {"additionalPropertiesSupport": True}},
        },
        # Kate declares workspace support only when folders are configured.
        "workspace": {"workspaceFolders": True},
    },
    pushes_configuration=True,
)

EGLOT = ClientProfile(
    name="eglot",
    capabilities={
        "workspace": {
            "applyEdit": True,
            "executeCommand": {"dynamicRegistration": False},
            "workspaceEdit": {"documentChanges": True},
            "didChangeWatchedFiles": {"dynamicRegistration": True},
            "symbol": {"dynamicRegistration": False},
            "configuration": True,
            "workspaceFolders": True,
        },
        "textDocument": {
            "synchronization": {
                "dynamicRegistration": False,
                "willSave": True,
                "willSaveWaitUntil": True,
                "didSave": True,
            },
            "completion": {
                "dynamicRegistration": False,
                "completionItem": {
                    "snippetSupport": False,
                    "deprecatedSupport": True,
                    "tagSupport": {"valueSet": [1]},
                },
                "contextSupport": True,
            },
            "codeAction": {
                "dynamicRegistration": False,
                "codeActionLiteralSupport": {"codeActionKind": {"valueSet": _CODE_ACTION_KINDS}},
                "isPreferredSupport": True,
            },
        },
        "experimental": {},
    },
    completion_context={"triggerKind": 1},
)

LSP_MODE = ClientProfile(
    name="lsp-mode",
    capabilities={
        "workspace": {
            "workspaceEdit": {
                "documentChanges": True,
                "resourceOperations": ["create", "rename", "delete"],
            },
            "applyEdit": True,
            "symbol": {"symbolKind": {"valueSet": list(range(1, 27))}},
            "executeCommand": {"dynamicRegistration": False},
            "didChangeWatchedFiles": {"dynamicRegistration": True},
            "workspaceFolders": True,
            "configuration": True,
        },
        "textDocument": {
            "declaration": {"linkSupport": True},
            "definition": {"linkSupport": True},
            "synchronization": {"willSave": True, "didSave": True, "willSaveWaitUntil": True},
            "completion": {
                "completionItem": {
                    "snippetSupport": False,
                    "documentationFormat": ["markdown", "plaintext"],
                    "resolveAdditionalTextEditsSupport": True,
                    "insertReplaceSupport": True,
                    "deprecatedSupport": True,
                    "resolveSupport": {
                        "properties": ["documentation", "details", "additionalTextEdits", "command"]
                    },
                    "insertTextModeSupport": {"valueSet": [1, 2]},
                },
                "contextSupport": True,
            },
            "codeAction": {
                "dynamicRegistration": True,
                "isPreferredSupport": True,
                "codeActionLiteralSupport": {
                    "codeActionKind": {"valueSet": ["", *_CODE_ACTION_KINDS]}
                },
                "resolveSupport": {"properties": ["edit", "command"]},
                "dataSupport": True,
            },
        },
        "window": {"workDoneProgress": True, "showMessage": None, "showDocument": None},
    },
    completion_context={"triggerKind": 1},
)

REPLAYED = [HELIX, ZED, SUBLIME, KATE]
EMACS = [EGLOT, LSP_MODE]
ALL = REPLAYED + EMACS

# --------------------------------------------------------------------------------------------
# Presets: what the pytest plugin's ``codestral_client`` starts as

#: Capability presets of ``codestral_client`` (and :func:`capabilities_for`).
PRESETS = ("vscode", "neovim", "eglot")
#: What our own editor integrations add to their capabilities (docs/protocol.md).
STATUS_OPT_IN = {"codestral": {"statusNotification": True}}
_ALIASES = {"visual-studio-code": "vscode", "neovim@v0.11.0": "neovim", "emacs": "eglot"}


def capabilities_for(preset: str, *, status_opt_in: bool | None = None) -> ClientCapabilities:
    """The ``initialize`` capabilities of a client preset.

    - ``vscode``: VS Code's, recorded by pytest-lsp, plus inline completion (LSP 3.18) as
      vscode-languageclient 10 advertises it: ghost text;
    - ``neovim``: Neovim 0.11's, recorded by pytest-lsp (UTF-8 positions, completion items);
    - ``eglot``: Emacs eglot 1.9's (:data:`EGLOT`), completion items.

    ``status_opt_in`` adds ``experimental.codestral.statusNotification`` (default: for
    ``vscode`` and ``neovim``, whose integrations we ship, not for ``eglot``).  The first two
    need pytest-lsp (the ``testing`` extra).
    """
    from lsprotocol import types
    from lsprotocol.converters import get_converter

    name = _ALIASES.get(preset, preset)
    if name not in PRESETS:
        raise ValueError(f"unknown client preset {preset!r}; one of {', '.join(PRESETS)}")
    capabilities: ClientCapabilities
    if name == "eglot":
        capabilities = get_converter().structure(EGLOT.capabilities, types.ClientCapabilities)
    else:
        from pytest_lsp import client_capabilities

        capabilities = client_capabilities(
            "neovim@v0.11.0" if name == "neovim" else "visual-studio-code"
        )
        if name == "vscode":
            assert capabilities.text_document is not None
            capabilities.text_document.inline_completion = types.InlineCompletionClientCapabilities(
                dynamic_registration=True
            )
    if status_opt_in if status_opt_in is not None else name != "eglot":
        experimental = (
            capabilities.experimental if isinstance(capabilities.experimental, dict) else {}
        )
        capabilities.experimental = {**experimental, **STATUS_OPT_IN}
    return capabilities
