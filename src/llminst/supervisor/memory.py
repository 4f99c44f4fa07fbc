"""Memory: each call's process-tree RSS measured while it runs, and calls admitted by memory.

`CallMemory` is one call's (on one model) measurement. While an attempt runs, its tree is
watched (`CallMemory.watching`) by the supervisor's one `TreeSampler`: a single task, running
only while some tree is watched, that every `SAMPLE_INTERVAL_S` measures up to
`TREES_PER_TICK` trees in turn (the CLI and its descendants, read through `procfs`: their
resident memory now and each one's own high-water mark), keeps each call's peak, and kills a
tree at once (SIGKILL to its group) when it grows past the model's ``max_memory_mb``. Its work
per tick is bounded however many calls run (with more trees than that, each is measured less
often; the high-water marks still catch a peak between two looks). `MemoryAdmission` lets a
call start only when `_core.admission.admits` says the machine's available memory
(``MemAvailable``) has room for its expected peak, with what the admitted calls are still
expected to grow kept as a running total (O(1) per call); calls that do not fit wait in FIFO
order, woken when a call ends and every `RECHECK_S` (other processes free memory too). The
call's deadline covers the wait. Each measured peak teaches the model's expected peak.

What it must never do: start a process, or hold a call that fits while an earlier one waits (the
queue is FIFO across models); and it never decides on its own (the rules are in
`_core.admission`).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
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
    "TREES_PER_TICK",
    "CallMemory",
    "MemoryAdmission",
    "TreeSampler",
    "read_available_mb",
    "tree_memory_kb",
]

SAMPLE_INTERVAL_S = 0.1
"""How often the sampler measures the running calls' process trees."""
TREES_PER_TICK = 100
"""At most this many trees are measured each `SAMPLE_INTERVAL_S` (in turn, when more run), so
1000 calls at once cost the sampler what 100 do."""
RECHECK_S = 0.5
"""How often calls waiting for memory look again without being woken (other programs free
memory without telling us)."""
AVAILABLE_FRESH_S = 0.02
"""How long one reading of ``MemAvailable`` serves admission. The kernel computes the whole of
/proc/meminfo for each read (~20-40 µs); calls admitted meanwhile are counted by what they are
still expected to grow, so only other programs' changes within this window go unseen."""
_KIB_PER_MB = 1024.0


@define
class AvailableMemory:
    """Reads the machine's available memory in MB (``MemAvailable``; None where unknown), at
    most once every `AVAILABLE_FRESH_S` of `clock`: the last reading serves calls meanwhile."""

    clock: Callable[[], float] = time.monotonic
    read_kb: Callable[[], int | None] = procfs.available_memory_kb
    _read_at: float = attrs.field(init=False, default=-math.inf)
    _available_mb: float | None = attrs.field(init=False, default=None)

    def __call__(self) -> float | None:
        now = self.clock()
        if now - self._read_at >= AVAILABLE_FRESH_S:
            kb = self.read_kb()
            self._available_mb = None if kb is None else kb / _KIB_PER_MB
            self._read_at = now
        return self._available_mb


read_available_mb = AvailableMemory()
"""The machine's available memory in MB (``MemAvailable``); None where unknown."""


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
    sampler: TreeSampler | None = None

    @property
    def still_to_grow_mb(self) -> float:
        """What it is still expected to add to the machine's memory use."""
        return still_to_grow_mb(self.expected_mb, self.current_mb)

    @contextmanager
    def watching(self, proc: trio.Process, log: Any) -> Iterator[None]:
        """Have `proc`'s tree measured (and killed past the cap) while the block runs."""
        if self.sampler is None:
            yield
            return
        with self.sampler.watching(self, proc, log):
            yield

    def sample(self, leader: int) -> None:
        current_kb, peaks_kb = tree_memory_kb(leader)
        if current_kb == 0 and peaks_kb == 0:  # gone (or not readable): nothing learned
            return
        self.current_mb = current_kb / _KIB_PER_MB
        peak = max(peaks_kb, current_kb) / _KIB_PER_MB
        self.peak_mb = peak if self.peak_mb is None else max(self.peak_mb, peak)

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
class _Tree:
    proc: trio.Process
    log: Any


