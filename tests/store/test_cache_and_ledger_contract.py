"""The cache and ledger part of the `CallStore` contract, alike in memory, in SQLite and in Redis: cached
answers kept until they expire and cleared, the ledger's sums over the ended calls (the
SQLite backend filters and projects in SQL, then sums as `_core.ledger.summarize` does), and
the budget's sums per UTC day and month (`period_spend`: running totals in Redis)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from llminst._core.budget import ModelSpend, period, spend_of
from llminst._core.cache import CachedAnswer
from llminst._core.ledger import summarize
from llminst._core.records import CallRecord, CallState
from llminst.store import CallStore, SQLiteStore

TRICKY = "é🎉漢字e\u0301👩\u200d👩\u200d👧\x00\n"


def record(call_id: str, *, created_at: float, **fields: object) -> CallRecord:
    values: dict[str, object] = {"model": "echo", "state": CallState.QUEUED, **fields}
    return CallRecord(call_id=call_id, created_at=created_at, **values)  # type: ignore[arg-type]


def answer(key: str, *, expires_at: float = 200.0, created_at: float = 100.0) -> CachedAnswer:
    result = {"model": "m", "output": "ok " + TRICKY, "success": True, "usage": {"n": [1]}}
    return CachedAnswer(
        key=key, call_id=f"call-{key}", result=result, created_at=created_at, expires_at=expires_at
    )


async def test_a_cached_answer_is_kept_until_it_expires(store: CallStore) -> None:
    await store.put_cached(answer("k1"))
    assert await store.get_cached("k1", now=150.0) == answer("k1")
    assert await store.get_cached("k1", now=200.0) is None  # expires_at is exclusive
    assert await store.get_cached("other", now=150.0) is None


async def test_a_newer_answer_replaces_the_old_and_clear_counts(store: CallStore) -> None:
    await store.put_cached(answer("k1"))
    newer = answer("k1", expires_at=500.0)
    await store.put_cached(newer)
    await store.put_cached(answer("k2"))
    assert await store.get_cached("k1", now=300.0) == newer
    assert await store.clear_cache() == 2
    assert await store.get_cached("k1", now=300.0) is None
    assert await store.clear_cache() == 0


LEDGER_CALLS = [
    record(
        "a",
        created_at=1000.0,
        state=CallState.SUCCEEDED,
        attempts=1,
        usage={"input_tokens": 2, "output_tokens": 3, "cache_read_input_tokens": 1},
        cost_usd=0.5,
        session="s",
        result={"model": "m", "duration_s": 1.25, "cached": False, "output_ignored": TRICKY},
    ),
    record(
        "b",
        created_at=2000.0,
        state=CallState.FAILED,
        attempts=2,
        usage={"input_tokens": 4},
        result={"model": "fb", "duration_s": 2.0, "cached": False},
    ),
    record(
        "c",
        created_at=3000.0,
        state=CallState.SUCCEEDED,
        attempts=0,
        cost_usd=0.0,
        result={"model": "m", "duration_s": 0.001, "cached": True},
    ),
    record("d", created_at=4000.0, state=CallState.RUNNING, cost_usd=9.0),
    record("e", created_at=10.0, state=CallState.SUCCEEDED, attempts=1, cost_usd=7.0),
]


@pytest.mark.parametrize("group_by", ["model", "day", "session"])
@pytest.mark.parametrize("since", [None, 500.0, 2500.0])
async def test_the_ledger_sums_as_the_pure_summary_does(
    store: CallStore,
    group_by: str,
    since: float | None,
) -> None:
    for call in LEDGER_CALLS:
        await store.add_call(call)
        changes = {name: getattr(call, name) for name in ("state", "attempts", "usage", "result")}
        await store.update_call(call.call_id, cost_usd=call.cost_usd, **changes)
    rows = await store.usage_summary(since=since, group_by=group_by)
    assert rows == summarize(LEDGER_CALLS, since=since, group_by=group_by)
    assert all(row.calls for row in rows)


async def test_the_ledger_reads_a_store_without_calls(store: CallStore) -> None:
    assert await store.usage_summary() == []


async def test_a_sqlite_store_keeps_cached_answers_across_opens(tmp_path: Path) -> None:
    path = tmp_path / "calls.sqlite3"
    first = await SQLiteStore.open(path)
    await first.put_cached(answer("kept", expires_at=1e12))
    await first.aclose()
    second = await SQLiteStore.open(path)
    try:
        assert await second.get_cached("kept", now=1000.0) == answer("kept", expires_at=1e12)
    finally:
        await second.aclose()


# Calls across period edges: 2024 is a leap year, so Feb 29 and the Dec -> Jan turn are in.
def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


SPEND_CALLS = [
    record("p1", created_at=at("2024-02-29T23:59:59"), state=CallState.SUCCEEDED,
           attempts=1, cost_usd=0.1, result={"model": "m"}),
    record("p2", created_at=at("2024-02-29T00:00:00"), state=CallState.SUCCEEDED,
           attempts=1, cost_usd=0.2, result={"model": "m", "cached": False}),
    record("p3", created_at=at("2024-02-01T00:00:00"), state=CallState.FAILED,
           attempts=2, result={"model": "fb:x"}),  # cost unknown: not priced
    record("p4", created_at=at("2024-02-10T12:00:00"), state=CallState.SUCCEEDED,
           attempts=0, cost_usd=0.0, result={"model": "m", "cached": True}),  # cache hit
    record("p5", created_at=at("2024-02-15T00:00:00"), state=CallState.FAILED,
           attempts=0, result={"model": "fb:x"}),  # no process: priced at 0
    record("p6", created_at=at("2024-03-01T00:00:00"), state=CallState.SUCCEEDED,
           attempts=1, cost_usd=0.4, result={"model": "m"}),
    record("p7", created_at=at("2024-01-31T23:59:59"), state=CallState.SUCCEEDED,
           attempts=1, cost_usd=0.8),
    record("p8", created_at=at("2024-02-20T00:00:00"), state=CallState.RUNNING, cost_usd=9.0),
    record("p9", created_at=at("2023-12-31T23:00:00"), state=CallState.SUCCEEDED,
           attempts=1, cost_usd=1.6, result={"model": "n"}),
]  # fmt: skip
PERIOD_STARTS = [
    ("monthly", "2024-02-01"), ("monthly", "2024-01-01"), ("monthly", "2024-03-01"),
    ("monthly", "2023-12-01"), ("daily", "2024-02-29"), ("daily", "2024-01-31"),
    ("daily", "2024-02-15"), ("daily", "2024-03-01"), ("daily", "2024-02-28"),
]  # fmt: skip


def expected_spend(kind: str, start: float) -> list[ModelSpend]:
    """The pure sums over the calls created in the period: what every backend must give."""
    begin, end = period(kind, start)
    inside = [call for call in SPEND_CALLS if begin <= call.created_at < end]
    return spend_of(summarize(inside, group_by="model"))


async def write_spend_calls(store: CallStore) -> None:
    for call in SPEND_CALLS:
        queued = call.evolve(state=CallState.QUEUED, cost_usd=None, result=None, attempts=0)
        await store.add_call(queued)
        changes = {name: getattr(call, name) for name in ("state", "attempts", "result")}
        await store.update_call(call.call_id, cost_usd=call.cost_usd, **changes)


async def test_period_spend_sums_each_days_and_months_ended_calls(store: CallStore) -> None:
    """Per UTC day and calendar month: the known costs and priced calls per answering model,
    as the pure ledger sums them -- written twice, a record still counts once."""
    await write_spend_calls(store)
    await write_spend_calls(store)  # the same records again: no double count
    for kind, day in PERIOD_STARTS:
        assert await store.period_spend(kind, start=at(day)) == expected_spend(kind, at(day))
    february = await store.period_spend("monthly", start=at("2024-02-01"))
    assert february == [
        ModelSpend(model="fb:x", cost_usd=0.0, priced=1),
        ModelSpend(model="m", cost_usd=0.3, priced=2),
    ]
    assert await store.period_spend("daily", start=at("2024-05-05")) == []


async def test_period_spend_follows_a_corrected_record_and_a_purge(store: CallStore) -> None:
    """A record rewritten (a cost known later, a new add of the same id) moves the totals by
    the difference; purged calls leave them (they sum the records the store keeps)."""
    await write_spend_calls(store)
    await store.update_call("p1", cost_usd=0.5)
    await store.add_call(record("p2", created_at=at("2024-02-29T00:00:00")))  # queued again
    assert await store.period_spend("daily", start=at("2024-02-29")) == [
        ModelSpend(model="m", cost_usd=0.5, priced=1)
    ]
    assert await store.purge(before=at("2024-02-10T00:00:00")) == 3  # p3, p7, p9
    remaining = await store.period_spend("monthly", start=at("2024-02-01"))
    assert remaining == [
        ModelSpend(model="fb:x", cost_usd=0.0, priced=1),
        ModelSpend(model="m", cost_usd=0.5, priced=1),
    ]
    assert await store.period_spend("monthly", start=at("2024-01-01")) == []
    assert await store.period_spend("monthly", start=at("2023-12-01")) == []
