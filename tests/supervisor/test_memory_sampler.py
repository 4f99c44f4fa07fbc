"""The memory sampler: ONE task of the supervisor measures every running call's process tree,
in bounded work per tick, ticking only while calls run (`supervisor.memory.TreeSampler`);
admission keeps what the admitted calls still grow as a running total.

Real processes throughout (``sh -c 'sleep 600'`` trees, measured through /proc); the calls are
cancelled once measured, so nothing waits for a sleep to end.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import partial

import structlog
import trio
import trio.testing

from llminst import ModelSpec, Settings, open_supervisor
from llminst.supervisor.memory import (
    AVAILABLE_FRESH_S,
    SAMPLE_INTERVAL_S,
    AvailableMemory,
    CallMemory,
    MemoryAdmission,
    TreeSampler,
)

from ..support.models import models_with

SLEEPER = ModelSpec(
    name="sleeper",
    command=("sh", "-c", "sleep 600", "sh"),  # the prompt is $1, ignored
    max_concurrency=64,
)
CALLS = 12


class _Spawns(trio.abc.Instrument):
    """The names of the trio tasks spawned while installed."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.names.append(task.name)


@contextmanager
def _counting_spawns() -> Iterator[_Spawns]:
    spawns = _Spawns()
    trio.lowlevel.add_instrument(spawns)
    try:
        yield spawns
    finally:
        trio.lowlevel.remove_instrument(spawns)


async def test_one_sampler_task_measures_every_running_call() -> None:
    """12 calls at once: each tree gets measured (a peak) by the supervisor's one sampler task
    (no task or timer per call: the only tasks spawned are the callers'), which stops ticking
    once the calls are gone."""
    async with open_supervisor(models=models_with(SLEEPER), settings=Settings()) as sup:
        runner = sup._runner
        with _counting_spawns() as spawns:
            async with trio.open_nursery() as nursery:
                for _ in range(CALLS):
                    nursery.start_soon(partial(sup.run, "sleeper", "x", timeout=600))
                with trio.fail_after(120):  # generous: the machine is shared
                    while True:
                        calls = list(runner.calls.values())
                        if len(calls) == CALLS and all(c.peak_rss_mb for c in calls):
                            break
                        await trio.sleep(0.05)
                nursery.cancel_scope.cancel()
        assert len(spawns.names) == CALLS, spawns.names  # the callers' tasks only
        with trio.fail_after(60):
            while runner.memory.sampler.ticking:  # noqa: ASYNC110 (it stops at its next tick)
                await trio.sleep(0.05)


async def test_a_tick_measures_at_most_its_share_of_trees_in_turn() -> None:
    """Five real trees, two a tick: the first tick measures two, three ticks all five (in
    turn, none skipped), and a tree past its cap is killed by the tick that sees it."""
    log = structlog.get_logger()
    sampler = TreeSampler(per_tick=2)
    procs = [
        await trio.lowlevel.open_process(
            ["sleep", "600"], stdin=subprocess.DEVNULL, start_new_session=True
        )  # a group of its own, as the supervisor starts every CLI
        for _ in range(5)
    ]
    memories = [CallMemory(model="m", expected_mb=1.0, limit_mb=None) for _ in procs]
    try:
        with ExitStack() as stack:
            for memory, proc in zip(memories, procs, strict=True):
                stack.enter_context(sampler.watching(memory, proc, log))
            sampler.tick()
            assert sum(m.peak_mb is not None for m in memories) == 2
            sampler.tick()
            sampler.tick()
            assert all(m.peak_mb is not None and m.peak_mb > 0 for m in memories)
            capped = CallMemory(model="m", expected_mb=1.0, limit_mb=0.001)
            with sampler.watching(capped, procs[0], log):
                for _ in range(3):  # six trees, two a tick: three ticks see them all
                    sampler.tick()
            assert capped.exceeded_mb is not None
            with trio.fail_after(60):
                await procs[0].wait()
            assert procs[0].returncode == -9
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()


def test_admission_keeps_what_admitted_calls_still_grow_as_a_running_total() -> None:
    """The total is what a sum over the admitted calls would say, after admissions, samples
    and releases alike (so admitting a call costs O(1), not a walk over the running ones)."""
    admission = MemoryAdmission(Settings(), available_mb=lambda: 10_000.0)
    memories = [CallMemory(model="m", expected_mb=100.0 * (i + 1), limit_mb=None) for i in range(4)]
    for memory in memories:
        admission.admit(memory)
    assert admission.still_to_grow_mb() == 1000.0
    memories[1].current_mb = 150.0  # as a sample would leave it
    admission.sampler.tick()  # no tree watched: only the total is refreshed
    assert admission.still_to_grow_mb() == 850.0  # 100 + 50 + 300 + 400
    admission.release(memories[1])
    assert admission.still_to_grow_mb() == 800.0
    for memory in (memories[0], memories[2], memories[3]):
        admission.release(memory)
    assert admission.still_to_grow_mb() == 0.0


async def test_a_call_is_handed_to_the_sampler_only_once_it_has_run_an_interval(
    mock_clock: trio.testing.MockClock,
) -> None:
    """On a clock that moves only when told: a call that ends before SAMPLE_INTERVAL_S never
    wakes the sampler (no /proc read for a quick call); one still running when the interval
    has passed is measured then, and the sampler ticks for it."""
    echo = ModelSpec(name="quick", command=("echo", "hi"))
    async with open_supervisor(models=models_with(SLEEPER, echo)) as sup:
        sampler = sup._runner.memory.sampler
        result = await sup.run("quick", "x", timeout=600)
        assert result.success and result.peak_rss_mb is None
        assert not sampler.ticking
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(sup.run, "sleeper", "x", timeout=600))
            # The clock stands still: this waits for the real process to start, however slow.
            while not sup._runner.calls or not next(iter(sup._runner.calls.values())).spawned:
                await trio.testing.wait_all_tasks_blocked()
                await trio.lowlevel.checkpoint()
            [call] = sup._runner.calls.values()
            await trio.testing.wait_all_tasks_blocked()
            assert call.peak_rss_mb is None and not sampler.ticking
            mock_clock.jump(SAMPLE_INTERVAL_S)
            await trio.testing.wait_all_tasks_blocked()
            assert call.peak_rss_mb is not None and sampler.ticking
            # Ending the tree polls for its members with short sleeps: let the clock run, or a
            # child still alive when its parent was reaped (a loaded machine) waits forever.
            mock_clock.autojump_threshold = 0
            nursery.cancel_scope.cancel()


def test_available_memory_is_read_once_a_window_and_again_after_it() -> None:
    """Regression (~30 µs a call): admission read /proc/meminfo for every call. A reading now
    serves `AVAILABLE_FRESH_S`; the first look after that reads again, and the real reader
    still gives the machine's figure."""
    now = [100.0]
    kb = [2048 * 1024]
    reads: list[float] = []

    def read_kb() -> int:
        reads.append(now[0])
        return kb[0]

    available = AvailableMemory(clock=lambda: now[0], read_kb=read_kb)
    assert [available() for _ in range(50)] == [2048.0] * 50
    assert reads == [100.0]
    kb[0] = 1024 * 1024
    now[0] += AVAILABLE_FRESH_S / 2
    assert available() == 2048.0  # within the window: the last reading
    now[0] += AVAILABLE_FRESH_S
    assert available() == 1024.0 and reads == [100.0, now[0]]
    real = AvailableMemory()()
    assert real is not None and real > 0
