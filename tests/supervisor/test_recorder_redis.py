"""Recording calls in a Redis store: a call's queued writes go to the server as one pipeline
(one round trip), in order, with each write still its own script. Real echo processes through
a real supervisor, on a real redis-server of the test's own."""

from __future__ import annotations

from typing import Any

import pytest
import structlog

from llminst import open_supervisor
from llminst._core.records import CallRecord, CallState
from llminst.store.redis import RedisStore
from llminst.supervisor.recorder import Recorder

from ..support.redis import RedisServer


async def test_a_calls_queued_writes_reach_redis_in_one_round_trip(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (api-redis +2.11 ms a call over SQLite): each queued write was its own
    round trip (a call's record, start, output and end: four). A run of a call's writes
    queued together now goes as one pipeline."""
    store = await RedisStore.open(redis_server.url)
    try:
        async with open_supervisor(store=store) as sup:
            await sup.run("echo", "warm up")
            await sup.flushed()
            trips = _count_round_trips(store, monkeypatch)
            for n in range(10):
                await sup.run("echo", f"call {n}")
            await sup.flushed()
            records = await store.list_calls(limit=20)
        # was 40 single scripts: the text and the end of each call now go together
        assert trips.count("pipeline") >= 10 and len(trips) < 4 * 10
        assert [r.state for r in records] == [CallState.SUCCEEDED] * 11
        for n, record in zip(reversed(range(10)), records, strict=False):
            assert await store.read_output(record.call_id) == f"call {n}"
            assert record.output_chars == len(f"call {n}") and record.exit_code == 0
    finally:
        await store.aclose()


async def test_a_write_failing_in_a_redis_pipeline_loses_only_itself(
    redis_server: RedisServer,
) -> None:
    """Each write in a pipeline is its own script: one the server refuses (an update of a
    field its script cannot store) is logged, and the writes before and after it are kept."""
    store = await RedisStore.open(redis_server.url)
    try:
        recorder = Recorder(store)
        record = CallRecord(call_id="c-1", model="echo", state=CallState.QUEUED, created_at=1.0)
        recorder._enqueue(lambda: store.add_call(record))
        recorder._enqueue(lambda: store.append_output("c-1", "hello "))
        recorder._enqueue(lambda: store.update_call("c-1", no_such_field=1))
        recorder._enqueue(lambda: store.append_output("c-1", "world"))
        recorder._enqueue(lambda: store.update_call("c-1", state=CallState.SUCCEEDED))
        with structlog.testing.capture_logs() as logs:
            await recorder.drain()
        found = await store.get_call("c-1")
        assert found is not None and found.state is CallState.SUCCEEDED
        assert await store.read_output("c-1") == "hello world"
        assert found.output_chars == len("hello world")
        (failed,) = [e for e in logs if e["event"] == "llminst.store.write_failed"]
        assert "no_such_field" in failed["error"]
    finally:
        await store.aclose()


def _count_round_trips(store: RedisStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The recorder's round trips from now on: ``script`` for a write sent alone,
    ``pipeline`` for a run sent together."""
    trips: list[str] = []
    script = store._script
    pipeline = store._redis.pipeline

    def counted_script(source: str) -> Any:
        trips.append("script")
        return script(source)

    def counted_pipeline(*args: Any, **kwargs: Any) -> Any:
        trips.append("pipeline")
        return pipeline(*args, **kwargs)

    monkeypatch.setattr(store, "_script", counted_script)
    monkeypatch.setattr(store._redis, "pipeline", counted_pipeline)
    return trips
