"""Trials: requests alternate between model variants so ``stats`` can compare them.

A trial entry names a model, optionally on another backend: ``codestral-2508`` is that model
on the endpoint in use; ``codestral:22b@ollama`` is that model on a second backend of kind
``ollama``, at the endpoint ``trial.endpoints`` gives for that kind or else the kind's
default (:data:`DEFAULT_ENDPOINTS`).  Which variant a request gets is decided by
:func:`pick_variant`, a pure function of the split, a request counter, the day and the file.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..settings import TRIAL_BACKENDS as BACKEND_KINDS
from ..settings import TRIAL_SPLITS as SPLITS

if TYPE_CHECKING:
    from ..backends import Backend

__all__ = ["BACKEND_KINDS", "DEFAULT_ENDPOINTS", "SPLITS", "TrialEntry", "Variant"]
#: Where a backend of each kind listens unless ``trial.endpoints`` says otherwise.
DEFAULT_ENDPOINTS = {
    "ollama": "http://localhost:11434",
    "llamacpp": "http://localhost:8080",
    "openai": "http://localhost:8000/v1",
    "mistral": "https://api.mistral.ai",
}


@dataclass(frozen=True)
class TrialEntry:
    """One parsed entry of ``trial.models``."""

    model: str
    backend: str | None = None
    """The backend kind after ``@`` (None: the endpoint in use)."""

    @property
    def label(self) -> str:
        return self.model if self.backend is None else f"{self.model}@{self.backend}"


@dataclass(frozen=True)
class Variant:
    """What a request of one trial variant goes to."""

    label: str
    """As written in ``trial.models`` (recorded in the statistics)."""
    model: str
    client: Backend | None = None
    """A second backend (None: the engine's own)."""
    endpoint: str | None = None
    """Its base URL (None: the endpoint in use)."""


def parse_trial_entry(text: str) -> TrialEntry:
    """``model`` or ``model@kind``; raises ValueError naming what is wrong.

    The last ``@`` separates the kind only when what follows is a backend kind, so a model id
    that contains ``@`` for another reason stays whole.
    """
    text = text.strip()
    if not text:
        raise ValueError("an empty model")
    model, at, kind = text.rpartition("@")
    if at and kind.lower() in BACKEND_KINDS:
        if not model:
            raise ValueError(f"{text!r} has no model before '@'")
        return TrialEntry(model, kind.lower())
    return TrialEntry(text)


def pick_variant(split: str, count: int, *, counter: int, day: int, uri: str) -> int:
    """Index of the variant (of ``count``) a request gets.

    - ``alternate``: by the request counter (every request sent to a model is the next one's
      turn);
    - ``day``: by the day number (a whole day on one variant);
    - ``file``: by a stable hash of the document's URI (each file stays on one variant; the
      hash is computed here and never stored).
    """
    if count <= 0:
        raise ValueError("a trial needs at least one variant")
    if split == "day":
        return day % count
    if split == "file":
        return zlib.crc32(uri.encode("utf-8", "surrogatepass")) % count
    return counter % count
