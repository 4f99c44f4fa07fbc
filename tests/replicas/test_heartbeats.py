"""A replica that dies: its running calls become `interrupted` on the others once its
heartbeat lapses, with their partial output; a live writer's calls are never touched.
Real redis-server, real replica processes (SIGKILLed), a real SQLite store shared by both."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import coredis
import trio

from llminst import open_supervisor
from llminst._core.records import CallOrigin, CallRecord, CallState
from llminst.replicas import heartbeats
from llminst.replicas.health import StoreHealth
from llminst.store import MemoryStore

from ..support import procs
from ..support.redis import RedisServer
from .conftest import FAST, local_replica, replica_process

SLOW_WORDS = "[[echo:delay=0.3]] " + " ".join(f"w{i}" for i in range(400))


def _record(call_id: str, writer: str | None) -> CallRecord:
    return CallRecord(
        call_id=call_id,
        model="echo",
        state=CallState.RUNNING,
        origin=CallOrigin.LIBRARY,
        created_at=time.time(),
        writer=writer,
    )


async def test_a_sweep_interrupts_only_calls_whose_writer_stopped_beating(
    redis_server: RedisServer,
) -> None:
    client = coredis.Redis.from_url(redis_server.url, decode_responses=True)
    async with client:
        beating = heartbeats.Heartbeat(
            client, "alive:1:1", prefix="t", lease_s=60, every_s=20, health=StoreHealth()
        )
        assert await beating.beat()
        store = MemoryStore()
        for call_id, writer in [("a", "alive:1:1"), ("b", "gone:2:2"), ("c", None)]:
            await store.add_call(_record(call_id, writer))
        await store.append_output("b", "partial")
        assert await heartbeats.sweep(store, client, prefix="t") == 2
        states = {r.call_id: r.state for r in await store.list_calls()}
        assert states == {
            "a": CallState.RUNNING,
            "b": CallState.INTERRUPTED,
            "c": CallState.INTERRUPTED,
        }
        assert await store.read_output("b") == "partial"
        await beating.stop()  # a clean close drops the key: its calls are swept next time
        assert await heartbeats.lapsed_writers(client, "t", {"alive:1:1"}) == {"alive:1:1"}


async def test_a_sigkilled_replicas_call_is_interrupted_by_another_with_its_output(
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
            async with open_supervisor(store=store, replicas=link):
                record = await store.get_call(line["call_id"])
                assert record is not None and record.state is CallState.RUNNING
                assert record.writer == line["writer"]
                replica.kill()  # SIGKILL: no goodbye, its heartbeat key just stops being renewed
                await replica.wait()
                killed_at = trio.current_time()
                with trio.fail_after(60):
                    while record.state is CallState.RUNNING:
                        await trio.sleep(0.05)
                        record = await store.get_call(line["call_id"])
                        assert record is not None
                noticed_s = trio.current_time() - killed_at
            output = await store.read_output(line["call_id"])
    _kill_orphan(cli)
    assert record.state is CallState.INTERRUPTED and record.finished_at is not None
    assert output.startswith("w0 ") and len(output) == record.output_chars
    print(f"interrupted {noticed_s:.2f} s after the SIGKILL (lease {FAST['heartbeat_lease_s']} s)")


def _kill_orphan(pid: int) -> None:
    """The dead replica's CLI outlived it (as on a real machine that lost only llminst)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)  # it leads its own session
