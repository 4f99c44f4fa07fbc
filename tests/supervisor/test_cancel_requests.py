"""A cancel request in the store (written by another process: `llminst cancel`, `llminst top`)
ends the call it names in the supervisor that runs it: state cancelled, partial output kept,
the CLI's tree killed and reaped. Real echo processes through a real supervisor.
"""

from __future__ import annotations

import time

import trio

from llminst import open_supervisor
from llminst._core.records import CallState
from llminst.store import MemoryStore
from llminst.supervisor.cancels import POLL_INTERVAL_S

from ..support import procs

SLOW_WORDS = "[[echo:delay=0.5]] " + " ".join(f"w{i}" for i in range(400))


async def test_a_cancel_request_ends_the_named_call_and_kills_its_tree() -> None:
    store = MemoryStore()
    with trio.fail_after(60):
        async with open_supervisor(store=store, watch_cancels=True) as sup:
            async with sup.open_stream("echo", SLOW_WORDS, timeout=600) as stream:
                events = stream.events()
                await events.__anext__()  # the attempt started: the CLI runs
                pid = procs.child_with("llminst.echo")
                (record,) = await store.list_calls()
                await store.request_cancel(record.call_id, now=time.time())
                async for _ in events:  # the stream ends: the call was cancelled
                    pass
                assert stream.error is not None
                assert "at the request of another process" in str(stream.error)
            await sup.flushed()
            assert procs.state(pid) in (None, "Z")  # killed and reaped (or a zombie of init)
    record = await store.get_call(record.call_id)
    assert record is not None and record.state is CallState.CANCELLED
    assert record.finished_at is not None


async def test_a_request_for_another_call_changes_nothing() -> None:
    """Only the named call ends (the call outlives several polls)."""
    store = MemoryStore()
    await store.request_cancel("someone-elses-call", now=0.0)
    async with open_supervisor(store=store, watch_cancels=True) as sup:
        result = await sup.run("echo", f"[[echo:sleep={POLL_INTERVAL_S * 3}]] still here")
    assert result.output == "still here"
    (record,) = await store.list_calls()
    assert record.state is CallState.SUCCEEDED


async def test_a_memory_store_is_not_polled_unless_asked() -> None:
    """No other process can write a memory store: by default nobody reads it for cancels."""
    store = MemoryStore()
    async with (
        open_supervisor(store=store) as sup,
        sup.open_stream("echo", SLOW_WORDS, timeout=600) as stream,
    ):
        events = stream.events()
        await events.__anext__()
        (record,) = await store.list_calls()
        await store.request_cancel(record.call_id, now=time.time())
        await trio.sleep(POLL_INTERVAL_S * 4)
        assert not stream.done
