"""What must not leave the machine: excluded files, and secrets inside the text that does.

Pure functions.  :func:`is_excluded` decides whether a document may be sent at all;
:func:`redact` replaces obvious secrets in text that is sent, and :func:`redact_around_cursor`
does so for the text on both sides of a cursor, redacting the cursor's line as a whole.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Iterable
from functools import lru_cache
from itertools import pairwise
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

#: Files never sent upstream.  Patterns without "/" match the file name, others the path.
DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".env",
    ".env.*",
    "*.env",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".npmrc",
    ".pypirc",
    ".netrc",
    "_netrc",
    ".git-credentials",
    ".htpasswd",
    "credentials",
    "credentials.json",
    "*.tfvars",
    "*secret*.json",
    "*secrets*.y*ml",
    "**/.aws/credentials",
    "**/.aws/config",
    "**/.docker/config.json",
    "**/.kube/config",
    "**/.ssh/*",
    "**/.gnupg/*",
)

REDACTED = "[REDACTED]"

#: PEM private keys, whole blocks.
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?-----END [A-Z0-9 ]*PRIVATE KEY"
    r"(?: BLOCK)?-----",
    re.DOTALL,
)
#: Cloud and service tokens with recognisable shapes, in one pass.
_TOKENS = re.compile(
    r"\b(?:"
    r"(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key ids
    r"|gh[pousr]_[A-Za-z0-9]{36,}"  # GitHub tokens
    r"|github_pat_[A-Za-z0-9_]{40,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"  # OpenAI / Anthropic style
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API keys
    r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|(?:sk|rk)_live_[A-Za-z0-9]{20,}"  # Stripe
    r"|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"  # JWTs
    r")\b"
)

#: ``password = "..."``, ``"apiKey": "..."``, ``SECRET_TOKEN='...'``: a name, a separator and a
#: quoted value, closed or not yet (the value then runs to the end of the line, as while it is
#: being typed).  Whether the name is about a secret is decided by its parts
#: (:func:`_secret_name`).  Matches start only where a name starts, which keeps the scan linear.
_ASSIGNMENT = re.compile(
    r"""(?<![A-Za-z0-9_.-])(?P<name>[A-Za-z_][A-Za-z0-9_.-]*["']?)"""
    r"""(?P<sep>\s*(?::=|=>|[:=])\s*)"""
    r"""(?P<quote>["'`])(?P<value>[^"'`\n]{4,}?)(?:(?P=quote)|(?=\r?\n?\Z))"""
)
#: Name parts that mark a secret on their own, and pairs of parts that do together.
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "pass",
        "secret",
        "secrets",
        "token",
        "tokens",
        "apikey",
        "auth",
        "credential",
        "credentials",
    }
)
_SECRET_PAIRS = frozenset({("api", "key"), ("access", "key"), ("private", "key")})
#: Last name parts that make the name describe a secret rather than hold one
#: (``password_field``, ``token_url``, ``secret_name``).
_DESCRIPTIVE = frozenset(
    {
        "name",
        "names",
        "type",
        "kind",
        "label",
        "hint",
        "url",
        "uri",
        "endpoint",
        "path",
        "file",
        "dir",
        "field",
        "prompt",
        "title",
        "message",
        "length",
        "format",
        "placeholder",
        "pattern",
        "header",
        "env",
    }
)
_NAME_PART = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
#: Credentials inside URLs: scheme://user:password@host.
_URL_CREDENTIALS = re.compile(
    r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s:/@]+:)(?P<value>[^\s@/]{3,})(?=@)"
)
#: A private key block cut by the cursor (or a budget): its start without an end, or its end
#: without a start.
_PRIVATE_KEY_HEAD = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*\Z", re.DOTALL)
_PRIVATE_KEY_TAIL = re.compile(r"\A.*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----", re.DOTALL)


def redact(text: str) -> str:
    """``text`` with obvious secrets replaced by ``[REDACTED]``.

    Line by line through a cache: between two keystrokes almost every line of a prompt is
    unchanged, so only the edited one is scanned again.
    """
    if not text:
        return text
    if "PRIVATE KEY" in text:
        text = _PRIVATE_KEY.sub(REDACTED, text)
        if "-----BEGIN" in text:
            text = _PRIVATE_KEY_HEAD.sub(REDACTED, text)
        if "-----END" in text:
            text = _PRIVATE_KEY_TAIL.sub(REDACTED, text)
    return "".join(map(_redact_line, text.splitlines(keepends=True)))


