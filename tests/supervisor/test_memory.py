"""Memory: calls admitted by available memory (FIFO, within their deadline), each call's
process-tree peak measured, and a tree past its model's max_memory_mb killed.

The admission test runs the issue's "10 x 400 MB under a 1 GB budget" and a smaller
10 x 100 MB under 250 MB: the allocations are real (pages touched), and the supervisor's view of
available memory is the budget minus what those processes really hold.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import trio.testing

from llminst import (
    CallTimeoutError,
    LLMError,
    MemoryExceededError,
    ModelSpec,
    Settings,
    open_supervisor,
)
from llminst.supervisor import procfs

from ..support.models import models_with
from ..support.paths import MEMHOG

RESERVE_MB = 256
BUDGET_MB = 250  # what the machine has "available" above the reserve
CALL_MB = 100  # what each call really allocates
CALLS = 10


def _held_mb(folder: Path) -> float:
    """What the helper processes of `folder` hold now (MB), read from /proc."""
    pids = folder / "pids"
    if not pids.is_dir():
        return 0.0
    kb = sum(procfs.memory_kb(int(p.name)).get("VmRSS", 0) for p in pids.iterdir())
    return kb / 1024


@pytest.mark.parametrize(("call_mb", "budget_mb"), [(CALL_MB, BUDGET_MB), (400, 1000)])
async def test_ten_calls_under_a_budget_for_two_never_run_more_than_two_at_once(
    tmp_path: Path, call_mb: int, budget_mb: int, report: Callable[..., None]
) -> None:
    """10 concurrent calls of `call_mb` each (touched, plus the interpreter) on a machine with
    `budget_mb` available above the reserve: at most two run at once (counted by the processes
    themselves through marker files), the rest are queued (visible in status), and every
    call finishes with its answer and a measured peak."""
    spec = ModelSpec(
        name="hog",
        command=(sys.executable, MEMHOG, "hold", str(call_mb), "0.3", str(tmp_path)),
        expected_memory_mb=call_mb + 10,
        max_concurrency=CALLS,
    )
    most_held_mb = 0.0

    def available_mb() -> float:
        nonlocal most_held_mb
        held = _held_mb(tmp_path)
        most_held_mb = max(most_held_mb, held)
        return RESERVE_MB + budget_mb - held

    settings = Settings(memory_reserve_mb=RESERVE_MB)
    results = []
    most_queued = 0
    async with open_supervisor(
        models=models_with(spec), settings=settings, available_memory_mb=available_mb
    ) as sup:

        async def one() -> None:
            results.append(await sup.run("hog", "go", timeout=300))

        async with trio.open_nursery() as nursery:
            for _ in range(CALLS):
                nursery.start_soon(one)
            await trio.testing.wait_all_tasks_blocked()
            (status,) = [s for s in await sup.status() if s.model == "hog"]
            assert status.running == CALLS
            most_queued = status.queued
    assert most_queued >= CALLS - 2
    assert len(results) == CALLS
    assert all(r.success and r.output.startswith(f"held {call_mb}") for r in results)
    seen = [int(p.read_text()) for p in (tmp_path / "seen").iterdir()]
    assert len(seen) == CALLS
    assert max(seen) <= 2
    assert max(seen) == 2  # the budget does fit two: admission is not needlessly serial
    peaks = [r.peak_rss_mb for r in results]
    assert all(p is not None and call_mb <= p < call_mb + 60 for p in peaks), peaks
    assert most_held_mb <= budget_mb  # what the calls held together, seen at each admission
    report(
        f"10 x {call_mb} MB under {budget_mb} MB: at most {max(seen)} at once, "
        f"{most_held_mb:.0f} MB held at most, peaks {min(peaks):.0f}-{max(peaks):.0f} MB",
        most_at_once=max(seen),
        most_held_mb=round(most_held_mb),
    )


async def test_a_tree_past_max_memory_mb_is_killed_as_memory_exceeded(tmp_path: Path) -> None:
    """A CLI that keeps allocating is killed once its tree passes the cap (well before its
    own 600 MB safety stop), and the error names the cap and its peak."""
    spec = ModelSpec(
        name="runaway",
        command=(sys.executable, MEMHOG, "grow", "10", "600"),
        max_memory_mb=80,
    )
    async with open_supervisor(models=models_with(spec)) as sup:
        with pytest.raises(MemoryExceededError) as info:
            await sup.run("runaway", "go", timeout=300)
    error = info.value
    assert error.kind == "memory_exceeded"
    assert error.limit_mb == 80
    assert 80 < error.peak_mb < 400
    assert "max_memory_mb of 80 MB" in error.message
    assert error.result is not None
    assert error.result.error_kind == "memory_exceeded"
    assert error.result.peak_rss_mb is not None and error.result.peak_rss_mb > 80
    assert error.result.output == "growing\n"  # what it printed is kept
    assert error.result.exit_code == -9


async def test_the_cap_holds_with_admission_off(tmp_path: Path) -> None:
    spec = ModelSpec(
        name="runaway", command=(sys.executable, MEMHOG, "grow", "10", "600"), max_memory_mb=60
    )
    settings = Settings(memory_admission=False)
    async with open_supervisor(models=models_with(spec), settings=settings) as sup:
        with pytest.raises(MemoryExceededError, match="max_memory_mb of 60 MB"):
            await sup.run("runaway", "go", timeout=300)


async def test_a_call_that_never_fits_times_out_saying_it_waited_for_memory(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """On a virtual clock: 50 MB free above the reserve, 100 MB expected: the call waits its
    whole deadline, starts nothing (the command does not exist: a start would fail
    differently), and fails with a timeout that says it waited for memory."""
    spec = ModelSpec(name="big", command=("/nonexistent/llminst-memhog",), expected_memory_mb=100)
    async with open_supervisor(
        models=models_with(spec),
        settings=Settings(memory_reserve_mb=RESERVE_MB),
        available_memory_mb=lambda: RESERVE_MB + 50,
    ) as sup:
        started = trio.current_time()
        with pytest.raises(CallTimeoutError) as info:
            await sup.run("big", "go", timeout=30)
        assert trio.current_time() - started == pytest.approx(30)
    message = info.value.message
    assert message.startswith("model 'big' timed out after 30 s waiting for memory")
    assert "expected to need 100 MB, but only 50 MB was free for it" in message
    assert "memory_reserve_mb" in message
    assert info.value.result is not None and info.value.result.attempts == 0


async def test_calls_wait_in_order_and_a_small_one_does_not_pass_a_big_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """FIFO: a call that would fit waits behind an earlier one that does not; once the earlier
    one leaves the queue (its deadline, 20 s), the next is admitted at once. (Read from the
    queue at virtual times: the spawn runs in a thread, which the autojump clock skips past.)"""
    big = ModelSpec(name="big", command=("/nonexistent/llminst-big",), expected_memory_mb=500)
    small = ModelSpec(name="small", command=("/nonexistent/llminst-small",), expected_memory_mb=10)
    kinds: dict[str, str] = {}
    queues = []
    async with open_supervisor(
        models=models_with(big, small),
        settings=Settings(memory_reserve_mb=RESERVE_MB),
        available_memory_mb=lambda: RESERVE_MB + 100,
    ) as sup:

        async def call(model: str, seconds: float) -> None:
            try:
                await sup.run(model, "go", timeout=seconds)
            except LLMError as exc:
                kinds[model] = exc.kind

        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(call, "big", 20)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(call, "small", 60)
            for at in (1, 19.9, 20.01):
                await trio.sleep_until(start + at)
                queues.append(sup.queued())
    assert queues == [{"big": 1, "small": 1}, {"big": 1, "small": 1}, {}]
    assert kinds == {"big": "timeout", "small": "cli_not_found"}
