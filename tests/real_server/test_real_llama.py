"""The end-to-end checks of issue 12 against a real llama-server (bench/real_llama.sh).

The first group checks that the fake in tests/fake_backends.py answers like the real server
(the fake is what CI tests against); the second runs the real codestral-ls over the protocol,
with VS Code's and Neovim's capabilities, against the real server.  Output quality is not the
point: the tiny model only has FIM token ids patched in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from codestral_ls.backends import LlamaCppBackend, detect_backend
from codestral_ls.backends.errors import BadRequestError
from codestral_ls.backends.probe import EndpointProbe
from codestral_ls.mistral import FimRequest
from codestral_ls.overflow import overflow_of
from codestral_ls.snippets import ContextFile
from tests.e2e.conftest import Starter
from tests.helpers import stream_fim
from tests.real_server.conftest import MODEL, N_CTX, SERVER, Proxy, RealServer

pytestmark = pytest.mark.skipif(
    not (SERVER and MODEL), reason="needs LLAMA_SERVER and LLAMA_MODEL (bench/real_llama.sh)"
)

NO_KEYS: dict[str, str | None] = {"CODESTRAL_API_KEY": None, "MISTRAL_API_KEY": None}
URI = "file:///work/real.py"


def big_file(lines: int) -> str:
    return "".join(f"value_{i} = compute({i}, 'some text here')\n" for i in range(lines))


# --------------------------------------------------------------------------- the fake is faithful


def test_props_models_and_health_look_like_the_fake(llama: RealServer) -> None:
    props = httpx.get(f"{llama.url}/props", timeout=10).json()
    assert props["default_generation_settings"]["n_ctx"] == N_CTX
    models = httpx.get(f"{llama.url}/v1/models", timeout=10).json()
    [card] = models["data"]
    assert card["id"] == MODEL  # the path given to -m
    assert card["owned_by"] == "llamacpp"
    assert card["meta"]["n_ctx"] == N_CTX
    assert httpx.get(f"{llama.url}/health", timeout=10).json() == {"status": "ok"}


def test_v1_completions_takes_suffix_and_ignores_it(llama: RealServer) -> None:
    def prompt_tokens(**extra: str) -> int:
        body = {"model": "x", "prompt": "def add(a, b):\n    return ", "max_tokens": 4, **extra}
        answer = httpx.post(f"{llama.url}/v1/completions", json=body, timeout=120)
        assert answer.status_code == 200, answer.text
        return int(answer.json()["usage"]["prompt_tokens"])

    assert prompt_tokens() == prompt_tokens(suffix="\n\nprint(add(1, 2))\n" * 5)


def test_infill_reads_suffix_and_input_extra(llama: RealServer) -> None:
    def evaluated(**extra: object) -> int:
        body = {"input_prefix": "def f():\n    ", "input_suffix": "\n", "n_predict": 4, **extra}
        answer = httpx.post(f"{llama.url}/infill", json=body, timeout=120)
        assert answer.status_code == 200, answer.text
        return int(answer.json()["tokens_evaluated"])

    bare = evaluated()
    assert evaluated(input_suffix="\nprint(f())\n" * 5) > bare
    # input_extra is accepted; llama-server only spends on it the context left beyond one
    # batch and twice n_predict (n_ctx - n_batch - 2 * n_predict), none with -c 1024 and
    # the default batch of 2048, so here it adds no token.
    extra = [{"filename": "util.py", "text": "def helper():\n    return 1\n"}]
    assert evaluated(input_extra=extra) >= bare


async def test_the_context_refusal_has_the_fakes_shape(llama: RealServer) -> None:
    answer = httpx.post(
        f"{llama.url}/infill",
        json={"input_prefix": "x = 1\n" * 2000, "input_suffix": "", "n_predict": 4},
        timeout=120,
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "exceed_context_size_error"
    assert error["n_ctx"] == N_CTX and error["n_prompt_tokens"] > N_CTX
    assert "exceeds the available context size" in error["message"]
    async with httpx.AsyncClient() as http:
        backend = LlamaCppBackend(llama.url, None, http=http)
        with pytest.raises(BadRequestError) as info:
            await stream_fim(backend, FimRequest("m", "x = 1\n" * 2000, suffix=""))
    overflow = overflow_of(info.value)
    assert overflow is not None and overflow.context == N_CTX


async def test_probe_and_backend_against_the_real_server(llama: RealServer) -> None:
    async with httpx.AsyncClient() as http:
        detection = await EndpointProbe(http, detect_backend).detect(llama.url)
        assert detection.kind == "llamacpp" and detection.context_length == N_CTX
        backend = LlamaCppBackend(llama.url, None, http=http)
        [card] = await backend.list_models()
        assert card["id"] == MODEL and card["max_context_length"] == N_CTX
        request = FimRequest(
            "any-name",
            "def add(a, b):\n    return ",
            suffix="\n",
            max_tokens=8,
            context_files=(ContextFile("util.py", "def helper():\n    return 1\n"),),
        )
        streamed = "".join([piece async for piece in backend.fim_stream(request)])
        assert isinstance(streamed, str)


def test_doctor_against_the_real_server(llama: RealServer) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "codestral_ls",
            "doctor",
            "--settings",
            f'{{"endpoint": "{llama.url}"}}',
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")},
        check=False,
    )
    print(result.stdout)
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if len(line.split()) > 1}
    for what in ("backend", "models", "model", "context"):
        assert lines[what].startswith("ok"), result.stdout
    assert "llamacpp" in lines["backend"] and f"n_ctx {N_CTX}" in lines["backend"]
    assert f"{N_CTX} tokens" in lines["context"]
    # The round trip's time depends on the machine's load (a timeout there is reported, not
    # asserted: the tests over the protocol check the completion path).
    assert "fim" in lines


# --------------------------------------------------------------------------- over the protocol


async def test_completion_through_infill_fitting_the_context(
    start: Starter, proxy: Proxy, tmp_path: Path
) -> None:
    """Default settings but the endpoint: probed as llama.cpp (no key asked), the suffix goes
    through /infill, a 16,000-character file is cut to the server's 1,024 tokens."""
    session = await start({"endpoint": proxy.url}, env=NO_KEYS)
    text = big_file(400) + "\ndef total(values):\n    \n\nprint(total([1, 2]))\n"
    session.open(URI, text)
    cursor = text.index("\n\nprint(total")
    await session.complete_at(URI, cursor)
    posts = proxy.posts()
    assert posts, "codestral-ls sent nothing"
    assert {p.path for p in posts} == {"/infill"}
    assert all(p.status == 200 for p in posts), [(p.path, p.status) for p in posts]
    body = posts[0].body
    assert body["input_suffix"].startswith("\n\nprint(total")
    assert len(body["input_prefix"]) + len(body["input_suffix"]) <= (N_CTX - 256 - 64) * 3
    problems = [m for m in session.messages if "context" in m or "key" in m.lower()]
    assert problems == []
