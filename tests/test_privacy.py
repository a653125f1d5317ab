"""Exclusion globs, secret redaction, loopback detection."""

from __future__ import annotations

import pytest

from codestral_ls.privacy import REDACTED, is_excluded, is_loopback, redact, redact_around_cursor


@pytest.mark.parametrize(
    "uri",
    [
        "file:///proj/.env",
        "file:///proj/.env.local",
        "file:///proj/prod.env",
        "file:///proj/certs/server.pem",
        "file:///proj/tls.key",
        "file:///home/u/.ssh/id_rsa",
        "file:///home/u/.ssh/id_ed25519.pub",
        "file:///home/u/.ssh/config",
        "file:///home/u/.npmrc",
        "file:///home/u/.netrc",
        "file:///home/u/.aws/credentials",
        "file:///proj/store.p12",
        "file:///proj/app-secrets.yaml",
        "file:///proj/my%20dir/.env",
    ],
)
def test_default_exclusions(uri: str) -> None:
    assert is_excluded(uri)


@pytest.mark.parametrize(
    "uri",
    [
        "file:///proj/main.py",
        "file:///proj/environment.py",
        "file:///proj/keyboard.ts",
        "file:///proj/README.md",
        "untitled:Untitled-1",
    ],
)
def test_ordinary_files_are_not_excluded(uri: str) -> None:
    assert not is_excluded(uri)


def test_extra_patterns() -> None:
    assert is_excluded("file:///proj/config/prod.yaml", ["**/config/prod.yaml"])
    assert is_excluded("file:///proj/notes.secret", ["*.secret"])
    assert not is_excluded("file:///proj/config/dev.yaml", ["**/config/prod.yaml"])


@pytest.mark.parametrize(
    "text, kept",
    [
        ('password = "hunter2hunter2"', 'password = "'),
        ("DB_PASSWORD='s3cr3t!!'", "DB_PASSWORD='"),
        ('"apiKey": "abcd1234efgh"', '"apiKey": "'),
        ("client_secret := `zzzzzzzz`", "client_secret := `"),
        ("aws = 'AKIAIOSFODNN7EXAMPLE'", "aws = '"),
        ("token = ghp_" + "a" * 36, "token = "),
        ("url = 'postgres://admin:pa55word@db:5432/x'", "url = 'postgres://admin:"),
    ],
)
def test_secrets_are_redacted(text: str, kept: str) -> None:
    result = redact(text)
    assert REDACTED in result
    assert result.startswith(kept)
    for secret in (
        "hunter2hunter2",
        "s3cr3t!!",
        "abcd1234efgh",
        "zzzzzzzz",
        "AKIAIOSFODNN7EXAMPLE",
        "a" * 36,
        "pa55word",
    ):
        assert secret not in result


def test_private_key_blocks_are_redacted_whole() -> None:
    text = (
        "x = 1\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAAAA\n"
        "-----END RSA PRIVATE KEY-----\ny = 2\n"
    )
    assert redact(text) == f"x = 1\n{REDACTED}\ny = 2\n"


@pytest.mark.parametrize(
    "text",
    [
        'password = os.environ["PASSWORD"]',
        'password = "${DB_PASSWORD}"',
        'token = "<your token here>"',
        "def check_password(password): return password == stored",
        "tokens = tokenize(text)",
        "",
    ],
)
def test_code_is_left_alone(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("127.5.5.5", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("api.mistral.ai", False),
        ("10.0.0.1", False),
        (None, False),
    ],
)
def test_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


# --- which assignments hold a secret: a table of true and false positives (issue 10, item 4) --


@pytest.mark.parametrize(
    "line, secret",
    [
        ('db_password = "hunter2secret"', "hunter2secret"),
        ('DB_PASS = "hunter2secret"', "hunter2secret"),
        ('dbPassword: "hunter2secret"', "hunter2secret"),
        ('"apiKey": "abcd1234efgh"', "abcd1234efgh"),
        ('API_KEY = "abcd1234efgh"', "abcd1234efgh"),
        ("aws_secret_access_key = 'wJalrXUtnFEMIK7MDENG'", "wJalrXUtnFEMIK7MDENG"),
        ("authToken = 'zzzzzzzzzz'", "zzzzzzzzzz"),
        ("auth_token => 'zzzzzzzzzz'", "zzzzzzzzzz"),
        ('auth = "Basic0123456"', "Basic0123456"),
        ("GITHUB_TOKEN=`q1w2e3r4t5`", "q1w2e3r4t5"),
        ('client_secret := "zzzzzzzz"', "zzzzzzzz"),
        ('private_key = "MIIEvQIBADANBg"', "MIIEvQIBADANBg"),
        ('passphrase = "correct-horse"', "correct-horse"),
        # still being typed: the quote is not closed yet
        ('db_password = "hunter2secret', "hunter2secret"),
        ("    token = 'abc123def456\n", "abc123def456"),
    ],
)
def test_assignments_of_secrets_are_redacted(line: str, secret: str) -> None:
    result = redact(line)
    assert secret not in result
    assert REDACTED in result


@pytest.mark.parametrize(
    "line",
    [
        'author = "Tolkien"',
        'authority = "https://login.example.com"',
        'tokenizer = "bert-base"',
        'secretary = "Jane Doe"',
        'passenger = "Arthur"',
        'password_field = "pwd_input"',
        'token_url = "https://auth.example.com/token"',
        'secret_name = "prod-db-creds"',
        'label = "Password"',
        'password = "${DB_PASSWORD}"',
        'api_key = os.environ["API_KEY"]',
        'token = "<your token here>"',
        'keyboard = "qwerty"',
        'print("password:", value)',
    ],
)
def test_ordinary_assignments_are_kept(line: str) -> None:
    assert redact(line) == line


@pytest.mark.parametrize(
    "prefix, suffix, sent_prefix, sent_suffix",
    [
        # the cursor inside a secret being typed: nothing of it leaves
        (
            'x = 1\ndb_password = "hunter2',
            "secret\ny = 2\n",
            'x = 1\ndb_password = "[REDACTED]',
            "\ny = 2\n",
        ),
        ('db_password = "hunter2', '"\n', 'db_password = "[REDACTED]', '"\n'),
        ('db_password = "', 'hunter2secret"\n', 'db_password = "', '[REDACTED]"\n'),
        # a secret before and after the cursor on the same line
        (
            'a = f(token="zzzzzzzzzz", ',
            'password="hunter2secret")',
            'a = f(token="[REDACTED]", ',
            'password="[REDACTED]")',
        ),
        # no secret: untouched
        ('author = "Tolk', 'ien"\n', 'author = "Tolk', 'ien"\n'),
    ],
)
def test_the_cursor_line_is_redacted_as_a_whole(
    prefix: str, suffix: str, sent_prefix: str, sent_suffix: str
) -> None:
    assert redact_around_cursor(prefix, suffix) == (sent_prefix, sent_suffix)


def test_a_private_key_cut_by_the_cursor_is_redacted_on_both_sides() -> None:
    before = "key = '''-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nQ2x"
    after = "yZ\nAbCdEf\n-----END RSA PRIVATE KEY-----'''\nnext_line = 1\n"
    prompt, suffix = redact_around_cursor(before, after)
    for material in ("MIIEpAIBAAKCAQEA", "Q2x", "yZ", "AbCdEf"):
        assert material not in prompt + suffix
    assert prompt.startswith("key = '''") and suffix.endswith("next_line = 1\n")
