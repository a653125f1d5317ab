"""The command line: ``complete`` and ``doctor`` run the real code path against the fake API."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from codestral_ls import __version__
from tests.fake_backends import FakeOllama, FakeOpenAI
from tests.fake_mistral import FakeMistral

KEY = "cli-test-key-77"


@pytest.fixture(scope="module")
def fake_module() -> Iterator[FakeMistral]:
    with FakeMistral() as fake:
        yield fake


@pytest.fixture
def fake(fake_module: FakeMistral) -> FakeMistral:
    fake_module.reset()
    return fake_module


def run(fake: FakeMistral | None, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CODESTRAL_API_KEY", "MISTRAL_API_KEY", "CODESTRAL_ENDPOINT")
    }
    if fake is not None:
        environ.update(CODESTRAL_ENDPOINT=fake.url, CODESTRAL_API_KEY=KEY)
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "codestral_ls", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "file.py"
    path.write_text("import os\n\ndef main():\n    pa\n", encoding="utf-8")
    return path


def test_version() -> None:
    result = run(None, "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"codestral-ls {__version__}"


def test_complete_prints_the_completion(fake: FakeMistral, source: Path) -> None:
    fake.fim_text = "th = os.getcwd()"
    result = run(fake, "complete", f"{source}:4:7")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "th = os.getcwd()\n"
    [request] = fake.fim_requests()
    assert request.errors == []
    assert request.body is not None
    assert request.body["prompt"] == "import os\n\ndef main():\n    pa"
    assert request.body["suffix"] == "\n"
    assert KEY not in result.stderr


def test_complete_sends_what_the_file_imports_from_its_project(
    fake: FakeMistral, tmp_path: Path
) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "geometry.py").write_text(
        "def scale(shape, factor: float) -> Shape:\n    return shape.map(factor)\n"
    )
    (tmp_path / "src").mkdir()
    main = tmp_path / "src" / "main.py"
    main.write_text("from pkg.geometry import scale\n\nbig = \n")
    fake.fim_text = "scale(square, 2)"
    result = run(fake, "complete", f"{main}:3:7")
    assert result.returncode == 0, result.stderr
    [request] = fake.fim_requests()
    assert request.errors == []
    prompt = request.body["prompt"] if request.body else ""
    assert prompt.startswith("+++++ pkg/geometry.py\n")
    assert "def scale(shape, factor: float) -> Shape:" in prompt
    assert prompt.endswith("+++++ src/main.py\nfrom pkg.geometry import scale\n\nbig = ")

    excluded = run(fake, "complete", f"{main}:3:7", "--settings", '{"exclude": ["geometry.py"]}')
    assert excluded.returncode == 0, excluded.stderr
    body = fake.fim_requests()[-1].body or {}
    assert "def scale" not in body["prompt"]
    assert "+++++ pkg/geometry.py" not in body["prompt"]


def test_complete_uses_settings(fake: FakeMistral, source: Path) -> None:
    result = run(fake, "complete", f"{source}:4:7", "--settings", '{"model": "codestral-2508"}')
    assert result.returncode == 0, result.stderr
    [request] = fake.fim_requests()
    assert request.body is not None and request.body["model"] == "codestral-2508"


def test_complete_reports_a_rejected_key_in_one_line(fake: FakeMistral, source: Path) -> None:
    fake.fail_next(401, {"message": "Unauthorized"})
    result = run(fake, "complete", f"{source}:4:7")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if "WARNING" not in line]
    assert len(lines) == 1
    assert "codestral.mistral.ai" in lines[0] and "api.mistral.ai" in lines[0]
    assert KEY not in result.stderr


@pytest.mark.parametrize("suffix", [":4", ":0:1", ":9:1", ":x:1"])
def test_complete_rejects_bad_locations(fake: FakeMistral, source: Path, suffix: str) -> None:
    result = run(fake, "complete", f"{source}{suffix}")
    assert result.returncode == 2
    assert result.stderr.strip() and len(result.stderr.strip().splitlines()) == 1
    assert fake.fim_requests() == []


def test_complete_without_a_key(fake: FakeMistral, source: Path) -> None:
    result = run(fake, "complete", f"{source}:4:7", CODESTRAL_API_KEY="")
    assert result.returncode == 1
    assert "CODESTRAL_API_KEY" in result.stderr


def test_doctor_passes(fake: FakeMistral) -> None:
    result = run(fake, "doctor")
    assert result.returncode == 0, result.stdout
    assert "codestral-2508" in result.stdout
    assert "round trip" in result.stdout
    assert not [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert KEY not in result.stdout + result.stderr


def test_doctor_explains_an_unknown_model(fake: FakeMistral) -> None:
    result = run(fake, "doctor", "--settings", '{"model": "nope-model"}')
    assert result.returncode == 1
    fails = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert any("nope-model" in line for line in fails)


def test_doctor_explains_a_rejected_key(fake: FakeMistral) -> None:
    fake.fail_next(401, {"message": "Unauthorized"})
    result = run(fake, "doctor")
    assert result.returncode == 1
    [fail] = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert "api.mistral.ai" in fail


def test_doctor_without_a_key() -> None:
    result = run(None, "doctor")
    assert result.returncode == 1
    assert "no key" in result.stdout


# --- self-hosted backends: no key, the configured backend (issue 11) -------------------------


def run_local(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``codestral-ls`` with no key at all and ``CODESTRAL_ENDPOINT`` at a local server."""
    return run(None, *args, CODESTRAL_ENDPOINT=url, CODESTRAL_API_KEY="", MISTRAL_API_KEY="")


