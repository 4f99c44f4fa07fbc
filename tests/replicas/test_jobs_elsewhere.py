"""A job another replica runs is long-polled here: `jobs.wait_for_news` (get_llm_result's
``wait_s``) waits in the store until its output grows or it ends, instead of returning at once.
Real redis-server, a real replica process, a real gated fakecli."""

from __future__ import annotations

import sys
from pathlib import Path

import trio

from llminst import open_supervisor

from ..support.paths import FAKECLI
from ..support.redis import RedisServer
from .conftest import FAST, local_replica, replica_process


async def test_a_long_poll_on_b_waits_for_news_of_a_job_on_a(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    store_path = tmp_path / "calls.sqlite3"
    config = {
        "redis": redis_server.url,
        "store": str(store_path),
        "settings": FAST,
        "model": "fake",
        "prompt": "x",
        "command": {"command": [sys.executable, FAKECLI, "gated", str(gate), "exit"]},
    }
    async with (
        replica_process(tmp_path, config) as (_replica, line),
        local_replica(redis_server.url, store_path, "replica-b:1:1") as (link, store),
        open_supervisor(store=store, replicas=link) as sup,
    ):
        call_id = line["call_id"]
        record = await store.get_call(call_id)
        assert record is not None and record.output_chars == len("before\n")
        answered = trio.Event()

        async def long_poll() -> None:
            await sup.jobs.wait_for_news(call_id, record.output_chars)
            answered.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(long_poll)
            with trio.move_on_after(1.0):  # nothing new can come before the gate opens
                await answered.wait()
            assert not answered.is_set(), "the long-poll returned with no news"
            gate.write_text("")
            with trio.fail_after(60):
                await answered.wait()
        after = await store.get_call(call_id)
    assert after is not None and (after.output_chars > len("before\n") or after.state.done)
