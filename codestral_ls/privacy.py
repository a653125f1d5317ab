"""What must not leave the machine: excluded files, and secrets inside the text that does.

Pure functions.  :func:`is_excluded` decides whether a document may be sent at all;
:func:`redact` replaces obvious secrets in text that is sent (the cursor's place is unaffected
because prompt and suffix are redacted separately).
"""

from __future__ import annotations

import ipaddress
import re
import sys
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import unquote, urlsplit

import pathspec

#: Files never sent upstream (gitignore-style globs, see :func:`is_excluded`).
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

#: ``password = "..."``, ``"apiKey": "..."``, ``SECRET_TOKEN='...'``: the quoted value goes.
#: The match starts at the keyword (what precedes it in the name needs no matching), which keeps
#: the scan linear.
_ASSIGNMENT = re.compile(
    r"""(?P<name>(?:passw(?:or)?d|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|"""
    r"""private[_-]?key|auth)[A-Za-z0-9_.-]*["']?)"""
    r"""(?P<sep>\s*(?::=|=>|[:=])\s*)"""
    r"""(?P<quote>["'`])(?P<value>[^"'`\n]{4,})(?P=quote)""",
    re.IGNORECASE,
)
#: Credentials inside URLs: scheme://user:password@host.
_URL_CREDENTIALS = re.compile(
    r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s:/@]+:)(?P<value>[^\s@/]{3,})(?=@)"
)


def redact(text: str) -> str:
    """``text`` with obvious secrets replaced by ``[REDACTED]``.

    Line by line through a cache: between two keystrokes almost every line of a prompt is
    unchanged, so only the edited one is scanned again.
    """
    if not text:
        return text
    if "PRIVATE KEY" in text:
        text = _PRIVATE_KEY.sub(REDACTED, text)
    return "".join(map(_redact_line, text.splitlines(keepends=True)))


@lru_cache(maxsize=4_096)
def _redact_line(line: str) -> str:
    line = _TOKENS.sub(REDACTED, line)
    line = _ASSIGNMENT.sub(_redact_assignment, line)
    if "://" in line:
        line = _URL_CREDENTIALS.sub(lambda m: m.group("head") + REDACTED, line)
    return line


def _redact_assignment(match: re.Match[str]) -> str:
    value = match.group("value")
    if value == REDACTED or _looks_like_code(value):
        return match.group(0)
    quote = match.group("quote")
    return f"{match.group('name')}{match.group('sep')}{quote}{REDACTED}{quote}"


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


#: Whether file names differ only by case on this platform (Windows and macOS by default).
CASE_INSENSITIVE = sys.platform in ("win32", "darwin")


@lru_cache(maxsize=64)
def _spec(patterns: tuple[str, ...], ignore_case: bool) -> pathspec.PathSpec:
    lines = [pattern.lower() for pattern in patterns] if ignore_case else list(patterns)
    return pathspec.GitIgnoreSpec.from_lines(lines)


@lru_cache(maxsize=1024)
def _excluded(path: str, patterns: tuple[str, ...], ignore_case: bool) -> bool:
    subject = path.lstrip("/")
    if ignore_case:
        subject = subject.lower()
    return bool(subject) and _spec(patterns, ignore_case).match_file(subject)


def is_excluded(uri: str, extra: Iterable[str] = (), *, ignore_case: bool | None = None) -> bool:
    """Whether the document at ``uri`` must never be sent (default and extra globs).

    The globs follow gitignore's rules (through ``pathspec``): a pattern without "/" matches
    the file name (or a directory name) at any depth, ``**`` spans directories, a pattern with
    a "/" in it is matched from the start of the path; a matched directory excludes everything
    below it.  Case is ignored where the platform's file names ignore it (``ignore_case``,
    default :data:`CASE_INSENSITIVE`).
    """
    folded = CASE_INSENSITIVE if ignore_case is None else ignore_case
    return _excluded(document_path(uri), (*DEFAULT_EXCLUDES, *extra), folded)


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
