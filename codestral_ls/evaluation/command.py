"""``codestral-ls eval``: the command line around holes, variants, the runner and the report."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from ..settings import Environment
from .holes import KINDS, list_source_files, read_sources, sample_holes
from .prices import PRICES_DATE, PriceTable, load_prices
from .report import render_json, render_markdown, summarize, write_chart
from .runner import Plan, VariantSetup, estimate, prepare, run
from .store import ResultsFile, results_of
from .variants import (
    Variant,
    VariantError,
    check_unique,
    load_variants_file,
    parse_variant,
)

__all__ = ["add_parser", "main"]

EXTRA_HINT = "install the eval extra: pip install 'codestral-ls[eval]'"


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "eval",
        help="compare models and settings on holes cut from your own code",
        description=(
            "Cut holes in this repository's source files, ask every variant to fill them "
            "through the editor's completion path, and rank the variants (docs/eval.md)."
        ),
    )
    parser.add_argument("paths", nargs="*", help="restrict holes to these files or folders")
    parser.add_argument("--root", default=".", help="the repository (default: .)")
    parser.add_argument("--holes", type=int, default=100, help="number of holes (default 100)")
    parser.add_argument(
        "--kinds", default=",".join(KINDS), help=f"hole kinds, of {','.join(KINDS)} (default: all)"
    )
    parser.add_argument("--languages", default="", help="language ids, e.g. python,typescript")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE,...",
        help="a variant, e.g. fast:model=codestral-2508,maxTokens=64 (repeat for more)",
    )
    parser.add_argument("--variants", metavar="FILE", help="variants from a TOML or JSON file")
    parser.add_argument(
        "--settings", default="{}", help="base settings as JSON (the variants override them)"
    )
    parser.add_argument("--concurrency", type=int, default=2, help="requests at once (default 2)")
    parser.add_argument(
        "--output",
        default="codestral-eval/results.jsonl",
        help="results file; re-running with it resumes (default codestral-eval/results.jsonl)",
    )
    parser.add_argument("--report", help="Markdown report (default: next to --output)")
    parser.add_argument("--chart", help="chart, .svg or .png (default: next to --output)")
    parser.add_argument("--prices", metavar="FILE", help="prices overriding the built-in table")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--dry-run", action="store_true", help="count requests, tokens and cost; send nothing"
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (it goes to stderr)"
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("A.jsonl", "B.jsonl"),
        help="put two results files side by side (on the holes they share); runs nothing",
    )


def _fail(message: str) -> int:
    print(f"codestral-ls eval: {message}", file=sys.stderr)
    return 2


def _variants(args: argparse.Namespace) -> list[Variant]:
    variants: list[Variant] = []
    if args.variants:
        variants.extend(load_variants_file(Path(args.variants)))
    variants.extend(parse_variant(spec) for spec in args.variant)
    if not variants:
        variants.append(Variant("default", {}))
    check_unique(variants)
    return variants


def _paths(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    output = Path(args.output)
    report = Path(args.report) if args.report else output.with_name(output.stem + ".md")
    chart = Path(args.chart) if args.chart else output.with_name(output.stem + ".svg")
    return output, report, chart


def main(args: argparse.Namespace, env: Environment, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        import rapidfuzz  # noqa: F401
    except ImportError:
        return _fail(f"edit similarity needs rapidfuzz; {EXTRA_HINT}")
    try:
        prices = load_prices(Path(args.prices) if args.prices else None)
    except (OSError, ValueError) as error:
        return _fail(f"--prices: {error}")
    if args.compare:
        return compare([Path(p) for p in args.compare], prices, args, out)
    try:
        base = json.loads(args.settings)
        if not isinstance(base, Mapping):
            raise ValueError("expected an object")
        base = dict(base.get("codestral", base))
    except ValueError as error:
        return _fail(f"--settings is not a JSON object ({error})")
    if args.holes < 1 or args.concurrency < 1:
        return _fail("--holes and --concurrency must be at least 1")
    try:
        variants = _variants(args)
        setups = [prepare(variant, base, env) for variant in variants]
    except VariantError as error:
        return _fail(str(error))

    root = Path(args.root).resolve()
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    languages = [k.strip() for k in args.languages.split(",") if k.strip()]
    exclude = sorted({glob for setup in setups for glob in setup.settings.exclude})
    sources = read_sources(
        root, list_source_files(root, args.paths), languages=languages, exclude=exclude
    )
    try:
        holes = sample_holes(sources, args.holes, kinds, args.seed)
    except ValueError as error:
        return _fail(str(error))
    if not holes:
        return _fail(f"no source files to cut holes from under {root}")
    plan = Plan(
        sources={s.path: s for s in sources},
        holes=holes,
        setups=setups,
        concurrency=args.concurrency,
        root=root,
    )
    output, report_path, chart_path = _paths(args)
    store = ResultsFile(output)
    jobs = plan.pending(store)
    notes: list[str] = []

    if args.dry_run:
        guess = estimate(plan, jobs, prices)
        done = len(holes) * len(setups) - len(jobs)
        if args.json:
            summary = {
                "holes": len(holes),
                "variants": len(setups),
                "requests": guess.requests,
                "alreadyDone": done,
                "promptTokens": guess.prompt_tokens,
                "completionTokens": guess.completion_tokens,
                "maxCompletionTokens": guess.max_completion_tokens,
                "cost": round(guess.cost, 6),
                "unpriced": sorted(guess.unpriced),
                "pricesDate": PRICES_DATE,
            }
            json.dump(summary, out, indent=2)
            out.write("\n")
            return 0
        print(
            f"{len(holes)} holes x {len(setups)} variants: {guess.requests} requests to send"
            + (f" ({done} already in {output})" if done else ""),
            file=out,
        )
        print(
            f"estimated tokens: {guess.prompt_tokens:,} in, about {guess.completion_tokens:,} "
            f"out (at most {guess.max_completion_tokens:,})",
            file=out,
        )
        cost = f"estimated cost: ${guess.cost:.4f} (prices of {PRICES_DATE})"
        if guess.unpriced:
            cost += f"; no price known for {', '.join(sorted(guess.unpriced))} (use --prices)"
        print(cost, file=out)
        for note in notes:
            print(note, file=out)
        return 0

    store.append(_run_header(args, root, holes, setups))
    started = time.monotonic()
    bar = None if args.no_progress else _progress(len(jobs))
    stops: list[str] = []

    def stopped(variant: str, message: str) -> None:
        stops.append(f"Variant {variant} stopped: {message}")
        print(f"codestral-ls eval: variant {variant} stopped: {message}", file=sys.stderr)

    interrupted = False
    try:
        asyncio.run(
            run(
                plan,
                store,
                on_result=lambda record: bar.update(1) if bar else None,
                on_stop=stopped,
            )
        )
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if bar is not None:
            bar.close()
        store.close()
    elapsed = time.monotonic() - started
    if interrupted:
        print(
            f"codestral-ls eval: interrupted; the results so far are in {output}. Run the same "
            "command again to resume.",
            file=sys.stderr,
        )
    ids = {hole.id for hole in holes}
    fingerprints = {setup.fingerprint for setup in setups}
    records = [r for r in results_of(output) if r.get("fingerprint") in fingerprints]
    summaries = summarize(records, prices, holes=ids, seed=args.seed)
    title = (
        f"codestral-ls eval: {root.name}, {len(holes)} holes ({', '.join(kinds)}), seed {args.seed}"
    )
    meta = {
        "root": str(root),
        "holes": len(holes),
        "kinds": kinds,
        "seed": args.seed,
        "seconds": round(elapsed, 2),
        "interrupted": interrupted,
    }
    markdown = render_markdown(summaries, title, [*notes, *stops])
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(markdown, encoding="utf-8")
    charted = write_chart(summaries, chart_path, title)
    if args.json:
        json.dump(render_json(summaries, meta), out, indent=2)
        out.write("\n")
    else:
        out.write(markdown)
        out.write(f"\nReport: {report_path}\n")
        out.write(f"Chart: {chart_path}\n" if charted else f"No chart: {EXTRA_HINT}\n")
        out.write(f"Results: {output} ({elapsed:.1f} s)\n")
    return 130 if interrupted else 0


def _run_header(
    args: argparse.Namespace, root: Path, holes: Sequence[Any], setups: Sequence[VariantSetup]
) -> dict[str, Any]:
    return {
        "type": "run",
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "root": str(root),
        "seed": args.seed,
        "kinds": args.kinds,
        "holes": len(holes),
        "variants": {
            s.variant.name: {
                "fingerprint": s.fingerprint,
                "settings": s.variant.describe(),
                "model": s.settings.model,
                "backend": s.backend,
                "endpoint": s.connection.endpoint,
            }
            for s in setups
        },
    }


def _progress(total: int) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="hole", desc="eval", file=sys.stderr, dynamic_ncols=True)


def compare(
    paths: Sequence[Path], prices: PriceTable, args: argparse.Namespace, out: TextIO
) -> int:
    """Both files' variants in one ranked table, on the holes both runs have answered."""
    runs = []
    for path in paths:
        if not path.is_file():
            return _fail(f"{path} does not exist")
        runs.append(results_of(path))
    labels = [p.stem for p in paths]
    if labels[0] == labels[1]:
        labels = ["A", "B"]
    shared = {str(r.get("hole")) for r in runs[0]} & {str(r.get("hole")) for r in runs[1]}
    if not shared:
        return _fail("the two files have no hole in common (different seeds or code?)")
    records = [
        {**record, "variant": f"{label}:{record.get('variant')}"}
        for label, rows in zip(labels, runs, strict=True)
        for record in rows
    ]
    summaries = summarize(records, prices, holes=shared, seed=args.seed)
    title = f"codestral-ls eval: {paths[0]} vs {paths[1]}, {len(shared)} shared holes"
    if args.json:
        json.dump(
            render_json(
                summaries, {"compare": [str(p) for p in paths], "sharedHoles": len(shared)}
            ),
            out,
            indent=2,
        )
        out.write("\n")
    else:
        out.write(render_markdown(summaries, title))
    return 0
