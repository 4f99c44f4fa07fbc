"""Memory: each call's process-tree RSS measured while it runs, and calls admitted by memory.

`CallMemory` is one call's (on one model) measurement: `CallMemory.watch` runs beside each of its
attempts, samples the CLI's tree every `SAMPLE_INTERVAL_S` (the CLI and its descendants, read
through `procfs`: their resident memory now and each one's own high-water mark), keeps the peak,
and kills the tree at once (SIGKILL to its group) when it grows past the model's
``max_memory_mb``. `MemoryAdmission` lets a call start only when `_core.admission.admits` says the
machine's available memory (``MemAvailable``) has room for its expected peak; calls that do not
fit wait in FIFO order, woken when a call ends and every `RECHECK_S` (other processes free memory
too). The call's deadline covers the wait. Each measured peak teaches the model's expected peak.

What it must never do: start a process, or hold a call that fits while an earlier one waits (the
queue is FIFO across models); and it never decides on its own (the rules are in
`_core.admission`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import attrs
import trio
from attrs import define

from .._core.admission import PeakHistory, admits, still_to_grow_mb
from .._core.spec import ModelSpec, Settings
from . import process, procfs

if TYPE_CHECKING:
    from .call import Call

__all__ = [
    "RECHECK_S",
    "SAMPLE_INTERVAL_S",
    "CallMemory",
    "MemoryAdmission",
    "read_available_mb",
    "tree_memory_kb",
]

SAMPLE_INTERVAL_S = 0.1
"""How often a running call's process tree is measured."""
RECHECK_S = 0.5
"""How often calls waiting for memory look again without being woken (other programs free
memory without telling us)."""
_KIB_PER_MB = 1024.0


def read_available_mb() -> float | None:
    """The machine's available memory in MB (``MemAvailable``); None where unknown."""
    kb = procfs.available_memory_kb()
    return None if kb is None else kb / _KIB_PER_MB


def tree_memory_kb(leader: int) -> tuple[int, int]:
    """(resident now, sum of each member's own peak) in KiB of `leader` and its descendants.

    Descendants are found through the children lists, so one that left the process group
    (``setsid``) counts as long as its parent lives.
    """
    current = peaks = 0
    pending, seen = [leader], set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        memory = procfs.memory_kb(pid)
        current += memory.get("VmRSS", 0)
        peaks += memory.get("VmHWM", 0)
        pending.extend(procfs.children(pid))
    return current, peaks


@define(eq=False)
class CallMemory:
    """One call's memory on one model: what it is expected to need and what it was measured at.

    Attributes:
        model: the spec's name (the history's key).
        expected_mb: its expected peak, as admission judged it.
        limit_mb: the model's ``max_memory_mb`` (None: no cap).
        current_mb: the tree's RSS at the last sample (None before the first).
        peak_mb: the largest tree RSS measured (each member's own high-water mark, summed),
            over all attempts; None before the first sample.
        exceeded_mb: the tree's RSS when it was killed for passing `limit_mb`, else None.
    """

    model: str
    expected_mb: float
    limit_mb: float | None
    current_mb: float | None = None
    peak_mb: float | None = None
    exceeded_mb: float | None = None

    def sample(self, leader: int) -> None:
        current_kb, peaks_kb = tree_memory_kb(leader)
        if current_kb == 0 and peaks_kb == 0:  # gone (or not readable): nothing learned
            return
        self.current_mb = current_kb / _KIB_PER_MB
        peak = max(peaks_kb, current_kb) / _KIB_PER_MB
        self.peak_mb = peak if self.peak_mb is None else max(self.peak_mb, peak)

    async def watch(self, proc: trio.Process, log: Any) -> None:
        """Sample `proc`'s tree every `SAMPLE_INTERVAL_S` until it exits or is killed for
        passing its cap (where the attempt reads its pipes in tasks: elsewhere the attempt's
        loop calls `check` itself). The kill is a SIGKILL to the group (a runaway gets no
        grace period); the attempt sees the exit."""
        while proc.returncode is None and self.exceeded_mb is None:
            self.check(proc, log)
            await trio.sleep(SAMPLE_INTERVAL_S)

    def check(self, proc: trio.Process, log: Any) -> None:
        """Sample `proc`'s tree once; SIGKILL its group if it is past the cap."""
        if proc.returncode is not None or self.exceeded_mb is not None:
            return
        self.sample(proc.pid)
        if self.limit_mb is not None and (self.current_mb or 0.0) > self.limit_mb:
            self.exceeded_mb = self.current_mb
            log.warning(
                "llminst.memory.exceeded",
                rss_mb=round(self.current_mb or 0.0, 1),
                limit_mb=self.limit_mb,
            )
            process.kill_now(proc, log=log, reason="memory_exceeded")


