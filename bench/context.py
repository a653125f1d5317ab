"""Cost of cross-file context assembly, in-process (no LSP, no HTTP).

    .venv/bin/python bench/context.py [--files 2000] [--open 50] [--keys 300]

Builds a synthetic Python workspace of ``--files`` files on disk (packages of modules that
import each other, 60-400 lines each), opens ``--open`` of them as documents, and types in one
of them: each keystroke is one incremental edit (``Document.apply_edit`` plus the recent-edits
record, what ``didChange`` costs) and one full context assembly (typing code: the query
changes with every word and line) as the server does it for a
completion (recency order, the three lexical sources, ranking and trimming, redaction).
Reported: p50/p95/max per keystroke for 1, 10 and ``--open`` open files (flat is the target),
the didChange part alone, and the process's peak RSS.  Figures go in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lsprotocol import types  # noqa: E402

from codestral_ls.documents import Cursor, Document  # noqa: E402
from codestral_ls.settings import Settings  # noqa: E402
from codestral_ls.xcontext import ContextGatherer, Workspace, context_budget  # noqa: E402

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


def run(files: int, open_count: int, keys: int, seed: int) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="ctxbench-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        paths = make_workspace(root, files, rng)
        print(f"workspace: {files} files in {time.perf_counter() - started:.1f} s")
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
            change_times: list[float] = []
            version = 3
            for key in range(keys + 20):
                char = TYPED[key % len(TYPED)]
                position = types.Position(line=line, character=column)
                t0 = time.perf_counter()
                current.apply_edit(types.Range(start=position, end=position), char, version)
                gatherer.edited(current.uri, line, char)
                t1 = time.perf_counter()
                if char == "\n":
                    line, column = line + 1, -1
                ordered = gatherer.by_recency(documents)
                gathered = gatherer.gather(
                    current, Cursor(line, column + 1), ordered, settings, budget
                )
                t2 = time.perf_counter()
                version += 1
                column += 1
                if key >= 20:  # warm-up: first windows of every open file
                    change_times.append(t1 - t0)
                    gather_times.append(t2 - t1)
            ms = [t * 1000 for t in gather_times]
            print(
                f"open files {count:>3}: assembly p50 {percentile(ms, 0.5):.2f} ms, "
                f"p95 {percentile(ms, 0.95):.2f} ms, max {max(ms):.2f} ms; "
                f"didChange p95 {percentile(change_times, 0.95) * 1e6:.0f} us; "
                f"{len(gathered.files)} snippets, "
                f"{sum(len(f.text) for f in gathered.files)} chars"
            )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {rss:.0f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--open", type=int, default=50)
    parser.add_argument("--keys", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    run(args.files, args.open, args.keys, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
