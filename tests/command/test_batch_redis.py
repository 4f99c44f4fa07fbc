"""Batches on Redis: `llminst batch FILE --store redis://...` queues the items, `llminst worker`
processes run them, and a worker that dies is replaced without any item completing twice.

A real redis-server per test (the `redis_server` fixture), real `llminst worker` processes, and
the stand-in CLI `batchcli.sh` that records every run in a file, so what ran is counted apart
from what the workers report. The queue-level tests drive `RedisBatchQueue` directly: a second
result for an item is refused, a dead worker's entry is claimed after the timeout, a renewed
one is not.
"""

from __future__ import annotations

import functools
import json
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from llminst._core.batchfile import BatchItem, BatchProgress, ItemResult
from llminst._core.records import CallOrigin
from llminst._core.spec import ModelSpec
from llminst.batch.queue import Claimed
from llminst.batch.redis import RedisBatchQueue, open_redis_batch_queue
from llminst.batch.worker import run_worker
from llminst.store import open_store
from llminst.supervisor import open_supervisor

from ..support.batch import (
    BATCHCLI,
    counted,
    results_by_id,
    write_batch_config,
    write_batch_file,
)
from ..support.monitor import call_record
from ..support.paths import LLMINST
from ..support.redis import RedisServer

CLAIM_TIMEOUT_S = 3.0


def llminst(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LLMINST, *args], capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )


def items(count: int) -> list[BatchItem]:
    return [BatchItem(item_id=f"i{n}", prompt=f"p{n}", model="fake") for n in range(count)]


async def batch_status(url: str, batch_id: str) -> dict[str, object]:
    """What ``llminst batch status ID --json`` says about a batch on Redis."""
    done = await trio.run_process(
        [*LLMINST, "batch", "status", batch_id, "--json", "--store", url], capture_stdout=True
    )
    status: dict[str, object] = json.loads(done.stdout)
    return status


