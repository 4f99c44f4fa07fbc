"""One call's state, shared by the task that runs it and its caller, and who is told of it.

A `Call` holds what a running call has gathered (attempts, the last attempt's output, its
result or error, its memory) and the few ways its caller or the supervisor end it; a
`CallWatcher` is told of every call's life. `call.CallRunner` runs calls; this module never
starts a process and never waits but on the caller's own event channel and the call's end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import attrs
import trio
from attrs import define

from .._core.errors import LLMError
from .._core.fallbacks import PassedOver
from .._core.outcome import CallFacts
from .._core.output import AttemptOutput
from .._core.request import CallRequest
from .._core.result import CallResult
from .memory import CallMemory
from .stream import AttemptStarted, StreamEvent

__all__ = ["Call", "CallWatcher", "count_by_model"]


class CallWatcher(Protocol):
    """Something told of every call's life as it happens (the store's recorder, live jobs).

    Each method is called synchronously on the call's path, so it must be quick, never wait,
    and never raise: a watcher that has I/O to do queues it for a task of its own.
    """

    def call_started(self, call: Call) -> None:
        """`call` was accepted (queued for its model's limit)."""

    def call_event(self, call: Call, event: StreamEvent) -> None:
        """`call` produced `event` (an attempt started, text, a retry notice or a backoff)."""

    def call_finished(self, call: Call) -> None:
        """`call` ended: `call.result` is set (and `call.error` for a failure)."""


@define(eq=False)
class Call:
    """One call's state, shared by its task and its caller."""

    id: str
    request: CallRequest
    scope: trio.CancelScope
    started: float
    events: trio.MemorySendChannel[StreamEvent] | None  # None: nobody reads them
    log: Any  # structlog, bound to the call's id and model
    done: trio.Event = attrs.Factory(trio.Event)
    attempts: int = 0
    last: AttemptOutput | None = None
    result: CallResult | None = None
    error: LLMError | None = None
    watchers: Sequence[CallWatcher] = ()
    owner: str | None = None  # who may see it over HTTP (set by the server), None: anyone
    inline: bool = False  # run in its caller's task (`run`), not in the supervisor's nursery
    detached: bool = False  # a job: nobody waits for it (`Supervisor.start`)
    abandoned: bool = False  # the caller left before the call ended
    cancelled_why: str | None = None  # who cancelled it, when not its caller
    shut_down: bool = False  # its supervisor closed before the call ended
    spawned: int = 0  # processes started (a missing CLI counts an attempt but starts none)
    passed_over: list[PassedOver] = attrs.Factory(list)  # models tried before `request`'s
    waiting_for: str | None = None  # "a concurrency slot" or "memory" while queued
    memories: list[CallMemory] = attrs.Factory(list)  # its memory on each model it ran on
    memory_room_mb: float | None = None  # room for it at admission's last look (MB)

    @property
    def peak_rss_mb(self) -> float | None:
        """The largest process-tree RSS measured (MB, over every model); None if unmeasured."""
        peaks = [memory.peak_mb for memory in self.memories if memory.peak_mb is not None]
        return round(max(peaks), 1) if peaks else None

    def facts(self) -> CallFacts:
        duration_s = trio.current_time() - self.started
        return CallFacts(
            request=self.request,
            attempts=self.attempts,
            duration_s=duration_s,
            passed_over=tuple(self.passed_over),
            peak_rss_mb=self.peak_rss_mb,
            call_id=self.id,
        )

    def outcome(self) -> CallResult:
        """The result of the ended call, or its error raised."""
        if self.error is not None:
            raise self.error
        if self.result is None:
            raise RuntimeError("the call is still running")
        return self.result

    async def emit(self, event: StreamEvent) -> None:
        """Pass `event` to the watchers and the caller; waits only while the caller's buffer
        is full."""
        if isinstance(event, AttemptStarted):
            self.spawned += 1
        for watcher in self.watchers:
            watcher.call_event(self, event)
        if self.events is None:
            return
        # A consumer that stopped reading cancels the call when it leaves its block.
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            try:
                self.events.send_nowait(event)
            except trio.WouldBlock:
                await self.events.send(event)

    async def end(self) -> None:
        """The caller is leaving: end the call if it runs, and wait (shielded) until it is over
        (its process tree gone)."""
        if not self.done.is_set():
            self.abandon()
            with trio.CancelScope(shield=True):
                await self.done.wait()

    def abandon(self, why: str | None = None) -> None:
        """The caller is gone, or someone else (`why` says who) ended the call; `done` is set
        once its processes are gone."""
        if not self.done.is_set():
            self.abandoned = True
            self.cancelled_why = why
            self.scope.cancel()

    def shut_down_now(self) -> None:
        """The supervisor closes: end the call (`done` is set once its processes are gone)."""
        if not self.done.is_set():
            self.shut_down = True
            self.scope.cancel()


def count_by_model(calls: Iterable[Call], *, queued_only: bool = False) -> dict[str, int]:
    """How many of `calls` each model has (`queued_only`: only those waiting to start)."""
    counts: dict[str, int] = {}
    for call in calls:
        if queued_only and call.waiting_for is None:
            continue
        name = call.request.spec.name
        counts[name] = counts.get(name, 0) + 1
    return counts
