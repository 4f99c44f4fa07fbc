"""Every call leaves a record in the store: states, output as it streams, the final result.

Real processes (the echo CLI) through a real supervisor; the store is the in-memory backend or
one that fails on purpose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import structlog
import trio
import trio.testing

from llminst import BackoffPolicy, LLMError, open_supervisor
from llminst._core.records import CallOrigin, CallRecord, CallState
from llminst.store import MemoryStore, SQLiteStore
from llminst.supervisor.recorder import Recorder, writer_alive, writer_identity

FAST_BACKOFF = BackoffPolicy(initial_s=0.01, maximum_s=0.05, multiplier=2.0, jitter_s=0.0)


async def only_call(store: MemoryStore) -> Any:
    (record,) = await store.list_calls()
    return record


async def test_a_call_is_recorded_with_its_output_and_result() -> None:
    store = MemoryStore()
    async with open_supervisor(store=store, origin=CallOrigin.RUN) as sup:
        result = await sup.run("echo", "hello recorder")
        await sup.flushed()
        record = await only_call(store)
    assert record.state is CallState.SUCCEEDED and record.origin is CallOrigin.RUN
    assert record.prompt == "hello recorder" and record.model == "echo"
    assert record.exit_code == 0 and record.attempts == 1
    assert record.writer == writer_identity()
    assert record.created_at <= record.started_at <= record.finished_at
    assert await store.read_output(record.call_id) == result.output == "hello recorder"
    assert record.output_chars == len(result.output)
    assert record.result is not None and "output" not in record.result
    assert record.result["success"] is True


async def test_output_is_stored_while_the_call_runs() -> None:
    """A streaming call's text reaches the store before the call ends (a crash keeps it)."""
    store = MemoryStore()
    prompt = "[[echo:delay=0.05]] " + " ".join(f"w{i}" for i in range(200))
    async with open_supervisor(store=store) as sup, sup.open_stream("echo", prompt) as stream:
        async for _ in stream.events():
            await sup.flushed()
            record = await only_call(store)
            if record.output_chars > 0:
                break
        assert record.state is CallState.RUNNING
        assert (await store.read_output(record.call_id)).startswith("w0")
    record = await only_call(store)
    assert record.state is CallState.CANCELLED  # the stream's block was left early


async def test_a_retried_call_keeps_only_its_last_attempts_output(echo_state: Any) -> None:
    store = MemoryStore()
    async with open_supervisor(store=store, backoff=FAST_BACKOFF) as sup:
        result = await sup.run("echo", "[[echo:rate-limit=2]] hello again")
    record = await only_call(store)  # the block's end wrote everything
    assert record.attempts == 3 and record.state is CallState.SUCCEEDED
    assert await store.read_output(record.call_id) == result.output == "hello again"


async def test_a_failed_call_records_its_error() -> None:
    store = MemoryStore()
    async with open_supervisor(store=store) as sup:
        with pytest.raises(LLMError) as caught:
            await sup.run("echo", "[[echo:exit=3]] nope")
    record = await only_call(store)
    assert record.state is CallState.FAILED
    assert record.error_kind == caught.value.kind == "process_failed"
    assert record.exit_code == 3 and record.error


async def test_prompts_are_not_kept_when_told_so() -> None:
    store = MemoryStore()
    async with open_supervisor(store=store, keep_prompts=False) as sup:
        await sup.run("echo", "secret prompt")
    record = await only_call(store)
    assert record.prompt is None
    assert await store.read_output(record.call_id) == "secret prompt"  # the answer is kept


async def test_closing_the_supervisor_marks_a_running_call_interrupted() -> None:
    store = MemoryStore()
    async with open_supervisor(store=store) as sup, trio.open_nursery() as nursery:

        async def run_long() -> None:
            with pytest.raises(LLMError, match="shut down"):
                await sup.run("echo", "[[echo:sleep=600]] slow")

        nursery.start_soon(run_long)
        while not (await store.list_calls(states=[CallState.RUNNING])):  # noqa: ASYNC110
            await trio.sleep(0.01)
        sup._runner.calls[next(iter(sup._runner.calls))].shut_down_now()
    record = await only_call(store)
    assert record.state is CallState.INTERRUPTED


class BrokenStore(MemoryStore):
    """A store whose every write fails, as a full disk would."""

    async def add_call(self, record: Any) -> None:
        raise OSError(28, "No space left on device")

    async def append_output(self, call_id: str, text: str) -> None:
        raise OSError(28, "No space left on device")

    async def update_call(self, call_id: str, **changes: Any) -> None:
        raise OSError(28, "No space left on device")


async def test_a_broken_store_never_fails_the_call() -> None:
    from structlog.testing import capture_logs

    async with open_supervisor(store=BrokenStore()) as sup:
        with capture_logs() as logs:
            result = await sup.run("echo", "still answered")
            await sup.flushed()
    assert result.output == "still answered"
    assert any(e["event"] == "llminst.store.write_failed" for e in logs)


async def test_writer_alive_tells_this_process_from_a_dead_one() -> None:
    me = writer_identity()
    assert writer_alive(me)
    host, pid, start = me.split(":")
    assert not writer_alive(f"{host}:{pid}:{int(start) + 1}")  # same PID, another process
    assert not writer_alive(f"{host}:999999999:1")
    assert not writer_alive(f"{host}:not-a-pid:x")
    assert writer_alive(f"another-host-{host}:1:1")  # cannot tell: assumed alive