@define
class TreeSampler:
    """The one task that measures every running call's process tree (see the module's
    docstring). A supervisor runs it (`run`) for as long as it is open, parked while no tree
    is watched, so a call spawns no task of its own; a sampler nobody runs starts a trio
    system task of its own when a tree is first watched, gone when none is.

    Attributes:
        on_sampled: told (synchronously) after each tick, so admission can refresh its totals.
        per_tick: at most this many trees are measured a tick.
    """

    on_sampled: Callable[[], None] | None = None
    per_tick: int = TREES_PER_TICK
    _trees: dict[CallMemory, _Tree] = attrs.field(init=False, factory=dict)
    _running: bool = attrs.field(init=False, default=False)
    _ticking: bool = attrs.field(init=False, default=False)
    _wake: trio.Event = attrs.field(init=False, factory=trio.Event)
    _nap: trio.CancelScope | None = attrs.field(init=False, default=None)  # between two ticks
    _turn: int = attrs.field(init=False, default=0)  # where the next tick starts, in turn

    @property
    def ticking(self) -> bool:
        """Whether it measures now (only while some tree is watched, until its next tick)."""
        return self._ticking

    @contextmanager
    def watching(self, memory: CallMemory, proc: trio.Process, log: Any) -> Iterator[None]:
        self._trees[memory] = _Tree(proc, log)
        if not self._running:
            trio.lowlevel.spawn_system_task(self._until_idle, name="llminst.memory.sampler")
        self._wake.set()
        try:
            yield
        finally:
            del self._trees[memory]
            if not self._trees and self._nap is not None:
                self._nap.cancel()  # nothing to measure: no timer left behind (virtual clocks)

    async def run(self) -> None:
        """Measure while trees are watched, park while none is; until cancelled."""
        self._running = True
        try:
            while True:
                await self._ticks()
                self._wake = trio.Event()
                if not self._trees:
                    await self._wake.wait()
        finally:
            self._running = False

    async def _until_idle(self) -> None:
        self._running = True
        try:
            await self._ticks()
        finally:
            self._running = False

    async def _ticks(self) -> None:
        self._ticking = True
        try:
            while self._trees:
                with trio.CancelScope() as self._nap:
                    await trio.sleep(SAMPLE_INTERVAL_S)
                self._nap = None
                if self._trees:
                    self.tick()
        finally:
            self._ticking = False

    def tick(self) -> None:
        """Measure the next `per_tick` trees (all of them when no more are watched)."""
        trees = list(self._trees.items())
        count = len(trees)
        if count > self.per_tick:
            start = self._turn % count
            self._turn = start + self.per_tick
            trees = (trees[start:] + trees[:start])[: self.per_tick]
        for memory, tree in trees:
            memory.check(tree.proc, tree.log)
        if self.on_sampled is not None:
            self.on_sampled()


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
    sampler: TreeSampler = attrs.Factory(TreeSampler)
    _admitted: set[CallMemory] = attrs.field(init=False, factory=set)
    _growing_mb: float = attrs.field(init=False, default=0.0)  # the admitted calls' sum
    _queue: deque[_Waiter] = attrs.field(init=False, factory=deque)

    def __attrs_post_init__(self) -> None:
        self.sampler.on_sampled = self._recount

    def _recount(self) -> None:
        """The samples changed what the admitted calls still grow: sum it afresh (once a
        tick, not once a call)."""
        self._growing_mb = sum(memory.still_to_grow_mb for memory in self._admitted)

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
        memory = await self.admit_call(call)
        try:
            yield memory
        finally:
            if memory is not None:
                self.release(memory)

    async def admit_call(self, call: Call) -> CallMemory | None:
        """`admitted` without the block (the call runner's path: no generator a call): once
        it returns a `CallMemory`, `release` it when the call's attempts end."""
        spec = call.request.spec
        if not self.settings.memory_admission and spec.max_memory_mb is None:
            return None
        memory = CallMemory(
            model=spec.name,
            expected_mb=self.history.expected_mb(spec),
            limit_mb=_cap(spec),
            sampler=self.sampler,
        )
        if self.settings.memory_admission:
            await self._wait_turn(call, memory)
        self.admit(memory)
        call.memories.append(memory)
        return memory

    def admit(self, memory: CallMemory) -> None:
        """`memory`'s call starts: it counts towards what the admitted calls still grow."""
        self._admitted.add(memory)
        self._growing_mb += memory.still_to_grow_mb

    def release(self, memory: CallMemory) -> None:
        """`memory`'s call ended: its peak teaches its model's, and the next waiter looks."""
        if memory not in self._admitted:
            return
        self._admitted.discard(memory)
        self._growing_mb = max(0.0, self._growing_mb - memory.still_to_grow_mb)
        if not self._admitted:
            self._growing_mb = 0.0  # no rounding left over
        if memory.peak_mb is not None:
            self.history.record(memory.model, memory.peak_mb)
        self._wake_first()

    def still_to_grow_mb(self) -> float:
        """What the admitted calls are still expected to add (as of the last tick)."""
        return self._growing_mb

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
        growing = self._growing_mb
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
