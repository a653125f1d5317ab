"""A prompt that did not fit the server's context: recognise the refusal, shrink the request.

Self-hosted servers run with the context they were started with (``llama-server -c 1024``),
whatever the model could do.  llama-server refuses a longer prompt with 400
``exceed_context_size_error`` "request (N tokens) exceeds the available context size (C
tokens), try increasing it"; vLLM says "maximum context length is C tokens. However, you
requested N tokens".  The engine then shrinks the request once (:func:`shrink_request`) and
retries, and the next requests use the smaller budget (:func:`fitting_chars`).

Pure functions: no HTTP, no LSP.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from .backends.errors import BackendError, BadRequestError
from .mistral import FimRequest

__all__ = ["Overflow", "cap_budget", "fitting_chars", "overflow_of", "shrink_request"]

_LLAMACPP_RE = re.compile(
    r"request \((\d+) tokens\) exceeds the available context size \((\d+) tokens\)"
    r"|input \((\d+) tokens\) is larger than the max context size \((\d+) tokens\)"
)
_VLLM_RE = re.compile(
    r"maximum context length is (\d+) tokens.*?requested (\d+) tokens", re.IGNORECASE | re.DOTALL
)
_GENERIC = (
    "exceed_context_size",
    "exceeds the available context",
    "maximum context length",
    "context length exceeded",
    "context_length_exceeded",
    "larger than the max context size",
)
#: Share of the context a shrunk prompt may fill, for the counting error of our estimate.
SAFETY = 0.85
#: Shrink factor when the refusal gives no numbers.
BLIND_SHRINK = 0.5
#: A shrunk request is at most this share of the refused one.
SHRINK_AT_LEAST = 0.8


@dataclass(frozen=True)
class Overflow:
    """A refusal because the prompt did not fit; the numbers when the server gave them."""

    prompt_tokens: int | None = None
    context: int | None = None


def overflow_of(error: BackendError) -> Overflow | None:
    """The overflow ``error`` reports, or None when it is about something else."""
    if not isinstance(error, BadRequestError) or error.status not in (400, 413, 422):
        return None
    text = f"{error.detail} {error.message}"
    if match := _LLAMACPP_RE.search(text):
        numbers = [int(n) for n in match.groups() if n is not None]
        return Overflow(prompt_tokens=numbers[0], context=numbers[1])
    if match := _VLLM_RE.search(text):
        return Overflow(prompt_tokens=int(match.group(2)), context=int(match.group(1)))
    lowered = text.lower()
    if any(marker in lowered for marker in _GENERIC):
        return Overflow()
    return None


def fitting_chars(overflow: Overflow, sent_chars: int, max_tokens: int) -> int:
    """How many characters of prompt and suffix fit, judged from the refused request.

    With the server's numbers, its own tokens-per-character ratio is used, and room is left
    for ``max_tokens`` of answer; without them, the request is halved.
    """
    if not overflow.prompt_tokens or not overflow.context or sent_chars <= 0:
        return int(sent_chars * BLIND_SHRINK)
    room = max(0, overflow.context - max_tokens)
    if room == 0:  # even the answer alone does not fit: send a sliver and a smaller answer
        room = overflow.context // 2
    chars_per_token = sent_chars / overflow.prompt_tokens
    return min(int(sent_chars * SHRINK_AT_LEAST), int(room * chars_per_token * SAFETY))


def _keep_tail(text: str, chars: int) -> str:
    """The last ``chars`` characters of ``text``, from a line start when possible."""
    if len(text) <= chars:
        return text
    tail = text[len(text) - chars :] if chars > 0 else ""
    cut = tail.find("\n")
    return tail[cut + 1 :] if 0 <= cut < len(tail) - 1 else tail


def _keep_head(text: str, chars: int) -> str:
    """The first ``chars`` characters of ``text``, up to a line end when possible."""
    if len(text) <= chars:
        return text
    head = text[:chars] if chars > 0 else ""
    cut = head.rfind("\n")
    return head[: cut + 1] if cut > 0 else head


def shrink_request(req: FimRequest, chars: int) -> FimRequest:
    """``req`` with prompt and suffix cut to ``chars`` characters in all (3 to 1, whole lines
    kept where possible: the prompt loses its start, the suffix its end) and no context
    files; ``max_tokens`` is kept unless it alone would not fit."""
    suffix = req.suffix or ""
    total = len(req.prompt) + len(suffix)
    if total <= chars:
        return dataclasses.replace(req, context_files=())
    suffix_chars = min(len(suffix), chars // 4)
    prompt_chars = chars - suffix_chars
    if prompt_chars > len(req.prompt):
        suffix_chars += prompt_chars - len(req.prompt)
        prompt_chars = len(req.prompt)
    return dataclasses.replace(
        req,
        prompt=_keep_tail(req.prompt, prompt_chars),
        suffix=_keep_head(suffix, suffix_chars) if req.suffix is not None else None,
        context_files=(),
    )


def cap_budget(prefix_chars: int, suffix_chars: int, total: int | None) -> tuple[int, int]:
    """Prefix and suffix budgets scaled down (ratio kept) so they add up to at most
    ``total`` (no cap when None)."""
    if total is None or prefix_chars + suffix_chars <= total:
        return prefix_chars, suffix_chars
    both = prefix_chars + suffix_chars
    prefix = total * prefix_chars // both
    return prefix, total - prefix
