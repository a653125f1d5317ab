"""Time ``codestral-ls eval`` on this repository with two fake variants.

    .venv/bin/python bench/eval_repo.py [--holes 100] [--keep DIR]

A fake Mistral API (``codestral_ls.testing``) runs in this process with the oracle models of
``tests/fake_oracle.py``: ``oracle`` answers the true middle of every hole, ``noisy`` only some.
``codestral-ls eval`` runs as a subprocess, as a user would start it, with the default
concurrency (2).  Prints the wall time and the report; the target is under a minute
(docs/BENCHMARKS.md).  The figures are about the tool, not about any real model.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codestral_ls.testing.fake_mistral import FakeMistral  # noqa: E402
from tests.fake_oracle import Oracle  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--holes", type=int, default=100)
    parser.add_argument("--keep", help="write the results, report and chart into this folder")
    args = parser.parse_args()
    fake = FakeMistral(check_models=False)
    fake.start()
    fake.fim_text = Oracle(ROOT).text_source()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(args.keep or scratch)
            output = out / "results.jsonl"
            output.unlink(missing_ok=True)  # a fresh run, not a resumed one
            command = [
                sys.executable, "-m", "codestral_ls", "eval", "--root", str(ROOT),
                "--holes", str(args.holes), "--no-progress", "--output", str(output),
                "--variant", f"oracle:model=oracle,endpoint={fake.url}",
                "--variant", f"noisy:model=noisy,endpoint={fake.url}",
            ]  # fmt: skip
            env = {**os.environ, "CODESTRAL_API_KEY": "fake-key", "PYTHONPATH": str(ROOT)}
            started = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            elapsed = time.perf_counter() - started
            print(done.stdout)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 1
    finally:
        fake.stop()
    requests = len(fake.fim_requests())
    print(f"codestral-ls eval: {args.holes} holes x 2 variants, {requests} requests, "
          f"{elapsed:.1f} s wall time (target: under 60 s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
