"""Load, CI-sized: one session, 100 open documents, 1,000 completion requests.

Checks from outside the server process (no debug command): every request is answered, the
server still answers afterwards, and its open file descriptors (``/proc/<pid>/fd``) and
resident memory (``/proc/<pid>/status``) come back to about where they were (leak detectors,
not performance figures).  The full-size run (1,000 documents, 10,000 requests) is
``bench/load.py``; docs/RELIABILITY.md records measured numbers.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from codestral_ls.testing.fake_mistral import FakeMistral
from tests.e2e.conftest import Session, Starter

DOCUMENTS = 100
LINES = 10  # requests per document: one at the end of each line
#: Open descriptors the server may gain (the HTTP pool keeps up to a few connections).
FD_SLACK = 5
#: Resident memory growth allowed over 1,000 requests, bytes: only catches a real leak.
RSS_SLACK = 40 * 1024 * 1024
HANG = 60.0

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc/<pid> of the server"
)


def server_pid(session: Session) -> int:
    process = session.client._server
    assert process is not None
    return int(process.pid)


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def document(index: int) -> str:
    return "".join(f"value_{index}_{line} = \n" for line in range(LINES))


def line_end(text: str, line: int) -> int:
    """Offset of the end of ``line`` (before its newline)."""
    offset = -1
    for _ in range(line + 1):
        offset = text.index("\n", offset + 1)
    return offset


async def test_thousand_requests_over_hundred_documents_leave_no_leak(
    start: Starter, fake: FakeMistral
) -> None:
    session = await start({"debounceMs": 0})
    fake.fim_text = "compute()"
    uris = [f"file:///work/load/module_{i}.py" for i in range(DOCUMENTS)]
    for index, uri in enumerate(uris):
        session.open(uri, document(index))
    # warm up: the first request opens the pooled connection and imports what it needs
    warm = "file:///work/load/warm.py"
    session.open(warm, "warm = \n")
    assert await session.complete_at(warm, 7) == "compute()"
    pid = server_pid(session)
    fds_before, rss_before = open_fds(pid), rss_bytes(pid)
    sent_before = len(fake.fim_requests())

    answers: list[str | None] = []
    for line in range(LINES):
        # one request per document at a time (several for one document would supersede
        # each other), all documents at once
        batch = [session.complete_at(uri, line_end(session.texts[uri], line)) for uri in uris]
        answers.extend(await asyncio.wait_for(asyncio.gather(*batch), HANG))

    assert len(answers) == DOCUMENTS * LINES
    assert answers.count("compute()") == len(answers)  # (a) every request answered
    sent = fake.fim_requests()[sent_before:]
    assert len(sent) == DOCUMENTS * LINES  # distinct spots: every one went upstream
    assert all(request.errors == [] for request in sent)

    # (b) the server still answers
    session.replace(warm, 7, 7, "1 + ")
    assert await session.complete_at(warm, 11) == "compute()"

    # (c) descriptors and memory about where they were
    fds_after, rss_after = open_fds(pid), rss_bytes(pid)
    print(
        f"\n[load {session.name}] {len(answers)} requests, {DOCUMENTS} documents: "
        f"fds {fds_before} -> {fds_after}, "
        f"RSS {rss_before / 2**20:.1f} MiB -> {rss_after / 2**20:.1f} MiB"
    )
    assert fds_after <= fds_before + FD_SLACK
    assert rss_after - rss_before < RSS_SLACK
