"""Keydown-to-ghost-text latency and upstream calls in a real VS Code (code-server + Chromium).

    .venv/bin/python bench/vscode_real.py [--samples 20] [--bursts 5] [--json FILE]

For each variant (extension defaults; ``debounceMs: 150`` pinned, the old default; and
``debounceMs: 0``), a code-server window with the .vsix installed types into a Python file
against the fake Mistral API answering after 100 ms (``latency``):

- **single key**: one keystroke after a pause; time from the browser's keydown event to the
  new ghost text in the DOM (MutationObserver), median and p95;
- **burst**: 20 keys at 50 ms intervals; upstream FIM calls per burst, and last keydown to
  ghost text;
- **typing through**: the first 8 characters of a visible suggestion typed one by one;
  upstream calls (target 0).

Needs what tests/vscode_real needs (tests/vscode_real/install.sh, the .vsix, Chromium).  The
numbers go to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from codestral_ls.testing.fake_mistral import FakeMistral  # noqa: E402
from tests.vscode_real.harness import (  # noqa: E402
    CodeServer,
    Window,
    chromium,
    install,
    server_executable,
    started,
    wait_for,
)

UPSTREAM_LATENCY = 0.1
KEY = "bench-key-0123456789"
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "debounceMs 150": {"codestral.debounceMs": 150},
    "debounceMs 0": {"codestral.debounceMs": 0},
}

#: Records, in the page, the time of each keydown and of the first new ghost text after it.
PROBE = """
() => {
  const probe = { down: 0, ghost: 0, text: '', downs: [] };
  window.__probe = probe;
  window.addEventListener('keydown', () => {
    probe.down = performance.now(); probe.ghost = 0; probe.downs.push(probe.down);
  }, true);
  const look = () => {
    if (!probe.down || probe.ghost) return;
    const parts = document.querySelectorAll('.editor-instance .ghost-text-decoration');
    const text = Array.from(parts).map((p) => p.textContent).join('');
    if (text && text !== probe.text) { probe.ghost = performance.now(); probe.text = text; }
  };
  new MutationObserver(look).observe(document.body,
                                     { subtree: true, childList: true, characterData: true });
}
"""


def unique_completion(body: dict[str, Any]) -> str:
    """A suggestion that differs for every prompt, so each new ghost text is recognisable."""
    return f"  # n{len(body.get('prompt', ''))}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def latency_of_last_key(window: Window) -> float:
    probe = wait_for(
        lambda: (p := window.page.evaluate("window.__probe")) and p["ghost"] and p,
        60,
        "ghost text",
    )
    return float(probe["ghost"] - probe["down"])


def quiet(window: Window, fake: FakeMistral, seconds: float = 0.6) -> None:
    """Wait until no request is under way and a pause has passed (a bench, not a test)."""
    count = -1
    while count != len(fake.fim_requests()):
        count = len(fake.fim_requests())
        time.sleep(seconds)


def run_variant(name: str, settings: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    fake = FakeMistral(latency=UPSTREAM_LATENCY).start()
    fake.fim_text = unique_completion
    base = Path(tempfile.mkdtemp(prefix="codestral-bench-vscode-"))
    env = {k: v for k, v in os.environ.items() if k not in ("MISTRAL_API_KEY",)}
    env.update({"CODESTRAL_API_KEY": KEY, "CODESTRAL_LS_STATE_DIR": str(base / "state")})
    server = CodeServer(
        root=install(),
        base=base,
        settings={"codestral.endpoint": fake.url, **settings},
        machine_settings={"codestral.server.path": server_executable()},
        env=env,
    )
    server.prepare()
    (server.workspace / "bench.py").write_text("value = 1\n", encoding="utf-8")
    result: dict[str, Any] = {"variant": name, "settings": settings}
    try:
        with started(server), sync_playwright() as playwright:
            browser = chromium(playwright)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            window = Window(page)
            window.open(server.url)
            window.wait_status_icon("sparkle")
            window.open_file("bench.py")
            window.go_to_end()
            page.evaluate(PROBE)
            letters = "abcdefghijklmnopqrstuvwxyz"

            singles: list[float] = []
            for i in range(args.samples):
                quiet(window, fake)
                window.page.keyboard.press("Enter")
                quiet(window, fake)
                page.keyboard.type(letters[i % 26])
                singles.append(latency_of_last_key(window))

            calls: list[int] = []
            burst_latency: list[float] = []
            gaps: list[float] = []
            for i in range(args.bursts):
                quiet(window, fake)
                window.page.keyboard.press("Enter")
                quiet(window, fake)
                before = len(fake.fim_requests())
                page.evaluate("window.__probe.downs = []")
                page.keyboard.type((letters[i:] + letters)[:20], delay=50)
                burst_latency.append(latency_of_last_key(window))
                downs = page.evaluate("window.__probe.downs")
                gaps.append(max(b - a for a, b in itertools.pairwise(downs)))
                quiet(window, fake)
                calls.append(len(fake.fim_requests()) - before)

            quiet(window, fake)
            window.page.keyboard.press("Enter")
            fake.fim_text = "abcdefghijklmnop"
            page.keyboard.type("z")
            window.wait_ghost_text("abcdefgh")
            before = len(fake.fim_requests())
            page.keyboard.type("abcdefgh", delay=100)
            window.wait_ghost_text("ijklmnop")
            quiet(window, fake)
            through_calls = len(fake.fim_requests()) - before
            browser.close()
    finally:
        fake.stop()
    result.update(
        single_ms={
            "n": len(singles),
            "median": round(statistics.median(singles), 1),
            "p95": round(percentile(singles, 0.95), 1),
        },
        burst={
            "n": len(calls),
            "calls": calls,
            "last_key_ms_median": round(statistics.median(burst_latency), 1),
            "longest_keydown_gap_ms": [round(g) for g in gaps],
        },
        typing_through_calls=through_calls,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    load = os.getloadavg()[0]
    for name in args.variants:
        result = run_variant(name, VARIANTS[name], args)
        results.append(result)
        print(json.dumps(result), flush=True)
    for r in results:
        print(
            f"{r['variant']}: longest keydown gap per burst (browser) ms "
            f"{r['burst']['longest_keydown_gap_ms']}"
        )
    print(f"\nupstream latency {UPSTREAM_LATENCY * 1000:.0f} ms; load average before {load:.2f}")
    print(
        f"{'variant':<16} {'key->ghost median/p95 ms':<26} {'calls per 20-key burst':<24} "
        f"{'burst last key->ghost ms':<25} typing-through calls"
    )
    for r in results:
        single = f"{r['single_ms']['median']} / {r['single_ms']['p95']}"
        print(
            f"{r['variant']:<16} {single:<26} {r['burst']['calls']!s:<24} "
            f"{r['burst']['last_key_ms_median']:<25} {r['typing_through_calls']}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
