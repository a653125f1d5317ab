"""Acceptance statistics without LSP: the store, the recorder, the summary maths, trials, and
the metadata the engine puts on suggestions (docs/stats.md)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lsprotocol import types

from codestral_ls.documents import Cursor, Document
from codestral_ls.settings import TrialSettings, parse_settings
from codestral_ls.stats import Recorder, StatsStore, Variant, parse_trial_entry, pick_variant
from codestral_ls.stats.recorder import endpoint_host
from codestral_ls.stats.summary import (
    SESSION_FLOOR,
    SESSION_GAP,
    active_seconds,
    format_table,
    one_line,
    parse_duration,
    percentile,
    summarise,
)
from tests.test_engine import StubBackend, at_end, engine_for

# --- store ------------------------------------------------------------------------------------


def test_the_store_appends_lines_and_reads_them_back(tmp_path: Path) -> None:
    store = StatsStore(tmp_path / "stats")
    store.append({"event": "shown", "ts": 1.0})
    store.append({"event": "accepted", "ts": 2.0})
    assert [r["event"] for r in store.read()] == ["shown", "accepted"]
    lines = store.path.read_text().splitlines()
    assert [json.loads(line)["ts"] for line in lines] == [1.0, 2.0]


def test_the_store_rotates_and_stays_bounded(tmp_path: Path) -> None:
    store = StatsStore(tmp_path, max_bytes=200, keep=2)
    for index in range(200):
        store.append({"event": "shown", "ts": float(index), "chars": index})
    files = store.files()
    assert [path.name for path in files] == ["stats.2.jsonl", "stats.1.jsonl", "stats.jsonl"]
    for path in files:
        assert path.stat().st_size <= 200
    assert not (tmp_path / "stats.3.jsonl").exists()
    kept = [record["ts"] for record in store.read()]
    assert kept == sorted(kept)  # oldest first, across the rotated files
    assert kept[-1] == 199.0
    assert len(kept) < 200  # the oldest were dropped


def test_the_store_skips_lines_it_cannot_read(tmp_path: Path) -> None:
    store = StatsStore(tmp_path)
    store.append({"event": "shown", "ts": 1.0})
    with store.path.open("a") as stream:
        stream.write('{"event": "sho\n[1, 2]\n')
    store.append({"event": "accepted", "ts": 2.0})
    assert [r["event"] for r in store.read()] == ["shown", "accepted"]


# --- recorder ---------------------------------------------------------------------------------


def recorder() -> tuple[Recorder, list[dict[str, Any]]]:
    records: list[dict[str, Any]] = []
    return Recorder(records.append, clock=lambda: 1000.0), records


def show(rec: Recorder, suggestion_id: str, chars: int, typed: int = 0) -> None:
    rec.shown(
        suggestion_id,
        chars=chars,
        model="codestral-2508",
        endpoint="https://user:secret@codestral.mistral.ai/v1?x=1",
        variant="",
        language="python",
        latency_ms=123.456,
        source="network",
        typed=typed,
    )


def test_a_suggestion_is_shown_once_and_typed_through_once() -> None:
    rec, records = recorder()
    show(rec, "a1", 20)
    show(rec, "a1", 20)  # the same answer asked again at the same spot
    show(rec, "a1", 18)  # typed two characters of it
    show(rec, "a1", 15)
    assert [r["event"] for r in records] == ["shown", "typedThrough"]
    assert records[0]["endpoint"] == "codestral.mistral.ai"
    assert records[0]["latencyMs"] == 123.5
    assert set(records[0]) == {
        "v",
        "ts",
        "event",
        "model",
        "endpoint",
        "variant",
        "language",
        "chars",
        "latencyMs",
        "source",
    }


def test_accepts_are_attributed_by_id_and_counted_once_per_suggestion() -> None:
    rec, records = recorder()
    show(rec, "a1", 20)
    assert rec.accepted("a1", 5, partial=True)
    assert rec.accepted("a1", 15, partial=False)
    assert not rec.accepted("unknown", 3, partial=False)
    accepted = [r for r in records if r["event"] == "accepted"]
    assert [(r["chars"], r["partial"], r["first"]) for r in accepted] == [
        (5, True, True),
        (15, False, False),
    ]
    assert accepted[0]["model"] == "codestral-2508"


def test_a_disabled_recorder_writes_nothing() -> None:
    rec, records = recorder()
    rec.enabled = False
    show(rec, "a1", 20)
    rec.accepted("a1", 20, partial=False)
    assert records == []


def test_endpoint_host_keeps_only_host_and_port() -> None:
    assert endpoint_host("http://127.0.0.1:11434/api") == "127.0.0.1:11434"
    assert endpoint_host("https://k:secret@api.mistral.ai/v1?key=x") == "api.mistral.ai"
    assert endpoint_host("http://[::1]:8080") == "[::1]:8080"
    assert endpoint_host("") == ""


# --- summary ----------------------------------------------------------------------------------


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None


def test_active_time_splits_sessions_at_long_gaps() -> None:
    assert active_seconds([]) == 0.0
    assert active_seconds([10.0]) == SESSION_FLOOR
    # two sessions: 0..120 and 1000..1030
    stamps = [0.0, 60.0, 120.0, 120.0 + SESSION_GAP + 1, 120.0 + SESSION_GAP + 31]
    assert active_seconds(stamps) == 120.0 + 30.0 + 2 * SESSION_FLOOR


@given(st.lists(st.floats(min_value=0, max_value=1e7, allow_nan=False), max_size=50))
def test_active_time_is_at_least_a_floor_and_at_most_the_span_plus_floors(
    stamps: list[float],
) -> None:
    seconds = active_seconds(stamps)
    if not stamps:
        assert seconds == 0
        return
    assert seconds >= SESSION_FLOOR
    assert seconds <= max(stamps) - min(stamps) + SESSION_FLOOR * len(stamps) + 1e-6


def test_summary_per_model_and_variant() -> None:
    base = {"endpoint": "h", "language": "python"}
    records = [
        {**base, "ts": 0.0, "event": "shown", "model": "a", "variant": "a", "latencyMs": 100},
        {**base, "ts": 10.0, "event": "shown", "model": "a", "variant": "a", "latencyMs": 300},
        {**base, "ts": 20.0, "event": "accepted", "model": "a", "variant": "a", "chars": 30,
         "partial": False, "first": True},
        {**base, "ts": 30.0, "event": "shown", "model": "b", "variant": "b@ollama",
         "latencyMs": 50},
        {**base, "ts": 40.0, "event": "typedThrough", "model": "b", "variant": "b@ollama"},
        {**base, "ts": -5.0, "event": "shown", "model": "a", "variant": "a", "latencyMs": 9},
        {"ts": "bad", "event": "shown"},
    ]  # fmt: skip
    groups = summarise(records, since=0.0)
    assert [(g.model, g.variant) for g in groups] == [("a", "a"), ("b", "b@ollama")]
    a, b = groups
    assert (a.shown, a.accepted, a.chars_accepted) == (2, 1, 30)
    assert a.acceptance_rate == 0.5
    assert a.latency_p50 == 100 and a.latency_p95 == 300
    assert a.hours == pytest.approx((20.0 + SESSION_FLOOR) / 3600.0)
    assert a.chars_per_hour == pytest.approx(30 / a.hours)
    assert (b.shown, b.accepted, b.typed_through) == (1, 0, 1)
    assert b.acceptance_rate == 0.0
    table = format_table(groups)
    assert "50.0%" in table and "b@ollama" in table
    assert one_line(groups).startswith("Codestral: ")
    assert one_line([]) == "Codestral: no statistics recorded yet."
    assert a.as_json()["latencyMs"] == {"p50": 100.0, "p95": 300.0, "samples": 2}


def test_durations() -> None:
    assert parse_duration("7d") == 7 * 86400
    assert parse_duration("12h") == 12 * 3600
    assert parse_duration("30m") == 1800
    assert parse_duration("2") == 2 * 86400
    with pytest.raises(ValueError):
        parse_duration("soon")


# --- trials -----------------------------------------------------------------------------------


def test_trial_entries() -> None:
    assert parse_trial_entry("codestral-2508").backend is None
    entry = parse_trial_entry("codestral:22b@ollama")
    assert (entry.model, entry.backend, entry.label) == ("codestral:22b", "ollama", entry.label)
    assert entry.label == "codestral:22b@ollama"
    assert parse_trial_entry("org/model@v2").backend is None  # not a backend kind: one model id
    with pytest.raises(ValueError):
        parse_trial_entry("@ollama")


def test_the_picker_alternates_by_request_day_or_file() -> None:
    picks = [pick_variant("alternate", 2, counter=n, day=0, uri="file:///a") for n in range(6)]
    assert picks == [0, 1, 0, 1, 0, 1]
    days = [pick_variant("day", 3, counter=n, day=d, uri="u") for n, d in enumerate(range(6))]
    assert days == [0, 1, 2, 0, 1, 2]
    same_file = {pick_variant("file", 2, counter=n, day=n, uri="file:///x.py") for n in range(9)}
    assert len(same_file) == 1
    spread = {pick_variant("file", 2, counter=0, day=0, uri=f"file:///{n}.py") for n in range(40)}
    assert spread == {0, 1}
    with pytest.raises(ValueError):
        pick_variant("alternate", 0, counter=0, day=0, uri="u")


def test_trial_settings_are_validated_key_by_key() -> None:
    settings, problems = parse_settings(
        {
            "telemetry": False,
            "trial": {
                "models": ["codestral-2508", "codestral:22b@ollama", 3, "codestral-2508"],
                "split": "weekly",
                "endpoints": {"ollama": "http://127.0.0.1:1/", "vim": "http://x"},
            },
        }
    )
    assert settings.telemetry is False
    assert settings.trial == TrialSettings(
        models=("codestral-2508", "codestral:22b@ollama"),
        split="alternate",
        endpoints={"ollama": "http://127.0.0.1:1"},
    )
    assert settings.trial.active
    assert len(problems) == 3
    assert not parse_settings({"trial": "yes"})[0].trial.active


# --- the engine's metadata --------------------------------------------------------------------


def span(line: int, start: int, end: int) -> types.Range:
    return types.Range(
        start=types.Position(line=line, character=start),
        end=types.Position(line=line, character=end),
    )


async def test_the_same_answer_keeps_its_id_through_the_cache_and_typing_through() -> None:
    engine, _ = engine_for(StubBackend(["compute(1)"]))
    document, cursor = at_end("v = ")
    first = await engine.complete(document, cursor)
    assert first is not None and first.id and first.source == "network"
    assert (first.model, first.endpoint, first.variant) == (
        "codestral-latest",
        "http://127.0.0.1:9",
        "",
    )
    assert first.latency_ms >= 0
    again = await engine.complete(document, cursor)
    assert again is not None and (again.id, again.source) == (first.id, "cache")
    document.apply_edit(span(0, 4, 4), "com", version=2)
    typed = await engine.complete(document, Cursor(0, 7))
    assert typed is not None and typed.text == "pute(1)" and typed.id == first.id
    document.apply_edit(span(0, 0, 7), "w = ", version=3)
    other = await engine.complete(document, Cursor(0, 4))
    assert other is not None and other.id != first.id


async def test_the_variant_hook_picks_the_model_and_backend_of_a_request() -> None:
    main = StubBackend(["main_answer"])
    second = StubBackend(["second_answer"])
    engine, _ = engine_for(main)
    variants = [
        Variant("codestral-2508", "codestral-2508"),
        Variant("qwen@ollama", "qwen", second, "http://127.0.0.1:11434"),  # type: ignore[arg-type]
    ]
    turn = iter(range(100))
    engine.choose_variant = lambda document, settings: variants[next(turn) % 2]
    first = await engine.complete(*at_end("a = "))
    second_answer = await engine.complete(*at_end("b = "))
    assert first is not None and second_answer is not None
    assert (first.text, first.model, first.variant) == (
        "main_answer",
        "codestral-2508",
        "codestral-2508",
    )
    assert main.requests[0].model == "codestral-2508"
    assert (second_answer.text, second_answer.model, second_answer.endpoint) == (
        "second_answer",
        "qwen",
        "http://127.0.0.1:11434",
    )
    assert second.requests[0].model == "qwen"


async def test_a_failing_variant_hook_costs_the_trial_not_the_completion() -> None:
    engine, _ = engine_for(StubBackend(["x + 1"]))

    def broken(document: Document, settings: object) -> Variant:
        raise RuntimeError("bug")

    engine.choose_variant = broken  # type: ignore[assignment]
    suggestion = await engine.complete(*at_end("y = "))
    assert suggestion is not None and suggestion.variant == ""
    await asyncio.sleep(0)


# --- codestral-ls stats -----------------------------------------------------------------------


def test_the_stats_command_prints_json_and_a_table(tmp_path: Path) -> None:
    store = StatsStore.under(tmp_path)
    now = time.time()
    common = {"model": "codestral-2508", "endpoint": "codestral.mistral.ai", "variant": ""}
    store.append({**common, "ts": now - 30 * 86400, "event": "shown", "latencyMs": 999})
    store.append({**common, "ts": now - 60, "event": "shown", "latencyMs": 120})
    store.append(
        {
            **common,
            "ts": now - 30,
            "event": "accepted",
            "chars": 12,
            "partial": False,
            "first": True,
        }
    )
    env = {**os.environ, "CODESTRAL_LS_STATE_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "codestral_ls", "stats"]
    done = subprocess.run([*command, "--json"], env=env, capture_output=True, text=True, check=True)
    [summary] = json.loads(done.stdout)["groups"]
    assert (summary["shown"], summary["accepted"], summary["charsAccepted"]) == (1, 1, 12)
    assert summary["latencyMs"] == {"p50": 120.0, "p95": 120.0, "samples": 1}
    older = subprocess.run(
        [*command, "--since", "60d", "--json"], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(older.stdout)["groups"][0]["shown"] == 2
    table = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    assert "codestral-2508" in table and "100.0%" in table
    bad = subprocess.run([*command, "--since", "soon"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_a_trial_is_part_of_the_cache_key() -> None:
    from codestral_ls.context import request_profile
    from codestral_ls.settings import Settings

    plain = Settings()
    trial = Settings(trial=TrialSettings(models=("codestral-2508", "codestral:22b@ollama")))
    other = Settings(trial=TrialSettings(models=("codestral-2508", "qwen@ollama")))
    one = Settings(trial=TrialSettings(models=("codestral-2508",)))  # no trial: one model
    profiles = {request_profile(s, (10, 10)) for s in (plain, trial, other)}
    assert len(profiles) == 3
    assert request_profile(one, (10, 10)) == request_profile(plain, (10, 10))
