"""Secrets and privacy through the protocol: excluded files, redaction, plain HTTP, the key."""

from __future__ import annotations

from pathlib import Path

from codestral_ls.testing.fake_mistral import FakeMistral
from tests.e2e.conftest import TEST_KEY, Starter

URI = "file:///work/app.py"


async def test_excluded_files_never_leave_the_machine(start: Starter, fake: FakeMistral) -> None:
    session = await start({"exclude": ["**/config/prod.yaml"]})
    for uri in ("file:///work/.env", "file:///work/certs/tls.pem", "file:///work/config/prod.yaml"):
        session.open(uri, "SECRET=")
        assert await session.complete_at(uri, 7) is None
    assert fake.fim_requests() == []
    session.open(URI, "x = ")
    assert await session.complete_at(URI, 4) is not None
    assert len(fake.fim_requests()) == 1


async def test_secrets_are_redacted_from_prompt_and_suffix(
    start: Starter, fake: FakeMistral
) -> None:
    source = 'DB_PASSWORD = "hunter2hunter2"\naws = "AKIAIOSFODNN7EXAMPLE"\nx = \nkey = "sk-live"\n'
    session = await start()
    session.open(URI, source)
    offset = source.index("x = ") + 4
    await session.complete_at(URI, offset)
    [request] = fake.fim_requests()
    assert request.body is not None
    assert "hunter2hunter2" not in request.body["prompt"]
    assert "AKIAIOSFODNN7EXAMPLE" not in request.body["prompt"]
    assert request.body["prompt"].endswith("x = ")
    assert request.body["suffix"].startswith("\nkey")


async def test_redaction_can_be_turned_off(start: Starter, fake: FakeMistral) -> None:
    session = await start({"redactSecrets": False})
    session.open(URI, 'password = "hunter2hunter2"\nx = ')
    await session.complete_at(URI, len(session.texts[URI]))
    [request] = fake.fim_requests()
    assert request.body is not None and "hunter2hunter2" in request.body["prompt"]


async def test_plain_http_to_another_machine_is_refused(start: Starter, fake: FakeMistral) -> None:
    session = await start({"endpoint": "http://192.0.2.10:8080"})
    session.open(URI, "x = ")
    assert await session.complete_at(URI, 4) is None
    assert await session.complete_at(URI, 4) is None
    [message] = session.messages
    assert "plain HTTP" in message and "allowInsecureHttp" in message
    assert fake.requests == [] or all(r.path == "/" for r in fake.requests)


async def test_the_key_never_appears_in_logs_or_messages(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    settings_key = "settings-key-0c9e1f"
    log_file = tmp_path / "server.log"
    session = await start(
        {"apiKey": settings_key, "maxTokens": "bad"},
        args=["--log-level", "DEBUG", "--log-file", str(log_file)],
        configuration={"apiKey": settings_key},
    )
    session.open(URI, "x = ")
    await session.complete_at(URI, 4)
    fake.fail_next(401, {"message": f"Unauthorized key {settings_key}"})
    session.replace(URI, 4, 4, "1")
    await session.complete_at(URI, 5)
    [request, _] = fake.fim_requests()
    assert request.headers["authorization"] == f"Bearer {settings_key}"
    logged = log_file.read_text(encoding="utf-8")
    assert "DEBUG" in logged  # the log really ran at debug level
    everything = (
        logged
        + "\n".join(session.messages)
        + "\n".join(m.message for m in session.client.log_messages)
    )
    assert settings_key not in everything
    assert TEST_KEY not in everything
