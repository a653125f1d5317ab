"""Cost of cross-file context assembly, in-process (no LSP, no HTTP).

    .venv/bin/python bench/context.py [--files 2000] [--open 50] [--keys 300]

Builds a synthetic Python workspace of ``--files`` files on disk (packages of modules that
import each other, 60-400 lines each), opens ``--open`` of them as documents, and types in one
of them: each keystroke is one incremental edit (``Document.apply_edit`` plus the recent-edits
record, what ``didChange`` costs) and one full context assembly (typing code: the query
changes with every word and line) as the server does it for a
completion (recency order, the three lexical sources, ranking and trimming, redaction).
Reported: p50/p95/max per keystroke for 1, 10 and ``--open`` open files (flat is the target),
the didChange part alone, and the process's peak RSS.  With ``--index``: the embeddings index
built for the workspace against an in-process fake API (20 ms per call) while context is
gathered every 5 ms (the build must not block it), a search, a restart (0 calls), and the RSS
of a process with the server imported and the index loaded.  Figures go in
docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lsprotocol import types  # noqa: E402

from codestral_ls.documents import Cursor, Document  # noqa: E402
from codestral_ls.settings import ContextSettings, Settings  # noqa: E402
from codestral_ls.xcontext import ContextGatherer, Workspace, context_budget  # noqa: E402
from codestral_ls.xcontext.embeddings import (  # noqa: E402
    DIMENSION,
    EmbeddingIndex,
    SemanticRetriever,
    workspace_files,
)

#: What the benchmark types (a new word every few keys, a new line now and then, so the
#: query of the open-files source changes as it does when typing code).
TYPED = (
    "total_price(order.items, tax_rate) + shipping_fee(carrier)\n"
    "    refund = payment.currency * discount_rate - stock.level\n"
    "    warehouse_address = customer.address if ship else None\n"
)
WORDS = [
    "order", "invoice", "customer", "total", "price", "quantity", "tax", "discount", "ship",
    "carrier", "address", "cart", "item", "stock", "warehouse", "refund", "payment", "currency",
]  # fmt: skip


def module_text(rng: random.Random, package: int, index: int, lines: int) -> str:
    parts = [
        f"from pkg{package}.mod{(index + 1) % 20} import helper_{(index + 1) % 20}_0\n",
        f"from pkg{(package + 1) % 100}.mod{index} import helper_{index}_1\n\n",
    ]
    count = 0
    while count < lines:
        a, b, c = rng.sample(WORDS, 3)
        parts.append(
            f"def helper_{index}_{count // 8}({b}, {c}):\n"
            f'    """Compute the {a} of a {b}."""\n'
            f"    {a}_{b} = {b}.{c} * {count}\n"
            f"    if {a}_{b} > {c}.limit:\n"
            f"        return {a}_{b} - {c}.{a}\n"
            f"    return {a}_{b}\n\n\n"
        )
        count += 8
    return "".join(parts)


def make_workspace(root: Path, files: int, rng: random.Random) -> list[Path]:
    paths = []
    for number in range(files):
        package, index = divmod(number, 20)
        directory = root / f"pkg{package}"
        directory.mkdir(exist_ok=True)
        (directory / "__init__.py").touch()
        path = directory / f"mod{index}.py"
        path.write_text(module_text(rng, package, index, rng.randint(60, 400)))
        paths.append(path)
    return paths


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(files: int, open_count: int, keys: int, seed: int, index: bool = False) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="ctxbench-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        paths = make_workspace(root, files, rng)
        print(
            f"workspace: {files} files in {time.perf_counter() - started:.1f} s; load average "
            + " ".join(f"{x:.1f}" for x in os.getloadavg())
        )
        settings = Settings()
        budget = context_budget(settings)
        for count in sorted({1, 10, open_count}):
            gatherer = ContextGatherer(Workspace([root]))
            documents = [
                Document(p.as_uri(), p.read_text(), version=1, language_id="python")
                for p in rng.sample(paths, count)
            ]
            for document in documents:
                gatherer.touch(document.uri)
            current = documents[0]
            line = current.line_count // 2
            current.apply_edit(
                types.Range(
                    start=types.Position(line=line, character=0),
                    end=types.Position(line=line, character=0),
                ),
                "    value = order.total * customer_tax\n    result = compute_",
                version=2,
            )
            line += 1
            column = len(current.line(line))
            gather_times: list[float] = []
            gather_cpu: list[float] = []
            change_times: list[float] = []
            version = 3
            for key in range(keys + 20):
                char = TYPED[key % len(TYPED)]
                position = types.Position(line=line, character=column)
                t0 = time.perf_counter()
                current.apply_edit(types.Range(start=position, end=position), char, version)
                gatherer.edited(current.uri, line, char)
                t1 = time.perf_counter()
                c1 = time.thread_time()
                if char == "\n":
                    line, column = line + 1, -1
                ordered = gatherer.by_recency(documents)
                gathered = gatherer.gather(
                    current, Cursor(line, column + 1), ordered, settings, budget
                )
                t2 = time.perf_counter()
                c2 = time.thread_time()
                version += 1
                column += 1
                if key >= 20:  # warm-up: first windows of every open file
                    change_times.append(t1 - t0)
                    gather_times.append(t2 - t1)
                    gather_cpu.append(c2 - c1)
            ms = [t * 1000 for t in gather_times]
            print(
                f"open files {count:>3}: assembly p50 {percentile(ms, 0.5):.2f} ms, "
                f"p95 {percentile(ms, 0.95):.2f} ms, max {max(ms):.2f} ms "
                f"(CPU p95 {percentile(gather_cpu, 0.95) * 1000:.2f} ms); "
                f"didChange p95 {percentile(change_times, 0.95) * 1e6:.0f} us; "
                f"{len(gathered.files)} snippets, "
                f"{sum(len(f.text) for f in gathered.files)} chars"
            )
        if index:
            asyncio.run(index_figures(root, paths, rng))
    print("load average after: " + " ".join(f"{x:.1f}" for x in os.getloadavg()))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {rss:.0f} MB")


async def fake_embed(texts: list[str]) -> list[list[float]]:
    """Deterministic vectors of DIMENSION floats, after a 20 ms "network" wait."""
    await asyncio.sleep(0.02)
    vectors = []
    for text in texts:
        seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
        local = random.Random(seed)
        vectors.append([local.uniform(-1, 1) for _ in range(DIMENSION)])
    return vectors


async def index_figures(root: Path, paths: list[Path], rng: random.Random) -> None:
    """Build the embeddings index while completions' context is gathered every 5 ms: the
    gathering must never wait on the build (its time and the event loop's lag are reported)."""
    settings = Settings(context=ContextSettings(embeddings=True))
    gatherer = ContextGatherer(Workspace([root]))
    documents = [
        Document(p.as_uri(), p.read_text(), version=1, language_id="python")
        for p in rng.sample(paths, 10)
    ]
    current = documents[0]
    store = root.parent / (root.name + "-index")
    index = EmbeddingIndex(root, store, "codestral-embed")
    calls: list[int] = []

    async def counted(texts: list[str]) -> list[list[float]]:
        calls.append(len(texts))
        return await fake_embed(texts)

    gatherer.retriever = SemanticRetriever(
        index, counted, asyncio.ensure_future, gatherer.workspace.relative, lambda uri: True
    )
    done = asyncio.Event()
    gather_ms: list[float] = []
    lag_ms: list[float] = []

    async def keystrokes() -> None:
        loop = asyncio.get_running_loop()
        while not done.is_set():
            expected = loop.time() + 0.005
            await asyncio.sleep(0.005)
            lag_ms.append(max(0.0, loop.time() - expected) * 1000)
            t0 = time.perf_counter()
            gatherer.gather(current, Cursor(5, 0), documents, settings, 2250)
            gather_ms.append((time.perf_counter() - t0) * 1000)

    typing = asyncio.ensure_future(keystrokes())
    started = time.perf_counter()
    files = await asyncio.to_thread(workspace_files, root)
    report = await index.sync(files, counted, full=True)
    build_s = time.perf_counter() - started
    done.set()
    await typing
    print(
        f"index build: {report.files} files, {report.chunks} chunks in {report.requests} "
        f"requests (largest {max(calls)} inputs) in {build_s:.1f} s with a 20 ms fake API; "
        f"meanwhile context assembly p95 {percentile(gather_ms, 0.95):.2f} ms over "
        f"{len(gather_ms)} keystrokes, event-loop lag p95 {percentile(lag_ms, 0.95):.1f} ms"
    )
    [query] = await fake_embed(["order total"])
    t0 = time.perf_counter()
    hits = index.search(query, 8)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    hits = index.search(query, 8)
    print(
        f"search over {report.chunks} chunks (a worker thread): first {first * 1000:.0f} ms "
        f"(computes the sign bits of new vectors), then {(time.perf_counter() - t0) * 1000:.0f}"
        f" ms; {len(hits)} hits"
    )
    restart = EmbeddingIndex(root, store, "codestral-embed")
    calls.clear()
    restart.load()
    report = await restart.sync(files, counted, full=True)
    print(f"after a restart without changes: {len(calls)} embedding calls")
    output = subprocess.run(
        [sys.executable, __file__, "--rss-of", str(root), str(store)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(output)


def rss_of(root: Path, store: Path) -> None:
    """Print the RSS of a process that imported the server and loaded the index."""
    import codestral_ls.server  # noqa: F401  (the server's own footprint)

    index = EmbeddingIndex(root, store, "codestral-embed")
    index.load()
    with open("/proc/self/status", encoding="ascii") as status:
        rss = next(line for line in status if line.startswith("VmRSS"))
    kb = int(rss.split()[1])
    print(
        f"RSS with the server imported and the index loaded ({len(index.vectors)} vectors of "
        f"{DIMENSION} floats, {len(index.files)} files): {kb / 1024:.0f} MB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--open", type=int, default=50)
    parser.add_argument("--keys", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--index", action="store_true", help="also the embeddings index")
    parser.add_argument("--rss-of", nargs=2, metavar=("ROOT", "STORE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_of:
        rss_of(Path(args.rss_of[0]), Path(args.rss_of[1]))
        return 0
    run(args.files, args.open, args.keys, args.seed, args.index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
