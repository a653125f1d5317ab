"""Cross-file context: code from other files of the project sent with a completion.

Sources (each switchable under the ``context`` setting): similar windows of open files
(:mod:`.openfiles`), recently edited regions (:mod:`.recent`), outlines of imported workspace
files (:mod:`.imports`) and, opt-in, semantic retrieval over an embeddings index
(:mod:`.embeddings`).  :mod:`.assemble` ranks and trims them into the budget; :mod:`.gather`
ties them together.  See docs/context.md.
"""

from __future__ import annotations

from .gather import ContextGatherer, GatheredContext, collect_context, context_budget
from .snippet import Snippet
from .workspace import Workspace

__all__ = [
    "ContextGatherer",
    "GatheredContext",
    "Snippet",
    "Workspace",
    "collect_context",
    "context_budget",
]