@asynccontextmanager
async def worker(url: str, config: Path, name: str, log: Path) -> AsyncIterator[trio.Process]:
    with log.open("wb") as err:
        process = await trio.lowlevel.open_process(
            [*LLMINST, "worker", "--store", url, "--config", str(config), "--name", name,
             "--claim-timeout", str(CLAIM_TIMEOUT_S), "--parallel", "4",
             "--log-level", "info", "--log-format", "json"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )  # fmt: skip
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()


def events(log: Path, name: str) -> list[dict[str, object]]:
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == name:
                found.append(entry)
    return found


async def test_200_prompts_over_two_workers_one_killed_complete_once_each(
    tmp_path: Path, redis_server: RedisServer, report: Callable[..., None]
) -> None:
    fake = write_batch_config(tmp_path, sleep_s=0.2)
    url = redis_server.url
    batch_file = write_batch_file(tmp_path / "b.jsonl", 200)
    queued = llminst("batch", str(batch_file), "--model", "fake", "--id", "big", "--store", url)
    assert queued.returncode == 0, queued.stderr
    assert queued.stdout == "big\n"
    started = time.monotonic()
    async with (
        worker(url, fake.config, "wA", tmp_path / "wA.log") as first,
        worker(url, fake.config, "wB", tmp_path / "wB.log") as second,
    ):
        with trio.fail_after(120):
            await wait_for_progress(url, "big", lambda progress: progress.done >= 80)
            await wait_for_running_on(url, "big", "wA")
            first.send_signal(signal.SIGKILL)  # mid-call: its entries stay pending
            await first.wait()
            held_by_first = await _running_on(url, "big", "wA", unfinished=True)
            killed_at = time.monotonic()
            await wait_for_progress(url, "big", lambda progress: progress.finished)
            took = time.monotonic() - started
            second.send_signal(signal.SIGTERM)
            await second.wait()
    assert second.returncode == 128 + signal.SIGTERM
    assert held_by_first, "worker A ran items when it was killed"
    status = await batch_status(url, "big")  # what `batch status` on Redis says
    assert status["finished"] is True and status["succeeded"] == 200, status

    results = llminst("batch", "results", "big", "--store", url)
    by_id = results_by_id(results.stdout)
    assert sorted(by_id) == sorted(f"item-{n}" for n in range(200))
    assert all(len(rows) == 1 and rows[0]["state"] == "succeeded" for rows in by_id.values())
    for item_id in held_by_first:  # what A held when it died, B finished
        assert by_id[item_id][0]["worker"] == "wB"
    workers = {str(rows[0]["worker"]) for rows in by_id.values()}
    assert workers == {"wA", "wB"}
    # The workers record their calls in the same Redis: any replica can show any item's call.
    async with open_store(url) as store:
        for rows in by_id.values():
            record = await store.get_call(str(rows[0]["call_id"]))
            assert record is not None and record.origin is CallOrigin.BATCH
            assert await store.read_output(record.call_id) == rows[0]["answer"]
    started_runs = counted(fake.runs, "start")
    assert set(started_runs) == {f"prompt-{n}" for n in range(200)}
    twice = sorted(prompt for prompt, times in started_runs.items() if times > 1)
    duplicates = events(tmp_path / "wB.log", "llminst.batch.duplicate_result")
    assert duplicates == []  # B never finished an item A had already completed
    report(
        f"200-prompt batch over 2 workers, A SIGKILLed at 80+ done holding {len(held_by_first)} "
        f"item(s): 200/200 completed once each in {took:.1f} s ({time.monotonic() - killed_at:.1f}"
        f" s after the kill); {len(twice)} item(s) ran twice (A's in-flight calls), 0 "
        "completed twice",
        ran_twice=len(twice),
        held_at_kill=len(held_by_first),
    )
    assert len(twice) <= len(held_by_first) + 4  # at most A's in-flight items (--parallel 4)


async def wait_for_running_on(url: str, batch_id: str, name: str) -> None:
    while True:
        if await _running_on(url, batch_id, name):
            return
        await trio.sleep(0.1)


async def wait_for_progress(
    url: str, batch_id: str, reached: Callable[[BatchProgress], bool]
) -> None:
    """Until the batch's progress is `reached`, read in this process: a `batch status`
    command per poll cost the workers the CPU of a Python start-up every 0.2 s."""
    async with open_redis_batch_queue(url) as queue:
        while True:
            progress = await queue.progress(batch_id)
            if progress is not None and reached(progress):
                return
            await trio.sleep(0.05)


async def freeze_while_running(
    process: trio.Process, url: str, batch_id: str, name: str
) -> list[str]:
    """SIGSTOP `process` at a moment it runs items; those items (not those it completed but had
    not yet acknowledged)."""
    while True:
        await wait_for_running_on(url, batch_id, name)
        process.send_signal(signal.SIGSTOP)  # frozen, not dead: its calls run on
        held = await _running_on(url, batch_id, name, unfinished=True)
        if held:
            return held
        process.send_signal(signal.SIGCONT)  # caught between items: try again
        await trio.sleep(0.1)


async def wait_for_events(log: Path, name: str, expected: list[str]) -> None:
    while True:
        if len(events(log, name)) >= len(expected):
            return
        await trio.sleep(0.2)


async def _running_on(url: str, batch_id: str, name: str, *, unfinished: bool = False) -> list[str]:
    async with open_redis_batch_queue(url) as queue:
        running = await queue.running_on(batch_id, name)
        if unfinished:
            return [item for item in running if not await queue.is_done(batch_id, item)]
        return running


async def test_a_second_result_for_an_item_is_refused(redis_server: RedisServer) -> None:
    async with open_redis_batch_queue(redis_server.url) as queue:
        await queue.create("b", items(2), source="t", now=time.time())
        claimed = await queue.take("w1", claim_after_s=60, block_s=1)
        assert claimed is not None and claimed.item.item_id == "i0"
        first = ItemResult(item_id="i0", model="fake", state="succeeded", answer="1", worker="w1")
        again = ItemResult(item_id="i0", model="fake", state="succeeded", answer="2", worker="w2")
        assert await queue.complete(claimed, first)
        assert not await queue.complete(claimed, again)
        assert await queue.results("b") == [first]
        assert await queue.is_done("b", "i0")


async def test_a_dead_workers_entry_is_claimed_after_the_timeout_a_renewed_one_is_not(
    redis_server: RedisServer,
) -> None:
    claim_after_s = 3.0
    async with (
        open_redis_batch_queue(redis_server.url) as alive,
        open_redis_batch_queue(redis_server.url) as other,
    ):
        await alive.create("b", items(2), source="t", now=time.time())
        renewed = await alive.take("alive", claim_after_s=claim_after_s, block_s=1)
        abandoned = await alive.take("dead", claim_after_s=claim_after_s, block_s=1)
        assert renewed is not None and abandoned is not None
        assert await other.take("other", claim_after_s=claim_after_s, block_s=0.1) is None
        await trio.sleep(claim_after_s + 1)
        assert await alive.renew("alive", [renewed.handle]) == []  # as run_worker does
        taken = await other.take("other", claim_after_s=claim_after_s, block_s=0.1)
        assert taken is not None and taken.item.item_id == abandoned.item.item_id
        assert await other.take("other", claim_after_s=claim_after_s, block_s=0.1) is None
        # The dead one wakes up: renewing tells it the entry is another's, and leaves it there.
        assert await alive.renew("dead", [abandoned.handle]) == [abandoned.handle]
        await trio.sleep(claim_after_s + 1)
        assert await other.renew("other", [taken.handle]) == []
        assert await alive.renew("alive", [renewed.handle]) == []
        assert await alive.take("dead", claim_after_s=claim_after_s, block_s=0.1) is None


async def test_a_frozen_worker_is_replaced_and_its_late_results_are_dropped(
    tmp_path: Path, redis_server: RedisServer, report: Callable[..., None]
) -> None:
    fake = write_batch_config(tmp_path, sleep_s=1.0)  # a worker is mostly mid-call
    url = redis_server.url
    batch_file = write_batch_file(tmp_path / "b.jsonl", 20)
    queued = llminst("batch", str(batch_file), "--model", "fake", "--id", "fz", "--store", url)
    assert queued.returncode == 0, queued.stderr
    async with (
        worker(url, fake.config, "wA", tmp_path / "wA.log") as first,
        worker(url, fake.config, "wB", tmp_path / "wB.log") as second,
    ):
        with trio.fail_after(120):
            await wait_for_progress(url, "fz", lambda progress: progress.done >= 4)
            held_by_first = await freeze_while_running(first, url, "fz", "wA")
            await wait_for_progress(url, "fz", lambda progress: progress.finished)
            first.send_signal(signal.SIGCONT)
            await wait_for_events(
                tmp_path / "wA.log", "llminst.batch.duplicate_result", held_by_first
            )
            for process in (first, second):
                process.send_signal(signal.SIGTERM)
                await process.wait()
    assert held_by_first, "worker A ran items when it was frozen"
    by_id = results_by_id(llminst("batch", "results", "fz", "--store", url).stdout)
    assert sorted(by_id) == sorted(f"item-{n}" for n in range(20))
    assert all(len(rows) == 1 for rows in by_id.values())
    for item_id in held_by_first:
        assert by_id[item_id][0]["worker"] == "wB"  # B's result came first and stays
    late = events(tmp_path / "wA.log", "llminst.batch.duplicate_result")
    assert sorted(str(entry["item"]) for entry in late) == held_by_first
    report(
        f"worker A frozen (SIGSTOP) holding {len(held_by_first)} item(s): B took them over "
        f"after the {CLAIM_TIMEOUT_S:g} s claim timeout; A's late results dropped: {len(late)}",
    )


async def test_serve_with_worker_runs_batch_items_through_the_servers_supervisor(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    fake = write_batch_config(tmp_path)
    url = redis_server.url
    store = tmp_path / "serve.sqlite3"
    batch_file = write_batch_file(tmp_path / "b.jsonl", 10)
    queued = llminst("batch", str(batch_file), "--model", "fake", "--id", "sw", "--store", url)
    assert queued.returncode == 0, queued.stderr
    server = await trio.lowlevel.open_process(
        [*LLMINST, "serve", "--config", str(fake.config), "--store", str(store),
         "--worker", url, "--claim-timeout", str(CLAIM_TIMEOUT_S)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with trio.fail_after(120):
            await wait_for_progress(url, "sw", lambda progress: progress.finished)
    finally:
        assert server.stdin is not None
        await server.stdin.aclose()  # the client goes: the stdio server ends
        with trio.fail_after(60):
            await server.wait()
    assert server.returncode == 0
    by_id = results_by_id(llminst("batch", "results", "sw", "--store", url).stdout)
    assert len(by_id) == 10
    for rows in by_id.values():
        (row,) = rows
        assert str(row["worker"]).endswith(f"-{server.pid}")  # the server's own worker
        assert await call_record(store, str(row["call_id"])) is not None


async def test_a_worker_rides_out_a_redis_restart_and_loses_no_answer(
    tmp_path: Path, report: Callable[..., None]
) -> None:
    fake = write_batch_config(tmp_path, sleep_s=0.5)
    batch_file = write_batch_file(tmp_path / "b.jsonl", 30)
    with RedisServer(tmp_path / "redis", appendonly=True) as redis:
        url = redis.url
        queued = llminst("batch", str(batch_file), "--model", "fake", "--id", "rr", "--store", url)
        assert queued.returncode == 0, queued.stderr
        log = tmp_path / "w.log"
        async with worker(url, fake.config, "w", log) as process:
            with trio.fail_after(120):
                await wait_for_progress(url, "rr", lambda progress: progress.done >= 5)
                redis.stop()  # calls go on; their results wait for Redis
                await wait_for_events(log, "llminst.batch.redis_unreachable", ["seen"])
                await trio.sleep(CLAIM_TIMEOUT_S)  # longer than a claim: no renewal got through
                redis.start()
                await wait_for_progress(url, "rr", lambda progress: progress.finished)
                process.send_signal(signal.SIGTERM)
                await process.wait()
        by_id = results_by_id(llminst("batch", "results", "rr", "--store", url).stdout)
    assert process.returncode == 128 + signal.SIGTERM
    assert sorted(by_id) == sorted(f"item-{n}" for n in range(30))
    assert all(len(rows) == 1 and rows[0]["state"] == "succeeded" for rows in by_id.values())
    outages = events(log, "llminst.batch.redis_unreachable")
    assert outages, "the worker saw Redis go"
    twice = [prompt for prompt, times in counted(fake.runs, "start").items() if times > 1]
    assert twice == []  # nothing was lost, so nothing ran again
    report(f"Redis restarted mid-batch: 30/30 completed once, {len(outages)} retry line(s)")


async def test_an_entry_whose_item_has_its_result_is_acknowledged_without_running(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    fake = write_batch_config(tmp_path)
    spec = ModelSpec(name="fake", command=("sh", BATCHCLI), env={"BATCHCLI_RUNS": str(fake.runs)})
    async with (
        open_redis_batch_queue(redis_server.url) as queue,
        open_supervisor(models={"fake": spec}) as supervisor,
    ):
        first, second = items(2)
        await queue.create("d", [first, second], source="t", now=time.time())
        elsewhere = ItemResult(item_id="i0", model="fake", state="succeeded", worker="other")
        assert await queue.complete(Claimed("d", first), elsewhere)  # a duplicate delivery
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                functools.partial(
                    run_worker, queue, supervisor, worker="w", parallel=2, claim_after_s=60,
                    block_s=0.2,
                )
            )  # fmt: skip
            with trio.fail_after(120):
                await wait_until_drained(queue, "d")
            nursery.cancel_scope.cancel()
        assert [result.worker for result in await queue.results("d")] == ["other", "w"]
    assert counted(fake.runs, "start") == {"p1": 1}  # i0 never ran


async def wait_until_drained(queue: RedisBatchQueue, batch_id: str) -> None:
    """Until the batch is finished and every entry taken is acknowledged."""
    while True:
        progress = await queue.progress(batch_id)
        if progress is not None and progress.finished and await queue.unacknowledged() == 0:
            return
        await trio.sleep(0.1)
