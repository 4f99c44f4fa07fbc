"""The replicas' mechanisms on the Redis store itself (`--store redis://`): a SIGKILLed
`llminst run` leaves its call `interrupted` with its output once its heartbeat lapses; a
cancel asked through the store reaches the running replica at once; and a Redis restarted
(empty) or killed and started again mid-call costs neither the answer nor its record. Real
redis-server, real `llminst run` processes, real echo CLI."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import trio
from structlog.testing import capture_logs

from llminst import Settings, open_supervisor
from llminst._core.records import CallRecord, CallState
from llminst.store.base import CallStore
from llminst.store.opening import open_store

from ..support import procs
from ..support.paths import LLMINST
from ..support.redis import RedisServer

FAST = Settings(heartbeat_lease_s=1.0, heartbeat_every_s=0.2, replica_sweep_s=0.2)
FAST_TOML = "[settings]\nheartbeat_lease_s = 1.0\nheartbeat_every_s = 0.2\nreplica_sweep_s = 0.2\n"
WORDS = " ".join(f"w{i}" for i in range(60))


async def _record_where(store: CallStore, condition: Callable[[CallRecord], bool]) -> CallRecord:
    """The first call record of the store that meets `condition`, polled (another process
    writes it)."""
    with trio.fail_after(60):
        while True:
            for record in await store.list_calls(limit=50):
                if condition(record):
                    return record
            await trio.sleep(0.05)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


async def test_a_sigkilled_llminst_run_is_interrupted_by_another_replica(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(FAST_TOML)
    argv = [*LLMINST, "--config", str(config), "run", "--store", redis_server.url]
    prompt = "[[echo:delay=0.3]] " + WORDS
    runner = await trio.lowlevel.open_process(
        [*argv, "echo", prompt], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    cli = None
    try:
        async with (
            open_store(redis_server.url) as store,
            open_supervisor(store=store, settings=FAST),
        ):
            running = await _record_where(store, lambda r: r.output_chars > 0)
            cli = procs.child_with("llminst.echo", parent_pid=runner.pid)
            runner.kill()  # SIGKILL: its heartbeat key is left to expire
            await runner.wait()
            killed_at = trio.current_time()
            ended = await _record_where(
                store, lambda r: r.call_id == running.call_id and r.state.done
            )
            noticed_s = trio.current_time() - killed_at
            output = await store.read_output(ended.call_id)
    finally:
        if runner.returncode is None:
            runner.kill()
            await runner.wait()
        if cli is not None:
            _kill_group(cli)  # the dead replica's CLI outlived it
    assert ended.state is CallState.INTERRUPTED and ended.writer == running.writer
    assert output.startswith("w0 ") and len(output) == ended.output_chars
    print(f"a SIGKILLed llminst run's call was interrupted {noticed_s:.2f} s later (lease 1 s)")


async def test_a_cancel_asked_through_the_store_reaches_the_running_replica_at_once(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """What `llminst cancel` does (`CallStore.request_cancel`) on a Redis store also publishes
    the request: the call ends without waiting for a poll."""
    async with (
        open_store(redis_server.url) as store,
        open_supervisor(store=store, settings=FAST, watch_cancels=False) as sup,
        sup.open_stream("echo", "[[echo:delay=0.3]] " + WORDS, timeout=600) as stream,
    ):
        await stream.events().__anext__()
        cli = procs.child_with("llminst.echo")
        await sup.flushed()
        (record,) = await store.list_calls(states=[CallState.RUNNING])
        async with open_store(redis_server.url) as elsewhere:  # another process's handle
            asked_at = trio.current_time()
            await elsewhere.request_cancel(record.call_id, now=time.time())
        with trio.fail_after(60):
            async for _ in stream.events():
                pass
        latency_s = trio.current_time() - asked_at
        assert procs.state(cli) in (None, "Z")
    assert "at the request of another process" in str(stream.error)
    print(f"llminst cancel through the Redis store -> tree gone in {latency_s * 1000:.0f} ms")


async def _call_through_outage(
    redis_server: RedisServer, outage: Callable[[], object], *, back: Callable[[], object]
) -> tuple[str, CallRecord | None, str, list[str]]:
    """Run a streaming echo call on the Redis store, with `outage` mid-call and `back` once
    the call has answered; the answer, and the record and output the store holds after."""
    with capture_logs() as logs:
        async with (
            open_store(redis_server.url) as store,
            open_supervisor(store=store, settings=FAST) as sup,
        ):
            async with sup.open_stream("echo", "[[echo:delay=0.1]] " + WORDS, timeout=600) as s:
                events = s.events()
                await events.__anext__()  # running, its record written
                await events.__anext__()  # some text streamed
                outage()
                async for _ in events:
                    pass
            answer = s.result.output
            back()
            with trio.fail_after(60):
                while sup.store_health.degraded or sup.store_health.outages == 0:  # noqa: ASYNC110
                    await trio.sleep(0.05)
            await sup.flushed()
            (record,) = await store.list_calls(limit=5)
            output = await store.read_output(record.call_id)
    return answer, record, output, [entry["event"] for entry in logs]


async def test_redis_restarted_empty_mid_call_costs_neither_answer_nor_record(
    redis_server: RedisServer,
) -> None:
    answer, record, output, events = await _call_through_outage(
        redis_server, redis_server.restart, back=lambda: None
    )
    assert answer == WORDS
    assert record is not None and record.state is CallState.SUCCEEDED
    assert output == answer and record.output_chars == len(answer)
    assert "llminst.store.call_rewritten" in events


async def test_redis_killed_then_started_mid_call_costs_neither_answer_nor_record(
    redis_server: RedisServer,
) -> None:
    answer, record, output, events = await _call_through_outage(
        redis_server, redis_server.kill, back=redis_server.start
    )
    assert answer == WORDS
    assert record is not None and record.state is CallState.SUCCEEDED
    assert output == answer and record.output_chars == len(answer)
    assert events.count("llminst.store.degraded") == 1
    assert events.count("llminst.store.recovered") == 1
