"""Models for the fakes that know the answer: they look the hole up in the repository under test.

``Oracle(root)`` reads the repository's files once.  Given a FIM request body, it finds the file
where the prompt ends and the suffix begins (the prompt and suffix are cut from the file, the
middle between them is what the model should write) and answers, by model name:

- ``oracle``: the true middle;
- ``half``: its first half (a partial answer: edit similarity strictly between 0 and 1);
- ``noisy``: the true middle for about half of the holes (by a hash of the prompt), else the
  first line alone or a wrong line;
- anything else: ``pass  # no idea``.

It reads ``prompt``/``suffix`` (Mistral, Ollama, OpenAI ``/v1/completions``) and
``input_prefix``/``input_suffix`` (llama.cpp ``/infill``).  The multi-file layout's headers
(``+++++ path``) in front of the prompt are skipped.

Standalone, the fake Mistral API answering with these models (docs/eval.md)::

    python -m tests.fake_oracle --port 0 --no-auth --oracle .   # prints its URL
"""

from __future__ import annotations

import argparse
import hashlib
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from codestral_ls.evaluation.holes import LANGUAGES
from codestral_ls.testing.fake_mistral import FakeMistral

WRONG = "pass  # no idea"
REDACTED = "[REDACTED]"


class Oracle:
    def __init__(self, root: Path, suffixes: Iterable[str] = tuple(LANGUAGES)) -> None:
        suffixes = tuple(suffixes)
        self.texts: list[str] = []
        for path in sorted(root.rglob("*")):
            if path.suffix not in suffixes or not path.is_file():
                continue
            if any(part.startswith(".") or part == "node_modules" for part in path.parts):
                continue
            try:
                self.texts.append(path.read_text(encoding="utf-8").replace("\r\n", "\n"))
            except (OSError, UnicodeDecodeError):
                continue
        self.misses = 0

    def middle(self, prompt: str, suffix: str) -> str | None:
        """The text between ``prompt`` and ``suffix`` in one of the files (the shortest)."""
        if "+++++ " in prompt:
            prompt = prompt.rsplit("\n+++++ ", 1)[-1].split("\n", 1)[-1]
        # Secrets were replaced before sending: match on what follows (precedes) the last
        # (first) redaction.
        prompt = prompt.rsplit(REDACTED, 1)[-1]
        suffix = suffix.split(REDACTED, 1)[0]
        best: str | None = None
        for text in self.texts:
            start = text.find(prompt)
            while start >= 0:
                end = start + len(prompt)
                # A suffix that reaches the end of the file is the whole rest of it; a short
                # one that does not could match too early.
                stop = len(text) - len(suffix) if text.endswith(suffix) else text.find(suffix, end)
                if stop >= end and (best is None or stop - end < len(best)):
                    best = text[end:stop]
                # An empty prompt (a hole at the very start) matches at the start only.
                start = text.find(prompt, start + 1) if prompt else -1
        return best

    def answer(self, model: str, prompt: str, suffix: str) -> str:
        middle = self.middle(prompt, suffix)
        if middle is None:
            self.misses += 1
            return WRONG
        if model == "oracle":
            return middle
        if model == "half":
            return middle[: max(1, len(middle) // 2)]
        if model == "noisy":
            digest = hashlib.sha1(prompt.encode("utf-8")).digest()[0]
            if digest % 2 == 0:
                return middle
            if digest % 4 == 1:
                return middle.split("\n", 1)[0]
            return WRONG
        return WRONG

    def text_source(self) -> Callable[[dict[str, Any]], str]:
        """A ``fim_text`` callable for the fakes."""

        def source(body: dict[str, Any]) -> str:
            prompt = body.get("prompt", body.get("input_prefix", ""))
            suffix = body.get("suffix", body.get("input_suffix", ""))
            return self.answer(str(body.get("model", "")), str(prompt or ""), str(suffix or ""))

        return source


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Mistral API with oracle models.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-auth", action="store_true", help="do not require an API key")
    parser.add_argument("--oracle", metavar="DIR", required=True, help="the repository")
    args = parser.parse_args(argv)
    fake = FakeMistral(
        require_auth=not args.no_auth, check_models=False, host=args.host, port=args.port
    )
    fake.start()
    fake.fim_text = Oracle(Path(args.oracle)).text_source()
    fake.check_models = False
    print(fake.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
