"""Cancel from anywhere: a cancel published by one replica ends the call on the replica that
runs it at once (no store poll involved), its tree killed and reaped; the latency is measured
and reported, not bet on. Real redis-server, a real replica process, real echo CLI."""

from __future__ import annotations

from pathlib import Path

import trio

from llminst import open_supervisor
from llminst._core.records import CallRecord, CallState
from llminst.store.base import CallStore

from ..support import procs
from ..support.redis import RedisServer
from .conftest import FAST, local_replica, replica_process

SLOW_WORDS = "[[echo:delay=0.3]] " + " ".join(f"w{i}" for i in range(400))


async def test_a_cancel_published_on_b_kills_the_tree_on_a(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    store_path = tmp_path / "calls.sqlite3"
    config = {
        "redis": redis_server.url,
        "store": str(store_path),
        "settings": FAST,
        "model": "echo",
        "prompt": SLOW_WORDS,
    }
    async with replica_process(tmp_path, config) as (replica, line):
        cli = procs.child_with("llminst.echo", parent_pid=replica.pid)
        async with local_replica(redis_server.url, store_path, "replica-b:1:1") as (link, store):
            # Only the bus: nothing is written to the store, so A's polling cannot see it.
            asked_at = trio.current_time()
            await link.publish_cancel(line["call_id"])
            with trio.fail_after(60):
                while procs.state(cli) not in (None, "Z"):  # noqa: ASYNC110 - /proc has no event
                    await trio.sleep(0.005)
            latency_s = trio.current_time() - asked_at
            record = await _ended(store, line["call_id"])
        assert replica.returncode is None  # A lives on: only its call ended
    assert record.state is CallState.CANCELLED
    assert (record.error or "").find("at the request of another process") >= 0
    print(f"cancel published on B -> tree on A gone in {latency_s * 1000:.0f} ms")


async def _ended(store: CallStore, call_id: str) -> CallRecord:
    """The call's record once the replica running it wrote its end."""
    with trio.fail_after(60):
        while True:
            record = await store.get_call(call_id)
            if record is not None and record.state.done:
                return record
            await trio.sleep(0.05)


async def test_supervisor_cancel_on_b_ends_a_call_running_on_a(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """What cancel_llm does on a replica that does not run the call: the request goes through
    the store and the bus, and B returns once A recorded the call cancelled."""
    store_path = tmp_path / "calls.sqlite3"
    config = {
        "redis": redis_server.url,
        "store": str(store_path),
        "settings": FAST,
        "model": "echo",
        "prompt": SLOW_WORDS,
    }
    async with replica_process(tmp_path, config) as (replica, line):
        cli = procs.child_with("llminst.echo", parent_pid=replica.pid)
        async with (
            local_replica(redis_server.url, store_path, "replica-b:1:1") as (link, store),
            open_supervisor(store=store, replicas=link) as sup,
        ):
            assert await sup.cancel(line["call_id"])
            assert procs.state(cli) in (None, "Z")
            record = await store.get_call(line["call_id"])
            assert not await sup.cancel(line["call_id"])  # already over: nothing to do
    assert record is not None and record.state is CallState.CANCELLED
    assert record.output_chars > 0  # its partial output kept
