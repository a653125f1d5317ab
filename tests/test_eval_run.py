"""``codestral-ls eval`` end to end against the fakes (real HTTP servers on 127.0.0.1), with
models that know the answer (tests/fake_oracle.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codestral_ls.cli import main
from codestral_ls.evaluation.store import results_of
from tests.fake_backends import FakeOllama, FakeOpenAI
from tests.fake_mistral import FakeMistral
from tests.fake_oracle import Oracle
from tests.test_eval_units import make_repo

HOLES = 9
REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def fake(repo: Path) -> Iterator[FakeMistral]:
    server = FakeMistral(check_models=False)
    server.start()
    server.fim_text = Oracle(repo).text_source()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODESTRAL_API_KEY", "test-key")
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    monkeypatch.delenv("CODESTRAL_ENDPOINT", raising=False)


def evaluate(
    repo: Path, output: Path, *args: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    code = main(
        [
            "eval",
            "--root",
            str(repo),
            "--holes",
            str(HOLES),
            "--no-progress",
            "--output",
            str(output),
            *args,
        ]
    )
    return code, capsys.readouterr().out


def variants(url: str, *models: str, extra: str = "") -> list[str]:
    args: list[str] = []
    for model in models:
        args += ["--variant", f"{model}:model={model},endpoint={url}{extra}"]
    return args


def by_variant(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["variant"]: v for v in data["variants"]}


def test_oracle_ranks_first_and_metrics_separate_the_models(
    repo: Path, fake: FakeMistral, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out" / "results.jsonl"
    code, out = evaluate(
        repo, output, "--json", *variants(fake.url, "wrong", "half", "oracle"), capsys=capsys
    )
    assert code == 0
    data = json.loads(out)
    assert [v["variant"] for v in data["variants"]] == ["oracle", "half", "wrong"]
    found = by_variant(data)
    oracle, half, wrong = found["oracle"], found["half"], found["wrong"]
    assert oracle["holes"] == oracle["answered"] == HOLES
    assert oracle["exact"]["mean"] == 1.0
    assert oracle["edit_similarity"]["mean"] == 1.0
    assert oracle["parses"]["mean"] == 1.0  # every filled Python file still parses
    assert wrong["exact"]["mean"] == 0.0
    assert 0.0 < half["edit_similarity"]["mean"] < 1.0
    assert wrong["edit_similarity"]["mean"] < half["edit_similarity"]["mean"]
    assert oracle["errors"] == 0 and oracle["empty_rate"] == 0.0
    assert oracle["latency_p50"] > 0
    # Every hole went through the editor's path: one streamed, schema-valid request each.
    requests = fake.fim_requests()
    assert len(requests) == 3 * HOLES
    assert all(r.errors == [] and r.stream for r in requests)
    records = results_of(output)
    assert len(records) == 3 * HOLES
    assert any(r["usageReported"] for r in records)  # tokens from the API's usage
    assert all(r["promptTokens"] > 0 for r in records)


def test_report_files_markdown_and_chart(
    repo: Path, fake: FakeMistral, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "results.jsonl"
    code, out = evaluate(repo, output, *variants(fake.url, "oracle", "wrong"), capsys=capsys)
    assert code == 0
    report = (tmp_path / "results.md").read_text()
    assert report in out  # printed and written
    first = next(line for line in report.splitlines() if line.startswith("| 1 |"))
    assert "oracle" in first
    chart = (tmp_path / "results.svg").read_text()
    assert chart.lstrip().startswith("<?xml") and "<svg" in chart


def test_dry_run_sends_nothing(
    repo: Path, fake: FakeMistral, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "results.jsonl"
    code, out = evaluate(
        repo, output, "--dry-run", *variants(fake.url, "oracle", "codestral-2508"), capsys=capsys
    )
    assert code == 0
    assert f"{HOLES} holes x 2 variants: {2 * HOLES} requests to send" in out
    assert "estimated tokens:" in out and "estimated cost: $" in out
    assert "no price known for oracle" in out
    assert fake.fim_requests() == []
    assert not output.exists()
    code, out = evaluate(
        repo, output, "--dry-run", "--json", *variants(fake.url, "codestral-2508"), capsys=capsys
    )
    data = json.loads(out)
    assert (data["requests"], data["unpriced"]) == (HOLES, [])
    assert data["promptTokens"] > 0 and data["cost"] > 0
    assert fake.fim_requests() == []


def test_rate_limit_storm_slows_but_completes(
    repo: Path, fake: FakeMistral, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.fail_next(429, headers={"Retry-After": "0.2"}, times=3)
    fake.fail_next(429, headers={"Retry-After": "0"}, times=3)
    output = tmp_path / "results.jsonl"
    code, out = evaluate(repo, output, "--json", *variants(fake.url, "oracle"), capsys=capsys)
    assert code == 0
    oracle = by_variant(json.loads(out))["oracle"]
    assert oracle["answered"] == HOLES and oracle["errors"] == 0
    assert oracle["exact"]["mean"] == 1.0
    assert oracle["rate_limited"] == 6
    assert len(fake.fim_requests()) == HOLES + 6


def test_resume_skips_finished_holes(
    repo: Path, fake: FakeMistral, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "results.jsonl"
    args = variants(fake.url, "oracle", "wrong")
    assert evaluate(repo, output, *args, capsys=capsys)[0] == 0
    lines = output.read_text().splitlines()
    # Keep the run header and 5 results, then a line cut short, as a crash would leave it.
    output.write_text("\n".join(lines[:6]) + '\n{"type": "result", "vari')
    before = len(fake.fim_requests())
    code, out = evaluate(repo, output, "--json", *args, capsys=capsys)
    assert code == 0
    assert len(fake.fim_requests()) - before == 2 * HOLES - 5
    assert len(results_of(output)) == 2 * HOLES
    assert by_variant(json.loads(out))["oracle"]["holes"] == HOLES
    # A third run has nothing left to ask.
    before = len(fake.fim_requests())
    assert evaluate(repo, output, *args, capsys=capsys)[0] == 0
    assert len(fake.fim_requests()) == before


def _result_lines(path: Path) -> int:
    try:
        return sum('"type": "result"' in line for line in path.read_text().splitlines())
    except FileNotFoundError:
        return 0


def test_ctrl_c_keeps_what_is_done_and_the_next_run_resumes(
    repo: Path, fake: FakeMistral, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.latency = 0.3  # slow enough to interrupt in the middle
    output = tmp_path / "results.jsonl"
    args = variants(fake.url, "oracle", "wrong")
    command = [
        sys.executable,
        "-m",
        "codestral_ls",
        "eval",
        "--root",
        str(repo),
        "--holes",
        str(HOLES),
        "--no-progress",
        "--output",
        str(output),
        *args,
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while _result_lines(output) < 2 and process.poll() is None:
            assert time.monotonic() < deadline, "no results were written"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "resume" in stderr
    kept = results_of(output)
    assert 2 <= len(kept) < 2 * HOLES
    fake.latency = 0.0
    before = len(fake.fim_requests())
    code, _ = evaluate(repo, output, *args, capsys=capsys)
    assert code == 0
    assert len(fake.fim_requests()) - before == 2 * HOLES - len(kept)
    assert len(results_of(output)) == 2 * HOLES


def test_compare_two_runs(
    repo: Path, fake: FakeMistral, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "monday.jsonl", tmp_path / "tuesday.jsonl"
    assert evaluate(repo, first, *variants(fake.url, "wrong"), capsys=capsys)[0] == 0
    assert evaluate(repo, second, *variants(fake.url, "oracle"), capsys=capsys)[0] == 0
    assert main(["eval", "--compare", str(first), str(second)]) == 0
    out = capsys.readouterr().out
    ranked = [line for line in out.splitlines() if line.startswith("| 1 |")]
    assert ranked and "tuesday:oracle" in ranked[0]
    assert "monday:wrong" in out and f"{HOLES} shared holes" in out


def test_context_ablation_runs_both_sides(
    repo: Path, fake: FakeMistral, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "results.jsonl"
    code, out = evaluate(
        repo,
        output,
        "--variant",
        f"with:model=oracle,endpoint={fake.url},context=on",
        "--variant",
        f"without:model=oracle,endpoint={fake.url},context=off",
        capsys=capsys,
    )
    assert code == 0
    assert {r["variant"] for r in results_of(output)} == {"with", "without"}
    assert len({r["fingerprint"] for r in results_of(output)}) == 2
    assert "identical requests" not in out


GEOMETRY = '''"""Shapes."""


def circle_area(radius: float) -> float:
    """The area of a circle."""
    return 3.14159 * radius * radius


def square_area(side: float) -> float:
    """The area of a square."""
    return side * side
'''

MAIN = '''"""Uses the shapes."""

from pkg.geometry import circle_area, square_area


def total(radius: float, side: float) -> float:
    """Both areas together."""
    first = circle_area(radius)
    second = square_area(side)
    return first + second


def report(radius: float) -> str:
    area = circle_area(radius)
    return f"circle of {radius}: {area:.2f}"
'''


def two_file_package(tmp_path: Path) -> Path:
    """A repository whose ``pkg/main.py`` imports ``pkg/geometry.py``."""
    root = tmp_path / "two"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "geometry.py").write_text(GEOMETRY)
    (root / "pkg" / "main.py").write_text(MAIN)
    return root


def test_context_ablation_sends_context_only_when_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = two_file_package(tmp_path)
    server = FakeMistral(check_models=False)
    server.start()
    try:
        code = main(
            [
                "eval",
                "--root",
                str(root),
                "--holes",
                "6",
                "--no-progress",
                "--output",
                str(tmp_path / "results.jsonl"),
                "--variant",
                f"ctx:model=ctx-model,endpoint={server.url},context=on",
                "--variant",
                f"noctx:model=noctx-model,endpoint={server.url},context=off",
            ]
        )
        capsys.readouterr()
        requests = server.fim_requests()
    finally:
        server.stop()
    assert code == 0
    prompts: dict[str, list[str]] = {"ctx-model": [], "noctx-model": []}
    for request in requests:
        assert request.errors == [] and request.body is not None
        prompts[request.body["model"]].append(request.body["prompt"])
    assert len(prompts["ctx-model"]) == len(prompts["noctx-model"]) == 6
    assert not any("+++++ " in prompt for prompt in prompts["noctx-model"])
    with_context = [p for p in prompts["ctx-model"] if "+++++ " in p]
    assert with_context
    # Real workspace-relative paths: the imported file's block, then the hole's own file.
    assert any("+++++ pkg/geometry.py\n" in p and "+++++ pkg/main.py\n" in p for p in with_context)


def test_the_dry_run_counts_the_context_a_run_would_send(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = two_file_package(tmp_path)
    tokens = {}
    for side in ("on", "off"):
        code = main(
            [
                "eval",
                "--root",
                str(root),
                "--holes",
                "6",
                "--dry-run",
                "--json",
                "--output",
                str(tmp_path / f"{side}.jsonl"),
                "--variant",
                f"v:model=codestral-2508,endpoint=http://127.0.0.1:9,context={side}",
            ]
        )
        assert code == 0
        tokens[side] = json.loads(capsys.readouterr().out)["promptTokens"]
    assert tokens["on"] > tokens["off"] > 0


def test_rejected_key_stops_the_variant(
    repo: Path, fake: FakeMistral, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.valid_keys = {"another-key"}
    output = tmp_path / "results.jsonl"
    code = main(
        [
            "eval",
            "--root",
            str(repo),
            "--holes",
            str(HOLES),
            "--no-progress",
            "--output",
            str(output),
            *variants(fake.url, "oracle"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "variant oracle stopped" in captured.err
    assert results_of(output) == []  # nothing recorded: a re-run with a good key does it all
    assert len(fake.fim_requests()) < HOLES


def test_bad_variant_is_one_clear_error(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "eval",
            "--root",
            str(repo),
            "--variant",
            "v:maxtokens=3",
            "--output",
            str(tmp_path / "r.jsonl"),
        ]
    )
    assert code == 2
    assert "unknown setting 'maxtokens'" in capsys.readouterr().err


def test_self_hosted_fakes(
    repo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CODESTRAL_API_KEY")
    oracle = Oracle(repo).text_source()
    ollama = FakeOllama()
    generic = FakeOpenAI(check_models=False)
    llamacpp = FakeOpenAI(flavor="llamacpp", check_models=False)
    servers = [ollama, generic, llamacpp]
    for server in servers:
        server.start()
        server.fim_text = oracle
    ollama.models.append({**ollama.models[0], "name": "oracle:latest", "model": "oracle:latest"})
    try:
        output = tmp_path / "results.jsonl"
        code, out = evaluate(
            repo,
            output,
            "--json",
            "--variant",
            f"ollama:backend=ollama,endpoint={ollama.url},model=oracle",
            "--variant",
            f"openai:backend=openai,endpoint={generic.url}/v1,model=oracle",
            "--variant",
            f"llamacpp:backend=openai,endpoint={llamacpp.url},model=oracle",
            capsys=capsys,
        )
    finally:
        for server in servers:
            server.stop()
    assert code == 0
    found = by_variant(json.loads(out))
    for name in ("ollama", "openai", "llamacpp"):
        assert found[name]["exact"]["mean"] == 1.0, name
        assert found[name]["errors"] == 0
        assert found[name]["cost"] == 0.0  # self-hosted: no per-token price
    for server in servers:
        assert server.fim_requests() and all(r.errors == [] for r in server.fim_requests())
    assert any(r.path == "/infill" for r in llamacpp.fim_requests())
    assert any(r["usageReported"] for r in results_of(output) if r["variant"] == "ollama")
