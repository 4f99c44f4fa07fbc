"""Jobs (`Supervisor.start`, `Supervisor.jobs`): calls that outlive their caller, their news,
and cancelling them.

Real processes (the echo CLI and the helper CLI) through a real supervisor and its in-memory
store; the live registry's waiting is also checked alone on a virtual clock.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import trio
import trio.testing

from llminst import Settings, open_supervisor
from llminst._core.events import TextDelta
from llminst._core.records import CallState
from llminst.store import MemoryStore
from llminst.supervisor import AttemptStarted
from llminst.supervisor.live import LiveCalls

from ..support.models import models_with
from ..support.procs import is_alive, read_pids, wait_for_pids

PROMPT = "[[echo:delay=0.05]] one two three"
A_LOT = 10**9  # an offset no output reaches: wait_for_news then returns only when the call ends


async def start_and_leave(sup: Any, ids: list[str]) -> None:
    ids.append(await sup.start("echo", PROMPT))
    await trio.lowlevel.checkpoint()


async def record_of(sup: Any, call_id: str) -> Any:
    await sup.flushed()
    return await sup.store.get_call(call_id)


async def test_a_job_runs_on_after_the_task_that_started_it_is_gone() -> None:
    """start returns the id at once; the call runs in the supervisor's nursery, ends on its own,
    and is read back whole from the store, its result carrying its id."""
    store = MemoryStore()
    async with open_supervisor(store=store) as sup:
        ids: list[str] = []
        async with trio.open_nursery() as nursery:  # a task that starts the job and is gone
            nursery.start_soon(start_and_leave, sup, ids)
        (call_id,) = ids
        assert sup.jobs.running(call_id) is not None
        with trio.fail_after(60):
            await sup.jobs.wait_for_news(call_id, A_LOT)
        record = await record_of(sup, call_id)
    assert record.state is CallState.SUCCEEDED
    assert await store.read_output(call_id) == "one two three"
    assert record.result["call_id"] == call_id and record.result["success"] is True
    assert sup.jobs.running(call_id) is None


async def test_cancel_kills_the_tree_at_once_and_keeps_the_partial_output(
    fake_spec: Any, pidfile: Path
) -> None:
    spec = fake_spec("hang-tree", timeout_category="extended")
    async with open_supervisor(
        models=models_with(spec), settings=Settings(grace_period_s=30)
    ) as sup:
        call_id = await sup.start("fake", "hi")
        pids = await wait_for_pids(pidfile, 2, within_s=60)
        with trio.fail_after(60):
            await sup.jobs.wait_for_news(call_id, 0)  # "started" arrived
            start = trio.current_time()
            assert await sup.jobs.cancel(call_id) is True
        # SIGTERM kills the tree: the 30-s grace period is never waited out.
        assert trio.current_time() - start < 20
        assert not [pid for pid in pids if is_alive(pid)]
        record = await record_of(sup, call_id)
        assert record.state is CallState.CANCELLED and "cancelled" in record.error
        assert await sup.store.read_output(call_id) == "started\n"
        assert await sup.jobs.cancel(call_id) is False  # over: nothing to cancel
        assert await sup.jobs.cancel("no-such-call") is False


async def test_closing_the_supervisor_interrupts_a_running_job(
    fake_spec: Any, pidfile: Path
) -> None:
    store = MemoryStore()
    spec = fake_spec("hang-tree", timeout_category="extended")
    async with open_supervisor(models=models_with(spec), store=store) as sup:
        call_id = await sup.start("fake", "hi")
        await wait_for_pids(pidfile, 2, within_s=60)
        with trio.fail_after(60):
            await sup.jobs.wait_for_news(call_id, 0)
    record = await store.get_call(call_id)
    assert record.state is CallState.INTERRUPTED
    assert await store.read_output(call_id) == "started\n"
    assert not [pid for pid in read_pids(pidfile) if is_alive(pid)]


async def test_news_is_new_text_of_a_call_that_still_runs(fake_spec: Any, tmp_path: Path) -> None:
    """wait_for_news returns when text beyond the offset arrives, not only when the call ends."""
    gate = tmp_path / "gate"
    spec = fake_spec("gated", str(gate), timeout_category="extended")
    async with open_supervisor(models=models_with(spec)) as sup:
        call_id = await sup.start("fake", "hi")
        with trio.fail_after(60):
            await sup.jobs.wait_for_news(call_id, 0)
            await sup.flushed()
            assert await sup.store.read_output(call_id) == "before\n"
            gate.touch()
            await sup.jobs.wait_for_news(call_id, len("before\n"))
        record = await record_of(sup, call_id)
        assert record.state is CallState.RUNNING  # it sleeps on after "after"
        assert await sup.store.read_output(call_id) == "before\nafter\n"
        assert await sup.jobs.cancel(call_id)


# -- the live registry alone, on a virtual clock ---------------------------------------------


def stand_in(call_id: str) -> Any:
    """What `LiveCalls` reads of a call: its id."""
    return SimpleNamespace(id=call_id)


async def wait_timed(live: LiveCalls, call_id: str, offset: int, results: list[float]) -> None:
    with trio.move_on_after(50):
        await live.wait_for_news(call_id, offset)
    results.append(trio.current_time())


async def test_a_waiter_wakes_when_text_arrives(autojump_clock: trio.testing.MockClock) -> None:
    live = LiveCalls()
    call = stand_in("c-1")
    live.call_started(call)
    woke: list[float] = []
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait_timed, live, "c-1", 0, woke)
        await trio.sleep(3)
        live.call_event(call, TextDelta(""))  # nothing new: keeps waiting
        await trio.sleep(4)
        live.call_event(call, TextDelta("hi"))
    assert woke == [start + 7]


async def test_a_waiter_past_the_text_waits_for_more_or_the_end(
    autojump_clock: trio.testing.MockClock,
) -> None:
    live = LiveCalls()
    call = stand_in("c-2")
    live.call_started(call)
    live.call_event(call, TextDelta("abc"))
    woke: list[float] = []
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait_timed, live, "c-2", 2, woke)  # text beyond 2: at once
        nursery.start_soon(wait_timed, live, "c-2", 3, woke)  # the end, at 10
        nursery.start_soon(wait_timed, live, "c-3", 0, woke)  # not running: at once
        await trio.sleep(10)
        live.call_finished(call)
    assert woke == [start, start, start + 10]


async def test_a_waiter_wakes_when_the_call_starts_over(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A new attempt restarts the output: a waiter past its end is told at once."""
    live = LiveCalls()
    call = stand_in("c-4")
    live.call_started(call)
    live.call_event(call, TextDelta("first attempt"))
    woke: list[float] = []
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait_timed, live, "c-4", 13, woke)
        await trio.sleep(5)
        live.call_event(call, AttemptStarted(2, 1234))
    assert woke == [start + 5]


async def test_nobody_waits_longer_than_the_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    live = LiveCalls()
    live.call_started(stand_in("c-5"))
    woke: list[float] = []
    start = trio.current_time()
    await wait_timed(live, "c-5", 0, woke)
    assert woke == [start + 50]


async def test_a_job_of_a_session_continues_it() -> None:
    """A job started in a session gets the session's transcript, and its answer becomes the
    session's next turn, as a call through run would."""
    async with open_supervisor() as sup:
        first = await sup.start("echo", "my name is Ada", session="jobs-s")
        while sup.jobs.running(first) is not None:
            await sup.jobs.wait_for_news(first, A_LOT)
        second = await sup.start("echo", "what is my name?", session="jobs-s")
        while sup.jobs.running(second) is not None:
            await sup.jobs.wait_for_news(second, A_LOT)
        await sup.flushed()
        answer = await sup.store.read_output(second)
        session = await sup.store.get_session("jobs-s")
    assert "<user>\nmy name is Ada\n</user>" in answer and answer.endswith("what is my name?")
    assert session is not None and len(session.turns) == 4