async def test_leaving_the_block_writes_each_piece_once_with_a_store_on_disk(
    tmp_path: Path,
) -> None:
    """Regression: with a store whose writes take time (SQLite in its thread), leaving the block
    while the writer task was mid-write ran a second writer (`drain`) on the same queue: a
    piece written twice, then `IndexError: pop from an empty deque` out of `open_supervisor`."""
    store = await SQLiteStore.open(tmp_path / "calls.sqlite3")
    try:
        for n in range(5):
            async with open_supervisor(store=store) as sup:
                result = await sup.run("echo", f"once {n} ü🎉")
            (record, *_) = await store.list_calls()
            assert record.state is CallState.SUCCEEDED
            assert await store.read_output(record.call_id) == result.output == f"once {n} ü🎉"
            assert record.output_chars == len(result.output)
    finally:
        await store.aclose()


async def test_writes_queued_together_reach_a_sqlite_store_in_one_trip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (+1.3 ms a call with the cooldown read): each queued write was its own trip
    to the SQLite store's thread (a call's record, output and end: four). What is queued when
    the writer looks now goes as one batch, in order, each write still its own transaction;
    a write that fails is logged and the others are kept."""
    store = await SQLiteStore.open(tmp_path / "calls.sqlite3")
    try:
        trips = _count_trips(store, monkeypatch)
        recorder = Recorder(store)
        record = CallRecord(call_id="c-1", model="echo", state=CallState.QUEUED, created_at=1.0)
        recorder.queue_write(lambda: store.add_call(record))
        recorder.queue_write(lambda: store.append_output("c-1", "hello "))
        recorder.queue_write(lambda: store.update_call("c-1", no_such_field=1))
        recorder.queue_write(lambda: store.append_output("c-1", "world"))
        recorder.queue_write(lambda: store.update_call("c-1", state=CallState.SUCCEEDED))
        with structlog.testing.capture_logs() as logs:
            await recorder.drain()
        assert len(trips) == 1
        found = await store.get_call("c-1")
        assert found is not None and found.state is CallState.SUCCEEDED
        assert found.output_chars == len("hello world")
        assert await store.read_output("c-1") == "hello world"
        (failed,) = [e for e in logs if e["event"] == "llminst.store.write_failed"]
        assert "no_such_field" in failed["error"]
    finally:
        await store.aclose()


async def test_recording_calls_in_sqlite_waits_for_no_trip_to_its_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (api-sqlite +0.76 ms a call): the writer task waited for each batch to come
    back from the SQLite store's thread (a trip out, a reschedule back), and built the rows on
    the trio thread. Now a call's writes are handed over (rows built in the thread) and
    nobody waits for them until `flushed`: no trip back per call, at most three hand-overs."""
    store = await SQLiteStore.open(tmp_path / "calls.sqlite3")
    try:
        async with open_supervisor(store=store) as sup:
            await sup.run("echo", "warm up")  # the cooldown load at the first call
            await sup.flushed()
            trips = _count_trips(store, monkeypatch)
            handed = _count_hand_overs(store, monkeypatch)
            for n in range(10):
                await sup.run("echo", f"call {n}")
            assert set(trips) <= {"_read"}  # only the cancel watch's polls (every 0.2 s)
            assert 1 <= len(handed) <= 3 * 10  # at most: accepted, attempt started, ended
            await sup.flushed()
            records = await store.list_calls(limit=20)
        assert [r.state for r in records] == [CallState.SUCCEEDED] * 11
        assert [await store.read_output(r.call_id) for r in records[:10]] == [
            f"call {n}" for n in reversed(range(10))
        ]
    finally:
        await store.aclose()


async def test_a_write_failing_in_a_sqlite_batch_is_undone_alone(tmp_path: Path) -> None:
    """A batch is one transaction: a write the database refuses (a value it cannot bind)
    undoes the batch, whose writes are then made one by one, so only that one is lost."""
    store = await SQLiteStore.open(tmp_path / "calls.sqlite3")
    try:
        recorder = Recorder(store)
        record = CallRecord(call_id="c-1", model="echo", state=CallState.QUEUED, created_at=1.0)
        recorder.queue_write(lambda: store.add_call(record))
        recorder.queue_write(lambda: store.append_output("c-1", "hello "))
        recorder.queue_write(lambda: store.update_call("c-1", exit_code=object()))
        recorder.queue_write(lambda: store.append_output("c-1", "world"))
        recorder.queue_write(lambda: store.update_call("c-1", state=CallState.SUCCEEDED))
        with structlog.testing.capture_logs() as logs:
            await recorder.drain()
            await trio.testing.wait_all_tasks_blocked()  # the failure's report reached trio
        found = await store.get_call("c-1")
        assert found is not None and found.state is CallState.SUCCEEDED
        assert found.exit_code is None and found.output_chars == len("hello world")
        assert await store.read_output("c-1") == "hello world"
        (failed,) = [e for e in logs if e["event"] == "llminst.store.write_failed"]
        assert "binding" in failed["error"]
    finally:
        await store.aclose()


def _count_hand_overs(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many pieces each hand-over to the store's thread carried, from now on."""
    handed: list[int] = []
    worker = store._worker
    hand_over = worker.hand_over

    def counted(pieces: Any, *args: Any) -> None:
        handed.append(len(pieces))
        hand_over(pieces, *args)

    monkeypatch.setattr(worker, "hand_over", counted)
    return handed


def _count_trips(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The pieces of work sent to the store's worker thread from now on (their names)."""
    trips: list[str] = []
    worker = store._worker
    run = worker.run

    async def counted(work: Any, *args: Any) -> Any:
        trips.append(work.__name__)
        return await run(work, *args)

    monkeypatch.setattr(worker, "run", counted)
    return trips
