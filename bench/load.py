"""Full-size load run: 1,000 open documents and 10,000 completion requests in one session.

    .venv/bin/python bench/load.py [--documents 1000] [--lines 10] [--concurrency 50]

The real server over stdio (VS Code's capabilities) against the fake Mistral API; ``--lines``
rounds of one request per document, at most ``--concurrency`` requests in flight (the HTTP pool
has 8 connections: a queue much longer than ``requestTimeoutMs`` allows turns into timeouts
and the circuit breaker sheds the rest, which is the overload behaviour, not a load figure).

Prints the server's open file descriptors (``/proc/<pid>/fd``) and resident memory before and
after, the request count the fake saw and the wall time.  Exit status 1 if a request went
unanswered or wrong.  The CI-sized version with assertions is ``tests/e2e/test_load.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

from lspclient import BenchClient, server_env, vscode_capabilities  # noqa: E402

from codestral_ls.testing.fake_mistral import FakeMistral  # noqa: E402

TEXT = "compute()"


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def run(documents: int, lines: int, concurrency: int) -> int:
    with FakeMistral() as fake, tempfile.TemporaryDirectory() as state_dir:
        fake.fim_text = TEXT
        settings = {"debounceMs": 0}
        client = BenchClient(settings)
        await client.spawn([sys.executable, "-m", "codestral_ls"], server_env(fake.url, state_dir))
        try:
            await client.handshake(vscode_capabilities(), settings)
            uris = [f"file:///work/load/module_{i}.py" for i in range(documents)]
            for index, uri in enumerate(uris):
                client.open(uri, "".join(f"value_{index}_{n} = \n" for n in range(lines)))
            client.open("file:///work/load/warm.py", "warm = \n")
            assert await client.complete("file:///work/load/warm.py", 0, 7) == TEXT
            pid = client.pid
            fds_before, rss_before = open_fds(pid), client.rss_kb()
            sent_before = len(fake.fim_requests())
            began = time.perf_counter()
            answers: list[str | None] = []
            window = asyncio.Semaphore(max(1, concurrency))

            async def ask(uri: str, line: int, column: int) -> str | None:
                async with window:
                    return await client.complete(uri, line, column)

            trace: list[int] = []  # RSS (KiB) after each round: a leak keeps climbing
            for line in range(lines):
                column = len(f"value_X_{line} = ")
                answers.extend(
                    await asyncio.gather(
                        *(ask(uri, line, column + len(str(i)) - 1) for i, uri in enumerate(uris))
                    )
                )
                trace.append(client.rss_kb())
            elapsed = time.perf_counter() - began
            fds_after, rss_after = open_fds(pid), client.rss_kb()
            sent = len(fake.fim_requests()) - sent_before
            good = answers.count(TEXT)
            print(f"documents {documents}, requests {len(answers)}, answered right {good}")
            print(f"upstream requests {sent}, wall {elapsed:.1f} s")
            print(f"open fds {fds_before} -> {fds_after}")
            print(f"RSS {rss_before / 1024:.1f} MiB -> {rss_after / 1024:.1f} MiB")
            step = max(1, len(trace) // 10)
            print("RSS by round, MiB: " + " ".join(f"{kb / 1024:.1f}" for kb in trace[::step]))
            print(f"messages shown {len(client.shown)}")
            for message in client.shown:
                print(f"  {message[:160]}")
            return 0 if good == len(answers) else 1
        finally:
            await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=10, help="requests per document")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight")
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.documents, args.lines, args.concurrency)))


if __name__ == "__main__":
    main()
