"""The shipped testing kit (codestral_ls.testing, docs/testing.md): bundled schemas, rules and
faults, the request log, record → replay, and the ``fake-api``/``record`` commands."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from codestral_ls.testing.command import request_logger
from codestral_ls.testing.fake_backends import FakeOllama, FakeOpenAI
from codestral_ls.testing.fake_mistral import SCHEMA_PATH, FakeMistral
from codestral_ls.testing.record import RecordingProxy, Replay
from codestral_ls.testing.rules import Rule, RuleError, RuleSet, load_rules

ROOT = Path(__file__).resolve().parent.parent
FIM = "/v1/fim/completions"
CHAT = "/v1/chat/completions"
KEY = "sk-recording-7f3a9b1c2d"
AUTH = {"Authorization": f"Bearer {KEY}"}


def fim(prompt: str = "def f():\n    ", suffix: str = "", **extra: Any) -> dict[str, Any]:
    return {"model": "codestral-latest", "prompt": prompt, "suffix": suffix, **extra}


def content(response: httpx.Response) -> str:
    return str(response.json()["choices"][0]["message"]["content"])


@pytest.fixture
def fake() -> Iterator[FakeMistral]:
    with FakeMistral() as server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=20) as client:
        yield client


# ------------------------------------------------------------------------------------------
# schemas


def test_bundled_schemas_agree_with_the_tests_copy() -> None:
    tests_copy = ROOT / "tests" / "schemas" / "mistral.json"
    assert SCHEMA_PATH.is_file() and SCHEMA_PATH.parent.parent.name == "testing"
    assert json.loads(SCHEMA_PATH.read_text()) == json.loads(tests_copy.read_text())


def test_schemas_are_package_data() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"codestral_ls.testing" = ["schemas/*.json"]' in pyproject


def test_unknown_field_gets_422(fake: FakeMistral, http: httpx.Client) -> None:
    response = http.post(fake.url + FIM, json=fim(temperature=0.1, bogus=1), headers=AUTH)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [d["loc"] for d in detail] == [["body", "bogus"]]
    assert detail[0]["type"] == "extra_forbidden"
    assert fake.requests[0].errors == ["body.bogus: Extra inputs are not permitted"]
    assert http.post(fake.url + FIM, json=fim(), headers=AUTH).status_code == 200


# ------------------------------------------------------------------------------------------
# rules


def test_rules_match_prompt_suffix_regex_and_endpoint(
    fake: FakeMistral, http: httpx.Client
) -> None:
    fake.rules = RuleSet(
        [
            Rule(prompt="def add(", text="return a + b"),
            Rule(suffix_regex=r"^\s*# end", text="pass  # suffix"),
            Rule(endpoint="chat", prompt="explain", text="It adds."),
        ],
        default="# default",
    )
    post = lambda body, path=FIM: http.post(fake.url + path, json=body, headers=AUTH)  # noqa: E731
    assert content(post(fim("def add(a, b):\n    "))) == "return a + b"
    assert content(post(fim("x = ", "\n# end"))) == "pass  # suffix"
    assert content(post(fim("y = "))) == "# default"
    chat = {"model": "codestral-latest", "messages": [{"role": "user", "content": "explain"}]}
    assert content(post(chat, CHAT)) == "It adds."
    # a chat rule does not answer FIM requests
    assert content(post(fim("explain = "))) == "# default"


def test_rule_times_finish_reason_and_stream(fake: FakeMistral, http: httpx.Client) -> None:
    fake.rules.add(Rule(prompt="cut", text="a b c", finish_reason="length", times=1))
    first = http.post(fake.url + FIM, json=fim("cut"), headers=AUTH).json()
    assert first["choices"][0]["finish_reason"] == "length"
    assert first["choices"][0]["message"]["content"] == "a b c"
    again = http.post(fake.url + FIM, json=fim("cut"), headers=AUTH)
    assert content(again) == "pass"  # the rule answered once
    fake.rules.add(Rule(prompt="stream", text="one two"))
    streamed = http.post(fake.url + FIM, json=fim("stream", stream=True), headers=AUTH)
    events = [line[6:] for line in streamed.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1])
    assert text == "one two"


def test_rules_file_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "rules.toml"
    toml.write_text(
        'default = "pass"\n[[rule]]\nprompt = "def add"\ntext = "return a + b"\n'
        '[[rule]]\nsuffix_regex = "^$"\nfault = 429\nretry_after = 2\ntimes = 1\n'
    )
    rules = load_rules(toml)
    assert rules.default == "pass"
    assert [(r.prompt, r.text, r.fault, r.retry_after) for r in rules.rules] == [
        ("def add", "return a + b", None, 1.0),
        (None, None, "429", 2.0),
    ]
    as_json = tmp_path / "rules.json"
    as_json.write_text(json.dumps([{"prompt": "x", "text": "y", "latency_ms": 5}]))
    assert load_rules(as_json).rules[0].latency_ms == 5.0


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"promt": "x"}, "unknown key(s) promt"),
        ({"fault": "explode"}, "unknown fault 'explode'"),
        ({"latency_ms": "fast"}, "latency_ms must be a number"),
        ({"prompt_regex": "("}, "bad regular expression"),
        ({"finish_reason": "done"}, "finish_reason must be one of"),
    ],
)
def test_bad_rules_are_clear_errors(tmp_path: Path, rule: dict[str, Any], message: str) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"rules": [rule]}))
    with pytest.raises(RuleError, match="rule 1: ") as error:
        load_rules(path)
    assert message in str(error.value)


def test_rules_apply_to_the_other_flavors(http: httpx.Client) -> None:
    rules = RuleSet([Rule(prompt="def add", text="return a + b")], default="# none")
    with FakeOllama() as ollama:
        ollama.rules = rules
        ollama.fim_text = rules.text_source()
        body = {"model": "codestral:22b", "prompt": "def add(a, b):", "stream": False}
        answer = http.post(ollama.url + "/api/generate", json=body).json()
        assert answer["response"] == "return a + b"
    with FakeOpenAI(flavor="llamacpp") as llama:
        llama.rules = RuleSet([Rule(suffix="tail", fault="503")])
        body = {"input_prefix": "x", "input_suffix": "tail"}
        assert http.post(llama.url + "/infill", json=body).status_code == 503


# ------------------------------------------------------------------------------------------
# faults


def test_fault_429_has_retry_after(fake: FakeMistral, http: httpx.Client) -> None:
    fake.rules.add(Rule(fault="429", retry_after=3))
    response = http.post(fake.url + FIM, json=fim(), headers=AUTH)
    assert response.status_code == 429 and response.headers["retry-after"] == "3"
    assert response.json()["type"] == "rate_limited"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_fault_5xx(fake: FakeMistral, http: httpx.Client, status: int) -> None:
    fake.rules.add(Rule(fault=str(status), times=1))
    assert http.post(fake.url + FIM, json=fim(), headers=AUTH).status_code == status
    assert http.post(fake.url + FIM, json=fim(), headers=AUTH).status_code == 200


def test_fault_hang_answers_nothing(fake: FakeMistral) -> None:
    fake.rules.add(Rule(prompt="hang", fault="hang"))
    with httpx.Client(timeout=httpx.Timeout(20, read=0.5)) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.post(fake.url + FIM, json=fim("hang"), headers=AUTH)
        # the fake is still fine for others
        assert content(client.post(fake.url + FIM, json=fim(), headers=AUTH)) == "pass"


def test_fault_reset(fake: FakeMistral, http: httpx.Client) -> None:
    fake.rules.add(Rule(fault="reset"))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        http.post(fake.url + FIM, json=fim(), headers=AUTH)


def test_fault_garbage(fake: FakeMistral, http: httpx.Client) -> None:
    fake.rules.add(Rule(fault="garbage"))
    plain = http.post(fake.url + FIM, json=fim(), headers=AUTH)
    assert plain.status_code == 200
    with pytest.raises(ValueError):
        plain.json()
    streamed = http.post(fake.url + FIM, json=fim(stream=True), headers=AUTH)
    assert streamed.status_code == 200 and "data: <html>" in streamed.text


def test_fault_slow_stream_spaces_the_tokens(fake: FakeMistral, http: httpx.Client) -> None:
    fake.rules.add(Rule(fault="slow_stream", token_delay_ms=150, text="a b"))
    captured: list[list[tuple[float, bytes]]] = []
    original = fake._send_stream

    def spy(handler: Any, content_type: str, events: list[tuple[float, bytes]]) -> None:
        captured.append(events)
        original(handler, content_type, events)

    fake._send_stream = spy  # type: ignore[method-assign]
    streamed = http.post(fake.url + FIM, json=fim(stream=True), headers=AUTH)
    assert streamed.status_code == 200 and "[DONE]" in streamed.text
    delays = [delay for delay, _ in captured[0]]
    assert delays[1:3] == [0.15, 0.15]  # between the pieces, not timed: what the fake waits


def test_fault_stream_reset_after(fake: FakeMistral, http: httpx.Client) -> None:
    fake.rules.add(Rule(fault="reset_after:1", text="a b c d"))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        http.post(fake.url + FIM, json=fim(stream=True), headers=AUTH)


def test_rule_latency_waits_before_answering(fake: FakeMistral, http: httpx.Client) -> None:
    fake.rules.add(Rule(latency_ms=60_000, text="late"))  # far beyond the client timeout
    timeout = httpx.Timeout(20, read=0.3)
    with httpx.Client(timeout=timeout) as client, pytest.raises(httpx.ReadTimeout):
        client.post(fake.url + FIM, json=fim(), headers=AUTH)
    fake.rules.clear()
    assert content(http.post(fake.url + FIM, json=fim(), headers=AUTH)) == "pass"


# ------------------------------------------------------------------------------------------
# request log


def test_request_log_redacts_the_key(fake: FakeMistral, http: httpx.Client, tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    with path.open("a", encoding="utf-8") as log:
        fake.request_log = request_logger(log)
        http.post(fake.url + FIM, json=fim("log me"), headers=AUTH)
        http.get(fake.url + "/v1/models", headers=AUTH)
    text = path.read_text()
    assert KEY not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert [(line["method"], line["path"]) for line in lines] == [
        ("POST", FIM),
        ("GET", "/v1/models"),
    ]
    assert lines[0]["headers"]["authorization"] == "[REDACTED]"
    assert lines[0]["body"]["prompt"] == "log me"


# ------------------------------------------------------------------------------------------
# record → replay


def test_record_then_replay_round_trip(tmp_path: Path, http: httpx.Client) -> None:
    session = tmp_path / "session.jsonl"
    secret_line = 'password = "hunter2-very-secret"\n'
    with FakeMistral(valid_keys={KEY}) as upstream:
        upstream.rules.add(Rule(prompt="def add", text="return a + b"))
        upstream.rules.add(Rule(prompt="stream me", text="one two three"))
        with RecordingProxy(upstream.url, session) as proxy:
            plain = http.post(proxy.url + FIM, json=fim("def add(a, b):\n    "), headers=AUTH)
            streamed = http.post(
                proxy.url + FIM, json=fim(secret_line + "stream me", stream=True), headers=AUTH
            )
            models = http.get(proxy.url + "/v1/models", headers=AUTH)
        # the proxy passes answers through as they are, the key included
        assert upstream.requests[0].headers["authorization"] == f"Bearer {KEY}"
        assert upstream.requests[1].body is not None
        assert "hunter2" in upstream.requests[1].body["prompt"]
    assert content(plain) == "return a + b"
    recorded = session.read_text()
    assert KEY not in recorded and "hunter2" not in recorded
    assert len(recorded.splitlines()) == 3

    replay = Replay.load(session, "strict")
    with FakeMistral() as offline:
        offline.replay = replay
        again = http.post(offline.url + FIM, json=fim("def add(a, b):\n    "), headers=AUTH)
        assert again.status_code == 200 and again.json() == plain.json()
        again_streamed = http.post(
            offline.url + FIM, json=fim(secret_line + "stream me", stream=True), headers=AUTH
        )
        assert again_streamed.text == streamed.text
        assert http.get(offline.url + "/v1/models", headers=AUTH).json() == models.json()
        # strict: an unrecorded request is refused, saying why
        miss = http.post(offline.url + FIM, json=fim("def sub(a, b):\n    "), headers=AUTH)
        assert miss.status_code == 400 and miss.json()["type"] == "replay_mismatch"
        # nearest: the most similar recording answers
        offline.replay = Replay.load(session, "nearest")
        near = http.post(offline.url + FIM, json=fim("def add(a, c):\n    "), headers=AUTH)
        assert content(near) == "return a + b"
        # validation still comes first
        bad = http.post(offline.url + FIM, json=fim(bogus=True), headers=AUTH)
        assert bad.status_code == 422


# ------------------------------------------------------------------------------------------
# the commands


def _start(args: list[str], **kwargs: Any) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "codestral_ls", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("PORT "), (first, process.stderr.read() if process.stderr else "")
    return process, int(first.split()[1])


def _stop(process: subprocess.Popen[str]) -> None:
    stdin: IO[str] | None = process.stdin
    if stdin is not None:
        stdin.close()  # closing stdin stops it
    try:
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_fake_api_command(tmp_path: Path, http: httpx.Client) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nprompt = "def add"\ntext = "return a + b"\n')
    log = tmp_path / "requests.jsonl"
    process, port = _start(["fake-api", "--port", "0", "--rules", str(rules), "--log", str(log)])
    try:
        url = f"http://127.0.0.1:{port}"
        assert content(http.post(url + FIM, json=fim("def add("), headers=AUTH)) == "return a + b"
        assert content(http.post(url + FIM, json=fim("x"), headers=AUTH)) == "pass"
        assert http.post(url + FIM, json=fim(extra=1), headers=AUTH).status_code == 422
        assert http.post(url + FIM, json=fim()).status_code == 401
        assert len(http.get(url + "/v1/models", headers=AUTH).json()["data"]) >= 1
    finally:
        _stop(process)
    text = log.read_text()
    assert len(text.splitlines()) == 5 and KEY not in text


@pytest.mark.parametrize(
    ("flavor", "path", "body"),
    [
        ("ollama", "/api/generate", {"model": "codestral:22b", "prompt": "x", "stream": False}),
        ("openai", "/v1/completions", {"model": "codestral-22b-v0.1", "prompt": "x"}),
        ("llamacpp", "/infill", {"input_prefix": "x", "input_suffix": ""}),
    ],
)
def test_fake_api_flavors(http: httpx.Client, flavor: str, path: str, body: dict[str, Any]) -> None:
    process, port = _start(["fake-api", "--flavor", flavor, "--text", "hello"])
    try:
        response = http.post(f"http://127.0.0.1:{port}{path}", json=body)
        assert response.status_code == 200
        assert "hello" in response.text
    finally:
        _stop(process)


def test_fake_api_bad_rules_file_is_a_clear_error(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("[[rule]]\nfault = 'explode'\n")
    result = subprocess.run(
        [sys.executable, "-m", "codestral_ls", "fake-api", "--rules", str(rules)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert "rule 1: unknown fault 'explode'" in result.stderr


def test_record_and_replay_commands(tmp_path: Path, http: httpx.Client) -> None:
    session = tmp_path / "session.jsonl"
    with FakeMistral(valid_keys={KEY}) as upstream:
        upstream.fim_text = "recorded answer"
        env = {
            "PATH": "/usr/bin:/bin",
            "CODESTRAL_API_KEY": KEY,
            "CODESTRAL_ENDPOINT": upstream.url,
        }
        recorder, port = _start(["record", "--to", str(session)], env=env)
        try:
            # the client sends no key: the proxy adds the one from the environment
            answer = http.post(f"http://127.0.0.1:{port}{FIM}", json=fim())
            assert content(answer) == "recorded answer"
        finally:
            _stop(recorder)
    assert KEY not in session.read_text()
    replayer, port = _start(["fake-api", "--replay", str(session), "--mismatch", "strict"])
    try:
        url = f"http://127.0.0.1:{port}{FIM}"
        assert content(http.post(url, json=fim(), headers=AUTH)) == "recorded answer"
        assert http.post(url, json=fim("other"), headers=AUTH).status_code == 400
    finally:
        _stop(replayer)
