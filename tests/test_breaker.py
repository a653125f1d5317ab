"""The circuit breaker with a fake clock."""

from __future__ import annotations

import random

import pytest

from codestral_ls.breaker import CLOSED, HALF_OPEN, OPEN, Breaker, retry_delay


def make() -> tuple[Breaker, list[float]]:
    now = [0.0]
    return Breaker(threshold=3, base=1.0, ceiling=8.0, jitter=0.0, clock=lambda: now[0]), now


def test_opens_after_consecutive_failures_and_probes_once() -> None:
    breaker, now = make()
    assert breaker.failure() == 0.0 and breaker.failure() == 0.0
    assert breaker.allow()
    assert breaker.failure() == pytest.approx(1.0)
    assert breaker.state == OPEN and not breaker.allow()
    now[0] += 1.0
    assert breaker.state == HALF_OPEN
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one
    breaker.success()
    assert breaker.state == CLOSED and breaker.allow()


def test_a_failed_probe_doubles_the_pause_up_to_the_ceiling() -> None:
    breaker, now = make()
    pauses = []
    breaker.open()
    for _ in range(5):
        now[0] += breaker.retry_in
        assert breaker.allow()
        pauses.append(breaker.failure())
    assert pauses == [2.0, 4.0, 8.0, 8.0, 8.0]


def test_a_success_resets_the_count() -> None:
    breaker, _ = make()
    breaker.failure()
    breaker.failure()
    breaker.success()
    breaker.failure()
    breaker.failure()
    assert breaker.state == CLOSED


def test_retry_after_sets_the_pause() -> None:
    breaker, now = make()
    assert breaker.open(30.0) == 30.0
    now[0] += 29.0
    assert not breaker.allow()
    assert breaker.retry_in == pytest.approx(1.0)


def test_a_cancelled_probe_allows_another() -> None:
    breaker, now = make()
    breaker.open()
    now[0] += 1.0
    assert breaker.allow()
    breaker.cancelled()
    assert breaker.allow()


def test_jitter_spreads_pauses() -> None:
    breaker = Breaker(jitter=0.2, rng=random.Random(3))
    pauses = {round(breaker.open(), 6) for _ in range(1)}
    assert all(0.8 <= p <= 1.2 for p in pauses)
    rng = random.Random(5)
    delays = [retry_delay(2, rng) for _ in range(100)]
    assert all(0 <= d <= 0.2 for d in delays) and len(set(delays)) > 90
