"""A circuit breaker for the completion endpoint: stop calling a failing upstream, probe it, resume.

Closed: requests go through.  After ``threshold`` consecutive transient failures (5xx, network,
timeouts), or at once after a rate limit or a rejected key/model, the breaker opens for a pause
(``Retry-After`` when given, else an exponential backoff with jitter).  When the pause is over it
is half-open: exactly one request (the probe) goes through; success closes it, failure opens it
again for a longer pause.  Every outcome of a probe settles it: an answer that is neither a
success nor a failure of the upstream (a refused request, an internal error, a cancellation)
calls :meth:`released`, so the breaker can never stay open with no probe under way.
Pure: the clock and the random source are injected.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


@dataclass
class Breaker:
    """Decides whether a request may reach the upstream now."""

    threshold: int = 3
    """Consecutive transient failures that open the breaker."""
    base: float = 1.0
    """First backoff pause, seconds; it doubles with each opening in a row."""
    ceiling: float = 60.0
    """Longest backoff pause, seconds."""
    jitter: float = 0.2
    """Random spread of each pause (0.2 = plus or minus 20 %)."""
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)

    failures: int = 0
    openings: int = 0
    opened_until: float = 0.0
    probing: bool = False

    @property
    def state(self) -> str:
        if self.opened_until == 0.0:
            return CLOSED
        return OPEN if self.clock() < self.opened_until or self.probing else HALF_OPEN

    @property
    def retry_in(self) -> float:
        """Seconds until the next request may go (0 when it may go now)."""
        return max(0.0, self.opened_until - self.clock()) if self.opened_until else 0.0

    def allow(self) -> bool:
        """Whether a request may go now; in half-open state only one (the probe) may."""
        state = self.state
        if state == CLOSED:
            return True
        if state == HALF_OPEN:
            self.probing = True
            return True
        return False

    def success(self) -> None:
        """The upstream answered: close."""
        self.failures = 0
        self.openings = 0
        self.opened_until = 0.0
        self.probing = False

    def failure(self) -> float:
        """A transient failure; returns the pause if the breaker opened (else 0)."""
        self.failures += 1
        if self.probing or self.failures >= self.threshold:
            return self.open()
        return 0.0

    def open(self, pause: float | None = None) -> float:
        """Open now, for ``pause`` seconds (given by the server) or the next backoff step."""
        self.probing = False
        if pause is None:
            step = min(self.ceiling, self.base * 2**self.openings)
            pause = step * (1 + self.rng.uniform(-self.jitter, self.jitter))
        self.openings += 1
        self.failures = 0
        self.opened_until = self.clock() + max(0.0, pause)
        return pause

    def cancelled(self) -> None:
        """The probe was cancelled before it could tell anything: allow another probe."""
        self.probing = False

    def released(self) -> None:
        """A request let through by :meth:`allow` ended without telling :meth:`success`,
        :meth:`failure` or :meth:`open` (an internal error, a cancellation): a probe under way
        is over, so the next request may probe again."""
        self.probing = False

    def reset(self) -> None:
        """Close at once, forgetting pauses and failures (the settings changed)."""
        self.success()


def retry_delay(attempt: int, rng: random.Random, base: float = 0.1, ceiling: float = 0.5) -> float:
    """Jittered pause before retry ``attempt`` (1-based) of one request ("full jitter")."""
    return rng.uniform(0, min(ceiling, base * 2 ** (attempt - 1)))
