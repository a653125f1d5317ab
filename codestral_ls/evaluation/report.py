"""From result records to a ranked summary: Markdown, JSON and a chart.  Pure, but the chart
(matplotlib, from the ``eval`` extra)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .metrics import Interval, bootstrap_interval, percentile
from .prices import PRICES_DATE, PriceTable

__all__ = ["Summary", "render_json", "render_markdown", "summarize", "write_chart"]


@dataclass(frozen=True)
class Summary:
    """The figures of one variant over its holes."""

    variant: str
    model: str
    backend: str
    holes: int
    answered: int
    """Holes that got an answer (possibly empty) rather than an error."""
    exact: Interval | None
    first_line: Interval | None
    edit_similarity: Interval | None
    parses: Interval | None
    """Share of Python holes whose filled file still parses."""
    python_holes: int
    empty_rate: float
    errors: int
    error_kinds: Mapping[str, int]
    rate_limited: int
    latency_p50: float
    latency_p95: float
    prompt_tokens: int
    completion_tokens: int
    usage_reported: int
    cost: float | None
    """Estimated US dollars (None: no price known for the model)."""
    by_kind: Mapping[str, float]
    """Mean exact match per hole kind."""

    def rank_key(self) -> tuple[float, float]:
        return (
            self.exact.mean if self.exact else -1.0,
            self.edit_similarity.mean if self.edit_similarity else -1.0,
        )


def _interval(values: Sequence[float], seed: int) -> Interval | None:
    return bootstrap_interval(values, seed=seed) if values else None


def summarize(
    records: Iterable[Mapping[str, Any]],
    prices: PriceTable,
    *,
    holes: set[str] | None = None,
    seed: int = 0,
) -> list[Summary]:
    """One summary per variant, best first (exact match, then edit similarity).

    ``holes``: count only these hole ids (to compare runs on the holes they share).
    """
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        if record.get("type", "result") != "result":
            continue
        if holes is not None and record.get("hole") not in holes:
            continue
        grouped.setdefault(str(record.get("variant")), []).append(record)
    summaries = [_summary(name, rows, prices, seed) for name, rows in grouped.items()]
    summaries.sort(key=lambda s: (s.rank_key(), s.variant), reverse=True)
    return summaries


def _summary(
    name: str, rows: Sequence[Mapping[str, Any]], prices: PriceTable, seed: int
) -> Summary:
    ok = [r for r in rows if r.get("status") == "ok"]
    errors = [r for r in rows if r.get("status") != "ok"]
    error_kinds: dict[str, int] = {}
    for row in errors:
        kind = str(row.get("errorKind") or "error")
        error_kinds[kind] = error_kinds.get(kind, 0) + 1
    python = [r for r in ok if r.get("parses") is not None]
    latencies = [float(r.get("latencyMs") or 0.0) for r in ok]
    prompt = sum(int(r.get("promptTokens") or 0) for r in rows)
    completion = sum(int(r.get("completionTokens") or 0) for r in rows)
    model = str(rows[0].get("model", "")) if rows else ""
    backend = str(rows[0].get("backend", "")) if rows else ""
    price = prices.price(model, backend)
    by_kind: dict[str, float] = {}
    for kind in sorted({str(r.get("kind")) for r in ok}):
        of_kind = [1.0 if r.get("exact") else 0.0 for r in ok if r.get("kind") == kind]
        by_kind[kind] = sum(of_kind) / len(of_kind)
    return Summary(
        variant=name,
        model=model,
        backend=backend,
        holes=len(rows),
        answered=len(ok),
        exact=_interval([1.0 if r.get("exact") else 0.0 for r in ok], seed),
        first_line=_interval([1.0 if r.get("firstLine") else 0.0 for r in ok], seed),
        edit_similarity=_interval([float(r.get("editSimilarity") or 0.0) for r in ok], seed),
        parses=_interval([1.0 if r.get("parses") else 0.0 for r in python], seed),
        python_holes=len(python),
        empty_rate=(sum(1 for r in ok if not r.get("answer")) / len(ok)) if ok else 0.0,
        errors=len(errors),
        error_kinds=error_kinds,
        rate_limited=sum(int(r.get("rateLimited") or 0) for r in rows),
        latency_p50=percentile(latencies, 50),
        latency_p95=percentile(latencies, 95),
        prompt_tokens=prompt,
        completion_tokens=completion,
        usage_reported=sum(1 for r in rows if r.get("usageReported")),
        cost=price.cost(prompt, completion) if price is not None else None,
        by_kind=by_kind,
    )


def _pct(interval: Interval | None) -> str:
    if interval is None:
        return "-"
    return f"{interval.mean * 100:.1f} [{interval.low * 100:.0f}-{interval.high * 100:.0f}]"


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0f}"


def _cost(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"${value:.4f}" if value < 1 else f"${value:.2f}"


def render_markdown(summaries: Sequence[Summary], title: str, notes: Sequence[str] = ()) -> str:
    """A ranked table, then per-kind exact match, errors and the fine print."""
    lines = [
        f"# {title}",
        "",
        "| rank | variant | model | exact match % | first line % | edit similarity % "
        "| parses % (py) | empty % | errors | p50 ms | p95 ms | tokens in / out | est. cost |",
        "| ---: | --- | --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for rank, s in enumerate(summaries, 1):
        lines.append(
            f"| {rank} | {s.variant} | {s.model} | {_pct(s.exact)} | {_pct(s.first_line)} "
            f"| {_pct(s.edit_similarity)} | {_pct(s.parses)} | {s.empty_rate * 100:.0f} "
            f"| {s.errors} | {_ms(s.latency_p50)} | {_ms(s.latency_p95)} "
            f"| {s.prompt_tokens:,} / {s.completion_tokens:,} | {_cost(s.cost)} |"
        )
    kinds = sorted({kind for s in summaries for kind in s.by_kind})
    if kinds:
        lines += [
            "",
            "Exact match % by hole kind:",
            "",
            "| variant | " + " | ".join(kinds) + " |",
            "| --- |" + " ---: |" * len(kinds),
        ]
        for s in summaries:
            cells = [f"{s.by_kind[k] * 100:.1f}" if k in s.by_kind else "-" for k in kinds]
            lines.append(f"| {s.variant} | " + " | ".join(cells) + " |")
    problems = [s for s in summaries if s.errors or s.rate_limited]
    if problems:
        lines += ["", "Errors and rate limits:", ""]
        for s in problems:
            kinds_text = ", ".join(f"{k} {n}" for k, n in sorted(s.error_kinds.items()))
            lines.append(
                f"- {s.variant}: {s.errors} errors ({kinds_text or 'none'}), "
                f"{s.rate_limited} answers of 429 waited out"
            )
    lines += [
        "",
        "Percentages are means over the holes answered, with a 95 % bootstrap confidence "
        "interval in brackets: variants whose intervals overlap are not reliably different. "
        "Latency is to the finished suggestion (after early stop and post-processing). Tokens "
        "come from the API's `usage` where the stream reported it "
        f"({sum(s.usage_reported for s in summaries)} of {sum(s.holes for s in summaries)} "
        "requests), else from the characters sent and received; the cost uses the price table "
        f"of {PRICES_DATE} (see docs/eval.md; override with --prices).",
    ]
    lines += [f"{note}" for note in notes]
    return "\n".join(lines) + "\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def render_json(summaries: Sequence[Summary], meta: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **meta,
        "pricesDate": PRICES_DATE,
        "variants": [_jsonable(asdict(s)) for s in summaries],
    }


def write_chart(summaries: Sequence[Summary], path: Path, title: str) -> bool:
    """Quality against latency (and against cost when known), one point per variant, with the
    confidence interval as an error bar.  False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    with_cost = [s for s in summaries if s.cost is not None and s.edit_similarity]
    panels = 2 if with_cost else 1
    figure, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.5), squeeze=False)
    plotted = [s for s in summaries if s.edit_similarity is not None]

    def draw(axis: Any, items: Sequence[Summary], x_of: Any, label: str) -> None:
        for s in items:
            assert s.edit_similarity is not None
            interval = s.edit_similarity
            x = x_of(s)
            axis.errorbar(
                [x],
                [interval.mean * 100],
                yerr=[
                    [(interval.mean - interval.low) * 100],
                    [(interval.high - interval.mean) * 100],
                ],
                fmt="o",
                capsize=4,
            )
            axis.annotate(
                s.variant, (x, interval.mean * 100), textcoords="offset points", xytext=(6, 6)
            )
        axis.margins(x=0.25, y=0.15)  # room for the labels
        axis.set_xlabel(label)
        axis.set_ylabel("edit similarity % (95 % CI)")
        axis.grid(True, alpha=0.3)

    draw(
        axes[0][0],
        plotted,
        lambda s: 0.0 if math.isnan(s.latency_p50) else s.latency_p50,
        "latency p50 (ms)",
    )
    if with_cost:
        draw(
            axes[0][1],
            with_cost,
            lambda s: s.cost,
            f"estimated cost (USD, prices of {PRICES_DATE})",
        )
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return True
