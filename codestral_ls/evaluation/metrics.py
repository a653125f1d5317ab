"""Scores of one answer, and the statistics that summarise many.  Pure functions.

- exact match: the answer is the middle, ignoring trailing whitespace on each line;
- first-line exact match: the same for the first line only (what a single Tab accepts);
- edit similarity: ``1 - normalized Levenshtein distance`` (``rapidfuzz``), 1.0 for equal
  texts, 0.0 for texts with nothing in common;
- parses: for Python, whether the file with the answer in place still parses (None when the
  original does not, or for other languages).
"""

from __future__ import annotations

import ast
import math
import random
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Interval",
    "bootstrap_interval",
    "edit_similarity",
    "exact_match",
    "first_line_match",
    "parses",
    "percentile",
]


def _normalize(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").split("\n")).rstrip()


def exact_match(answer: str, expected: str) -> bool:
    return _normalize(answer) == _normalize(expected)


def first_line_match(answer: str, expected: str) -> bool:
    first = expected.strip("\n").split("\n", 1)[0].rstrip()
    return answer.strip("\n").split("\n", 1)[0].rstrip() == first


def edit_similarity(answer: str, expected: str) -> float:
    from rapidfuzz.distance import Levenshtein

    return float(Levenshtein.normalized_similarity(_normalize(answer), _normalize(expected)))


def _parses(text: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like
            ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return True


def parses(language: str, original: str, filled: str) -> bool | None:
    """Whether ``filled`` parses, for Python files whose ``original`` parses."""
    if language != "python" or not _parses(original):
        return None
    return _parses(filled)


@dataclass(frozen=True)
class Interval:
    """A mean with its standard error and a 95 % bootstrap confidence interval."""

    mean: float
    stderr: float
    low: float
    high: float
    n: int


def bootstrap_interval(
    values: Sequence[float], *, seed: int = 0, resamples: int = 1000
) -> Interval | None:
    """Mean, standard error and the 2.5-97.5 percentile bootstrap interval of ``values``
    (deterministic for a seed); None for no values."""
    n = len(values)
    if n == 0:
        return None
    mean = sum(values) / n
    variance = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    stderr = math.sqrt(variance / n)
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    return Interval(mean, stderr, percentile(means, 2.5), percentile(means, 97.5), n)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values`` with linear interpolation."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))