def redact_around_cursor(prefix: str, suffix: str) -> tuple[str, str]:
    """``prefix`` and ``suffix`` (the text before and after a cursor) redacted.

    The cursor's line is redacted as a whole before it is cut at the cursor, so a secret the
    cursor is in (being typed, or edited) goes entirely: its part after the cursor is dropped
    from the suffix and its part before replaced by ``[REDACTED]`` in the prefix.
    """
    head = max(prefix.rfind("\n"), prefix.rfind("\r")) + 1
    breaks = [i for i in (suffix.find("\n"), suffix.find("\r")) if i != -1]
    tail = min(breaks) if breaks else len(suffix)
    before, after = prefix[head:], suffix[:tail]
    above, below = prefix[:head], suffix[tail:]
    if "PRIVATE KEY" in prefix or "PRIVATE KEY" in suffix:
        # A key block around the cursor: the whole text decides.
        marker = "\x00cursor\x00"
        whole = redact(prefix + marker + suffix)
        if marker not in whole:  # the cursor is inside the block
            return redact(prefix), redact(suffix)
        cut = whole.index(marker)
        return whole[:cut], whole[cut + len(marker) :]
    spans = _secret_spans(before + after)
    cursor = len(before)
    before_parts: list[str] = []
    after_parts: list[str] = []
    position = 0
    line = before + after
    for start, end in spans:
        if end <= cursor:
            before_parts.append(line[position:start] + REDACTED)
        elif start >= cursor:
            if position < cursor:
                before_parts.append(line[position:cursor])
                position = cursor
            after_parts.append(line[position:start] + REDACTED)
        else:  # the cursor is inside the secret: all of it goes, shown once before the cursor
            before_parts.append(line[position:start] + REDACTED)
        position = end
    if position < cursor:
        before_parts.append(line[position:cursor])
        position = cursor
    after_parts.append(line[position:])
    return redact(above) + "".join(before_parts), "".join(after_parts) + redact(below)


@lru_cache(maxsize=4_096)
def _redact_line(line: str) -> str:
    spans = _secret_spans(line)
    if not spans:
        return line
    parts = []
    position = 0
    for start, end in spans:
        parts.append(line[position:start] + REDACTED)
        position = end
    parts.append(line[position:])
    return "".join(parts)


def _secret_spans(line: str) -> list[tuple[int, int]]:
    """Where the secrets of ``line`` are: sorted, non-overlapping ``(start, end)`` spans."""
    spans = [match.span() for match in _TOKENS.finditer(line)]
    for match in _ASSIGNMENT.finditer(line):
        value = match.group("value")
        if REDACTED in value or _looks_like_code(value) or not _secret_name(match.group("name")):
            continue
        spans.append(match.span("value"))
    if "://" in line:
        spans.extend(match.span("value") for match in _URL_CREDENTIALS.finditer(line))
    if not spans:
        return spans
    spans.sort()
    merged = [spans[0]]
    for start, end in spans[1:]:
        if start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _secret_name(name: str) -> bool:
    """Whether a name (``db_password``, ``apiKey``, ``"SECRET_TOKEN"``) is about a secret: one
    of its parts is a secret word (``author`` is not ``auth``), and its last part does not make
    it describe one (``password_field``)."""
    parts = [part.lower() for part in _NAME_PART.findall(name)]
    if not parts or parts[-1] in _DESCRIPTIVE:
        return False
    if any(part in _SECRET_WORDS for part in parts):
        return True
    return any(pair in _SECRET_PAIRS for pair in pairwise(parts))


def _looks_like_code(value: str) -> bool:
    """Placeholders and references are not secrets: ``"${PASSWORD}"``, ``"<token>"``..."""
    stripped = value.strip()
    return (
        stripped.startswith(("${", "{{", "<", "%(", "process.env", "os.environ"))
        or stripped.lower() in {"password", "changeme", "secret", "token", "xxxx", "****"}
        or " " in stripped
    )


def document_path(uri: str) -> str:
    """The path part of a document URI (``file:///a/b.py`` -> ``/a/b.py``)."""
    parts = urlsplit(uri)
    return unquote(parts.path) if parts.scheme else uri


@lru_cache(maxsize=64)
def _compiled(patterns: tuple[str, ...]) -> tuple[tuple[re.Pattern[str], bool], ...]:
    compiled = []
    for pattern in patterns:
        on_path = "/" in pattern
        regex = fnmatch.translate(pattern.replace("**/", "*/") if on_path else pattern)
        compiled.append((re.compile(regex), on_path))
    return tuple(compiled)


def is_excluded(uri: str, extra: Iterable[str] = ()) -> bool:
    """Whether the document at ``uri`` must never be sent (default and extra globs)."""
    path = document_path(uri)
    name = PurePosixPath(path).name
    for regex, on_path in _compiled((*DEFAULT_EXCLUDES, *extra)):
        subject = path if on_path else name
        if regex.match(subject) or (on_path and regex.match("/" + subject.lstrip("/"))):
            return True
    return False


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is this machine (127.0.0.0/8, ::1 or localhost)."""
    if not host:
        return False
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(
        ".localhost"
    ):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