@define(eq=False)
class _Waiter:
    memory: CallMemory
    wake: trio.Event = attrs.Factory(trio.Event)


@define
class MemoryAdmission:
    """Admits a supervisor's calls by memory (FIFO), and learns each model's expected peak.

    Attributes:
        settings: ``memory_admission`` and ``memory_reserve_mb``.
        available_mb: reads the machine's available memory in MB (None: unknown, admit);
            tests pass their own.
    """

    settings: Settings
    available_mb: Callable[[], float | None] = read_available_mb
    history: PeakHistory = attrs.Factory(PeakHistory)
    _admitted: set[CallMemory] = attrs.field(init=False, factory=set)
    _queue: deque[_Waiter] = attrs.field(init=False, factory=deque)

    def queued(self) -> int:
        """How many calls wait for memory now."""
        return len(self._queue)

    @asynccontextmanager
    async def admitted(self, call: Call) -> AsyncIterator[CallMemory | None]:
        """Wait until `call` may start on its current model, then hold its place until the block
        ends; yields its `CallMemory` (None when memory is neither admitted nor capped).

        The call's `waiting_for` is ``"memory"`` while it waits. Cancellation: a waiting call
        leaves the queue (the next one is looked at).
        """
        spec = call.request.spec
        if not self.settings.memory_admission and spec.max_memory_mb is None:
            yield None
            return
        memory = CallMemory(
            model=spec.name, expected_mb=self.history.expected_mb(spec), limit_mb=_cap(spec)
        )
        if self.settings.memory_admission:
            await self._wait_turn(call, memory)
        self._admitted.add(memory)
        call.memories.append(memory)
        try:
            yield memory
        finally:
            self._admitted.discard(memory)
            if memory.peak_mb is not None:
                self.history.record(spec.name, memory.peak_mb)
            self._wake_first()

    async def _wait_turn(self, call: Call, memory: CallMemory) -> None:
        if not self._queue and self._fits(call, memory):
            return  # the usual case costs no trip through the scheduler
        waiter = _Waiter(memory)
        self._queue.append(waiter)
        call.waiting_for = "memory"
        call.log.info(
            "llminst.memory.queued",
            expected_mb=round(memory.expected_mb, 1),
            room_mb=None if call.memory_room_mb is None else round(call.memory_room_mb, 1),
            ahead=len(self._queue) - 1,
        )
        try:
            while not (self._queue[0] is waiter and self._fits(call, memory)):
                with trio.move_on_after(RECHECK_S):
                    await waiter.wake.wait()
                waiter.wake = trio.Event()
            call.waiting_for = None
            call.log.info("llminst.memory.admitted", expected_mb=round(memory.expected_mb, 1))
        finally:
            self._queue.remove(waiter)
            self._wake_first()

    def _fits(self, call: Call, memory: CallMemory) -> bool:
        available = self.available_mb()
        if available is None:
            return True
        growing = sum(still_to_grow_mb(m.expected_mb, m.current_mb) for m in self._admitted)
        reserve = float(self.settings.memory_reserve_mb)
        call.memory_room_mb = available - reserve - growing
        return admits(
            available_mb=available,
            reserve_mb=reserve,
            still_to_grow_mb=growing,
            expected_mb=memory.expected_mb,
        )

    def _wake_first(self) -> None:
        if self._queue:
            self._queue[0].wake.set()


def _cap(spec: ModelSpec) -> float | None:
    return None if spec.max_memory_mb is None else float(spec.max_memory_mb)