def test_complete_through_ollama_without_a_key(source: Path) -> None:
    with FakeOllama() as ollama:
        ollama.fim_text = "th = os.getcwd()"
        settings = '{"backend": "ollama", "model": "codestral:22b"}'
        result = run_local(ollama.url, "complete", f"{source}:4:7", "--settings", settings)
        assert result.returncode == 0, result.stderr
        assert result.stdout == "th = os.getcwd()\n"
        [request] = ollama.fim_requests()
        assert request.path == "/api/generate" and request.errors == []
        assert request.body is not None and request.body["model"] == "codestral:22b"
        assert request.body["prompt"] == "import os\n\ndef main():\n    pa"


def test_complete_through_an_openai_compatible_server_without_a_key(source: Path) -> None:
    with FakeOpenAI() as server:
        server.fim_text = "th = 1"
        settings = '{"model": "codestral-22b-v0.1"}'  # backend auto: the /v1 URL says openai
        result = run_local(f"{server.url}/v1", "complete", f"{source}:4:7", "--settings", settings)
        assert result.returncode == 0, result.stderr
        assert result.stdout == "th = 1\n"
        [request] = server.fim_requests()
        assert request.path == "/v1/completions" and request.errors == []


def test_doctor_through_ollama_without_a_key() -> None:
    with FakeOllama() as ollama:
        ollama.fim_text = "a + b"
        settings = '{"backend": "ollama", "model": "qwen2.5-coder"}'
        result = run_local(ollama.url, "doctor", "--settings", settings)
        assert result.returncode == 0, result.stdout
        assert not [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
        assert "none needed by the ollama backend" in result.stdout
        assert f"{ollama.url} answered /api/tags" in result.stdout
        assert "codestral:22b" in result.stdout and "round trip" in result.stdout
        # the models, the context it runs with (issue 12; /api/show and /api/ps are asked at
        # once, so they arrive in either order), one round trip
        paths = [r.path for r in ollama.requests]
        assert paths[0] == "/api/tags" and paths[-1] == "/api/generate"
        assert sorted(paths[1:-1]) == ["/api/ps", "/api/show"]


def test_doctor_through_an_openai_compatible_server_without_a_key() -> None:
    with FakeOpenAI(flavor="llamacpp") as server:
        server.fim_text = "a + b"
        settings = '{"backend": "openai", "model": "codestral-22b-v0.1"}'
        result = run_local(server.url, "doctor", "--settings", settings)
        assert result.returncode == 0, result.stdout
        assert not [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
        assert "'a + b'" in result.stdout
        # the endpoint is probed first (issue 12): a llama-server gets the llamacpp backend
        assert "llamacpp" in result.stdout
        assert "/v1/models" in [r.path for r in server.requests]
        assert [r.path for r in server.fim_requests()][-1] == "/infill"


def test_doctor_names_a_model_ollama_does_not_have() -> None:
    with FakeOllama() as ollama:
        settings = '{"backend": "ollama", "model": "codestral-latest"}'
        result = run_local(ollama.url, "doctor", "--settings", settings)
        assert result.returncode == 1
        fails = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
        assert any("codestral-latest" in line for line in fails)


def test_doctor_says_what_it_detected_and_why(source: Path) -> None:
    from tests.fake_backends import LLAMACPP_MODEL_PATH, FakeOpenAI

    with FakeOpenAI(flavor="llamacpp") as llama:
        llama.n_ctx = 1024
        llama.fim_text = "path = os.getcwd()"
        settings = f'{{"endpoint": "{llama.url}"}}'
        result = run(None, "doctor", "--settings", settings)
        completed = run(None, "complete", f"{source}:4:7", "--settings", settings)
        paths = [r.path for r in llama.fim_requests()]
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    [backend] = [line for line in lines if " backend " in line]
    assert "llamacpp" in backend and "/props" in backend and "n_ctx 1024" in backend
    assert any("context" in line and "1024 tokens" in line for line in lines)
    assert any(LLAMACPP_MODEL_PATH in line for line in lines)
    assert "no key" not in result.stdout
    # `complete` goes the same way: no key asked, through /infill
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip()
    assert paths == ["/infill", "/infill"]
