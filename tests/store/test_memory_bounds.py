"""The in-memory store stays bounded: a long-lived library process does not grow without end."""

from __future__ import annotations

from llminst._core.records import CallRecord, CallState
from llminst.store import MemoryStore


def record(n: int, state: CallState = CallState.SUCCEEDED) -> CallRecord:
    return CallRecord(call_id=f"c{n}", model="echo", state=state, created_at=float(n))


async def test_the_oldest_finished_calls_go_first_past_max_calls() -> None:
    store = MemoryStore(max_calls=3)
    await store.add_call(record(0, CallState.RUNNING))  # oldest, but running: kept
    for n in range(1, 5):
        await store.add_call(record(n))
    kept = [r.call_id for r in await store.list_calls(limit=10)]
    assert kept == ["c4", "c3", "c0"]


async def test_output_beyond_max_output_chars_drops_the_oldest_finished_calls() -> None:
    store = MemoryStore(max_output_chars=100)
    for n in range(3):
        await store.add_call(record(n))
        await store.append_output(f"c{n}", "é" * 40)
    assert [r.call_id for r in await store.list_calls()] == ["c2", "c1"]
    assert await store.read_output("c0") == ""
    assert await store.read_output("c2", 38) == "éé"
    await store.reset_output("c2")
    await store.add_call(record(3))
    await store.append_output("c3", "x" * 60)  # 40 (c1) + 60: within the bound again
    assert [r.call_id for r in await store.list_calls()] == ["c3", "c2", "c1"]
