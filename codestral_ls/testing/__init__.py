"""The offline testing kit (docs/testing.md): fakes of the Mistral API and of the self-hosted
servers, rules and faults, record and replay, and a pytest plugin.

- :mod:`.fake_mistral` - :class:`FakeMistral` (and :class:`FakeServer`, the shared machinery):
  a spec-validating fake of the Mistral API on 127.0.0.1;
- :mod:`.fake_backends` - :class:`FakeOllama`, :class:`FakeOpenAI` (``flavor="llamacpp"``...);
- :mod:`.rules` - answers and faults by request content (``fake-api --rules``);
- :mod:`.record` - the recording proxy and :class:`Replay`;
- :mod:`.clients` - client capability presets (``vscode``, ``neovim``, ``eglot``...);
- :mod:`.command` - ``codestral-ls fake-api`` and ``codestral-ls record``;
- :mod:`.plugin` - the pytest plugin (``codestral_fake``, ``codestral_client``).

Nothing here is imported by the language server itself.  Request validation needs
``jsonschema`` and the plugin pytest-lsp: ``pip install 'codestral-ls[testing]'``.
The names below import lazily, so ``from codestral_ls.testing import FakeMistral`` works.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "FakeMistral": "fake_mistral",
    "FakeServer": "fake_mistral",
    "Recorded": "fake_mistral",
    "FakeOllama": "fake_backends",
    "FakeOpenAI": "fake_backends",
    "Rule": "rules",
    "RuleSet": "rules",
    "load_rules": "rules",
    "RecordingProxy": "record",
    "Replay": "record",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
