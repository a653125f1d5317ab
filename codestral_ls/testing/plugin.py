"""The pytest plugin of the testing kit, registered through the ``pytest11`` entry point
(docs/testing.md).  Fixtures (stable public names):

- ``codestral_fake``: a running fake Mistral API (:class:`CodestralFake`: ``.url``,
  ``.requests()``, ``.add_rule(...)``, ``.fault(...)``, ``.fail_next(...)``), reset for every
  test;
- ``codestral_client``: a pytest-lsp ``LanguageClient`` connected to a real codestral-ls
  process (``python -m codestral_ls``) pointed at that fake, already initialized;
- ``codestral_preset``: the client's capability preset, ``vscode`` (default), ``neovim`` or
  ``eglot`` (:func:`codestral_ls.testing.clients.capabilities_for`); parametrize it (or
  ``codestral_client`` indirectly) to run a test as several clients;
- ``codestral_settings``: the ``codestral`` settings sent as initialization options (default
  ``{}``; ``debounceMs`` is 0 unless given).

Needs the ``testing`` extra (pytest-lsp, pytest-asyncio, jsonschema); without it the
fixtures fail with a message saying so, and nothing else in the test run changes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from .clients import PRESETS, capabilities_for
from .fake_mistral import FakeMistral, Recorded
from .rules import Rule, load_rules

__all__ = ["PRESETS", "TEST_KEY", "CodestralFake", "server_env"]

#: The API key the server under test is given (the fake accepts any).
TEST_KEY = "codestral-ls-test-key"

try:
    import jsonschema  # noqa: F401
    import pytest_asyncio
    from lsprotocol import types
    from pytest_lsp import ClientServerConfig, LanguageClient
except ImportError as error:  # pragma: no cover - depends on the install
    MISSING: str | None = (
        f"the codestral-ls fixtures need the 'testing' extra ({error.name} is missing): "
        "pip install 'codestral-ls[testing]'"
    )
else:
    MISSING = None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "codestral_env(**variables): extra environment of the codestral-ls process "
        "codestral_client starts (a None value removes a variable)",
    )


class CodestralFake:
    """The ``codestral_fake`` fixture: a fake Mistral API on 127.0.0.1 and its controls.

    Everything :class:`~codestral_ls.testing.fake_mistral.FakeMistral` offers is reachable
    through :attr:`server` (and read through attribute access on this object).
    """

    def __init__(self, server: FakeMistral) -> None:
        self.server = server

    @property
    def url(self) -> str:
        """Base URL (``CODESTRAL_ENDPOINT``) of the fake."""
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    def requests(self, path: str | None = None) -> list[Recorded]:
        """The requests received so far (to ``path`` only, if given), in order."""
        with self.server._cond:
            found = list(self.server.requests)
        return [r for r in found if path is None or r.path == path]

    def fim_requests(self) -> list[Recorded]:
        """The ``POST /v1/fim/completions`` requests received so far."""
        return self.server.fim_requests()

    def add_rule(self, **fields: Any) -> Rule:
        """Answer matching requests this way (the keys of a rules file: ``prompt``,
        ``suffix``, ``prompt_regex``, ``text``, ``fault``, ``latency_ms``, ``times``...)."""
        return self.server.rules.add(Rule.from_mapping(fields))

    def fault(self, fault: str, **match: Any) -> Rule:
        """Answer matching requests (all, without ``match``) with ``fault``: ``429``,
        ``500``, ``hang``, ``reset``, ``garbage``, ``slow_stream``..."""
        return self.add_rule(fault=fault, **match)

    def load_rules(self, path: str | Path) -> None:
        """Use the rules (and default) of a rules file, replacing the current ones."""
        self.server.rules = load_rules(path)

    def set_text(self, text: str) -> None:
        """The answer to every FIM and chat request no rule matches."""
        self.server.fim_text = text
        self.server.chat_text = text

    def fail_next(
        self,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` POST requests with this error."""
        self.server.fail_next(status, body, headers, times)

    def wait_for_requests(self, n: int, timeout: float = 10.0, *, path: str | None = None) -> bool:
        return self.server.wait_for_requests(n, timeout, path=path)

    async def await_requests(
        self, n: int, timeout: float = 10.0, *, path: str | None = None
    ) -> bool:
        """Wait (without blocking the event loop) for ``n`` requests to ``path`` (default
        ``/v1/fim/completions``)."""
        return await self.server.await_requests(n, timeout, path=path)

    def reset(self) -> None:
        self.server.reset()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.server, name)


def server_env(fake_url: str, state_dir: Path, **overrides: str | None) -> dict[str, str]:
    """The environment of a codestral-ls process under test: this one's, without real keys,
    pointed at the fake, with a state directory of its own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("CODESTRAL_API_KEY", "MISTRAL_API_KEY", "CODESTRAL_ENDPOINT")
    }
    env.update(
        {
            "CODESTRAL_API_KEY": TEST_KEY,
            "CODESTRAL_ENDPOINT": fake_url,
            "CODESTRAL_LS_STATE_DIR": str(state_dir),
        }
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@pytest.fixture(scope="session")
def _codestral_fake_server() -> Iterator[FakeMistral]:
    if MISSING:
        pytest.fail(MISSING, pytrace=False)
    with FakeMistral() as fake:
        yield fake


@pytest.fixture
def codestral_fake(_codestral_fake_server: FakeMistral) -> CodestralFake:
    """A running fake Mistral API, reset for this test."""
    _codestral_fake_server.reset()
    return CodestralFake(_codestral_fake_server)


@pytest.fixture
def codestral_preset(request: pytest.FixtureRequest) -> str:
    """The client preset of ``codestral_client`` (parametrize it: ``vscode``, ``neovim``,
    ``eglot``)."""
    return str(getattr(request, "param", "vscode"))


@pytest.fixture
def codestral_settings() -> dict[str, Any]:
    """The ``codestral`` settings of ``codestral_client`` (override or parametrize it)."""
    return {}


if MISSING is None:

    @pytest_asyncio.fixture
    async def codestral_client(
        request: pytest.FixtureRequest,
        codestral_fake: CodestralFake,
        codestral_preset: str,
        codestral_settings: dict[str, Any],
        tmp_path_factory: pytest.TempPathFactory,
    ) -> AsyncIterator[LanguageClient]:
        """A pytest-lsp client connected to a real codestral-ls pointed at ``codestral_fake``,
        initialized as the ``codestral_preset`` client."""
        preset = str(getattr(request, "param", codestral_preset))
        marker = request.node.get_closest_marker("codestral_env")
        extra_env: dict[str, str | None] = dict(marker.kwargs) if marker is not None else {}
        config = ClientServerConfig(
            server_command=[sys.executable, "-m", "codestral_ls"],
            server_env=server_env(
                codestral_fake.url, tmp_path_factory.mktemp("codestral-state"), **extra_env
            ),
        )
        client = await config.start()
        assert isinstance(client, LanguageClient)
        try:
            await client.initialize_session(
                types.InitializeParams(
                    capabilities=capabilities_for(preset),
                    initialization_options={"debounceMs": 0, **codestral_settings},
                    client_info=types.ClientInfo(name=preset),
                )
            )
            yield client
        finally:
            if not client.stopped:
                try:
                    await client.shutdown_session()
                finally:
                    await client.stop()

else:  # pragma: no cover - depends on the install

    @pytest.fixture
    def codestral_client() -> None:
        pytest.fail(str(MISSING), pytrace=False)
