"""The recorder: writes every call's life to the call store, off the call's path.

`Recorder` is a `CallWatcher`: the supervisor tells it, synchronously, when a call is accepted,
when an attempt starts, each piece of text, and when the call ends. It only queues what to
write; one writer task of the supervisor's nursery (`run`) writes the queue, so a call never
waits on a disk write to stream its text. Batching comes from the writer's own pace: text that
arrives while a write is under way is joined into one append, so a fast CLI costs few writes
and a slow one has each piece stored at once; a process that dies mid-call keeps what arrived
up to the last write. A SQLite store (`store.base.WritesInBatches`) gets what is queued as one
piece of work its thread writes while the writer goes on; a Redis store (`WritesInPipelines`)
gets a run of call writes as one round trip. The writer sets no timer, so virtual clocks see
only the calls' own. Leaving the supervisor drains the queue (`drain`) before it is left.

A store whose server cannot be reached for a while (Redis restarted or down:
`replicas.health.is_unavailable`) degrades instead: the write stays at the head of the queue
and is tried again, backing off up to 2 s, until the server is back (``llminst.store.degraded``
then ``llminst.store.recovered``, once each), so the record and the output of a call that
ran meanwhile reach the store in order. Closing gives such a store `CLOSE_RETRY_S` more.

What it must never do: slow down or fail a call because the store is slow or broken (a failed
write is logged, the call goes on), or keep a prompt the store was told not to keep.
"""

from __future__ import annotations

import itertools
import math
import os
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from .._core.events import TextDelta
from .._core.records import CallOrigin, CallRecord, CallState
from .._core.result import CallResult
from ..logs import get_logger
from ..replicas.health import StoreHealth, is_unavailable
from ..store.base import CallStore, WritesInBatches, WritesInPipelines
from ..store.memory import MemoryStore
from . import procfs
from .stream import AttemptStarted, StreamEvent

if TYPE_CHECKING:
    from .call import Call

__all__ = [
    "HOST_NAME_ENV",
    "Recorder",
    "this_host",
    "writer_alive",
    "writer_host",
    "writer_identity",
]

_log = get_logger()

# How long closing keeps retrying writes to a store whose server cannot be reached.
CLOSE_RETRY_S = 10.0
# At most this many queued writes go to a store as one batch (`WritesInBatches`).
BATCH_MAX = 64

Write = Callable[[], Awaitable[None]]


HOST_NAME_ENV = "LLMINST_HOST_NAME"


def this_host() -> str:
    """This machine's name among replicas: ``$LLMINST_HOST_NAME`` (so several replicas on one
    machine, each with its own HOME, can stand for several machines), else its host name."""
    return os.environ.get(HOST_NAME_ENV) or socket.gethostname()


def writer_identity() -> str:
    """This process as a call's writer: ``host:pid:start`` (start tells a reused PID apart)."""
    stat = procfs.read_stat("self")
    start = 0 if stat is None else stat.start_time
    return f"{this_host()}:{os.getpid()}:{start}"


def writer_host(writer: str) -> str:
    """The machine a `writer_identity` names (its host part)."""
    return writer.partition(":")[0]


def writer_alive(writer: str) -> bool:
    """Whether the process a `writer_identity` names still runs (another host: assumed so)."""
    _, _, rest = writer.partition(":")
    host = writer_host(writer)
    pid_text, _, start_text = rest.partition(":")
    if host != this_host():
        return True  # cannot tell from here; a shared store's owner decides
    try:
        pid, start = int(pid_text), int(start_text)
    except ValueError:
        return False
    stat = procfs.read_stat(pid)
    if stat is None:
        return False
    return stat.alive and (start == 0 or stat.start_time == start)


class Recorder:
    """Queues each call's record and output for the store, and writes them in batches.

    Args:
        store: where calls are kept.
        origin: who asks for the calls of this supervisor.
        keep_prompts: keep each call's prompt in its record.
        writer: this process as the calls' writer (default: `writer_identity`).
        health: the store's degraded flag (default: one of its own).
    """

    def __init__(
        self,
        store: CallStore,
        *,
        origin: CallOrigin = CallOrigin.LIBRARY,
        keep_prompts: bool = True,
        writer: str | None = None,
        health: StoreHealth | None = None,
    ) -> None:
        self.store = store
        self.origin = origin
        self.keep_prompts = keep_prompts
        self.writer = writer or writer_identity()
        self.health = health or StoreHealth()
        self._give_up_at = math.inf  # trio time after which an unreachable store is dropped
        # The in-memory store's writes complete at once: they are applied on the call's path
        # (no queue, no writer task to wake). A subclass may override the async writes, so
        # only the class itself qualifies.
        self._instant = store if type(store) is MemoryStore else None
        self._batches = store if isinstance(store, WritesInBatches) else None
        self._pipelines = store if isinstance(store, WritesInPipelines) else None
        self._queue: deque[Write] = deque()
        self._foreign: set[Write] = set()  # queued by `queue_write`: never in a pipeline
        self._text: dict[str, list[str]] = {}  # call id -> text not yet queued as one append
        self._chars: dict[str, int] = {}  # call id -> characters of its attempt recorded
        self._records: dict[str, CallRecord] = {}  # call id -> its record as first written
        self._started_at: dict[str, float] = {}  # call id -> when its first attempt started
        self._outages: dict[str, int] = {}  # call id -> the store's outages when it started
        self._wakeup = trio.Event()
        # Neither costs a trip through the scheduler when nobody waits (a Condition's and a
        # Lock's `async with` each do): the writer runs once or twice a call.
        self._written = trio.lowlevel.ParkingLot()  # `flushed` waiters
        self._writing = trio.Lock()
        self._queued_total = 0
        self._written_total = 0

    # -- CallWatcher ----------------------------------------------------------------------

    def call_started(self, call: Call) -> None:
        request = call.request
        record = CallRecord(
            call_id=call.id,
            model=request.model,
            state=CallState.QUEUED,
            origin=self.origin,
            created_at=time.time(),
            prompt=request.prompt if self.keep_prompts else None,
            owner=call.owner,
            writer=self.writer,
            session=getattr(request, "session", None),
            cwd=request.cwd,
        )
        self._chars[call.id] = 0
        if self._instant is not None:
            self._instant.add_call_now(record)
            return
        self._records[call.id] = record
        self._outages[call.id] = self.health.outages
        self._enqueue(lambda: self.store.add_call(record))

    def call_event(self, call: Call, event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            if event.text:
                self._chars[call.id] = self._chars.get(call.id, 0) + len(event.text)
                if self._instant is not None:
                    self._instant.append_output_now(call.id, event.text)
                else:
                    self._text.setdefault(call.id, []).append(event.text)
                    self._wake()
        elif isinstance(event, AttemptStarted):
            self._attempt_started(call.id, event.attempt)

    def call_finished(self, call: Call) -> None:
        result = call.result
        if result is None:  # cannot happen: drive sets it before telling watchers
            return
        record = self._records.pop(call.id, None)
        outages = self._outages.pop(call.id, self.health.outages)
        started_at = self._started_at.pop(call.id, None)
        if record is not None and outages != self.health.outages:
            started = {} if started_at is None else {"started_at": started_at}
            self._rewrite(record.evolve(**started, **_final_fields(call, result)), result.output)
            return
        self._queue_text(call.id)
        if len(result.output) != self._chars.pop(call.id, 0):
            # What streamed is not the answer (a decoder kept more than it forwarded, or
            # the cap cut it): keep the answer itself.
            self._reset(call.id)
            self._append(call.id, result.output)
        self._update(call.id, _final_fields(call, result))

    # -- writing --------------------------------------------------------------------------

    async def run(self) -> None:
        """Write queued work as it comes, forever (a task of the supervisor's nursery)."""
        while True:
            if not self._wakeup.is_set():
                await self._wakeup.wait()
            self._wakeup = trio.Event()
            await self._write_queued()

    async def drain(self) -> None:
        """Write everything queued so far (the supervisor closes: shielded by its caller); an
        unreachable store gets `CLOSE_RETRY_S` to come back."""
        self._give_up_at = trio.current_time() + CLOSE_RETRY_S
        await self._write_queued()
        if self._batches is not None:
            await self._batches.written()

    async def flushed(self) -> None:
        """Wait until what was queued before this call is written."""
        for call_id in list(self._text):
            self._queue_text(call_id)
        target = self._queued_total
        self._wake()
        # A degraded store is read by nobody until it is back: waiting would stall the
        # calls that wait for it (budgets), not make it readable.
        while self._written_total < target and not self.health.degraded:
            await self._written.park()
        if self._batches is not None:  # handed over: wait until the disk has it
            await self._batches.written()

    async def _wait_for_store(self, exc: Exception) -> None:
        was_degraded = self.health.degraded
        self.health.failed(exc, what="write")
        if not was_degraded:
            self._written.unpark_all()  # `flushed` waiters stop waiting for it
        await trio.sleep(min(self.health.next_retry_s(), self._give_up_at - trio.current_time()))

    def _rewrite(self, record: CallRecord, output: str) -> None:
        """The store was away or came back empty during the call: what was written may be
        gone (or an append sent twice), so the whole final record and output are written
        anew, once the store is back."""
        self._text.pop(record.call_id, None)
        self._chars.pop(record.call_id, None)
        _log.info("llminst.store.call_rewritten", call=record.call_id)
        self._enqueue(lambda: self.store.add_call(record))
        self._reset(record.call_id)
        self._append(record.call_id, output)

    def _attempt_started(self, call_id: str, attempt: int) -> None:
        self._queue_text(call_id)
        now = time.time()
        if attempt == 1:
            changes: dict[str, Any] = {
                "state": CallState.RUNNING,
                "attempts": 1,
                "started_at": now,
            }
            if call_id in self._records:  # kept for a rewrite; the record is evolved then
                self._started_at[call_id] = now
        else:
            self._chars[call_id] = 0
            self._reset(call_id)
            changes = {"state": CallState.RUNNING, "attempts": attempt}
        self._update(call_id, changes)

    def _queue_text(self, call_id: str) -> None:
        pieces = self._text.pop(call_id, None)
        if pieces:
            self._append(call_id, "".join(pieces))

    def _update(self, call_id: str, changes: dict[str, Any]) -> None:
        if self._instant is not None:
            self._instant.update_call_now(call_id, changes)
        else:
            self._enqueue(lambda: self.store.update_call(call_id, **changes))

    def _reset(self, call_id: str) -> None:
        if self._instant is not None:
            self._instant.reset_output_now(call_id)
        else:
            self._enqueue(lambda: self.store.reset_output(call_id))

    def _append(self, call_id: str, text: str) -> None:
        if self._instant is not None:
            self._instant.append_output_now(call_id, text)
        else:
            self._enqueue(lambda: self.store.append_output(call_id, text))

    def queue_write(self, write: Write) -> None:
        """Run `write` after every write queued so far (the budget keeper's releases)."""
        self._foreign.add(write)
        self._enqueue(write)

    def _enqueue(self, write: Write) -> None:
        self._queue.append(write)
        self._queued_total += 1
        self._wake()

    def _wake(self) -> None:
        self._wakeup.set()

    async def _write_queued(self) -> None:
        # One writer at a time: `drain` may start while the cancelled `run` is still inside a
        # shielded write (a store that writes off the trio thread yields there); both would
        # write the same piece and pop it twice.
        try:
            self._writing.acquire_nowait()
        except trio.WouldBlock:
            await self._writing.acquire()
        try:
            await self._write_queue()
        finally:
            self._writing.release()

    async def _write_queue(self) -> None:
        for call_id in list(self._text):
            self._queue_text(call_id)
        while self._queue:
            if self._batches is not None:
                await self._write_batch(self._batches)
                continue
            # One write (or pipeline) at a time: a cancelled writer leaves the rest for `drain`.
            writes = self._next_writes()
            try:
                with trio.CancelScope(shield=True):  # a write is never cut in half
                    for exc in await self._write(writes):
                        _write_failed(exc)
            except Exception as exc:  # the store failed: the call must not
                if is_unavailable(exc) and trio.current_time() < self._give_up_at:
                    await self._wait_for_store(exc)
                    continue  # the same writes again, so the store gets them in order
                _write_failed(exc)
            else:
                self.health.succeeded("write")
            for _ in writes:
                self._foreign.discard(self._queue.popleft())
            self._written_total += len(writes)
        self._written.unpark_all()

    def _next_writes(self) -> list[Write]:
        """The head of the queue, or the run of call writes there for a store that pipelines."""
        if self._pipelines is None or self._queue[0] in self._foreign:
            return [self._queue[0]]
        run = itertools.takewhile(lambda write: write not in self._foreign, self._queue)
        return list(itertools.islice(run, BATCH_MAX))

    async def _write(self, writes: list[Write]) -> list[Exception]:
        if len(writes) > 1 and self._pipelines is not None:  # else `_next_writes` gave one
            return await self._pipelines.write_pipelined(writes)
        await writes[0]()
        return []

    async def _write_batch(self, store: WritesInBatches) -> None:
        """Hand what is queued (up to `BATCH_MAX`) over as one piece of work, not waited for."""
        writes = list(itertools.islice(self._queue, BATCH_MAX))
        with trio.CancelScope(shield=True):  # a write is never cut in half
            await store.write_batch(writes, _write_failed)
        for _ in writes:
            self._queue.popleft()
        self._written_total += len(writes)


def _write_failed(exc: Exception) -> None:
    _log.warning("llminst.store.write_failed", error=repr(exc))


def _final_fields(call: Call, result: CallResult) -> dict[str, Any]:
    if call.error is None:
        state = CallState.SUCCEEDED
    elif call.shut_down:
        state = CallState.INTERRUPTED
    elif call.abandoned:
        state = CallState.CANCELLED
    else:
        state = CallState.FAILED
    summary = result.to_dict()
    summary.pop("output", None)
    if isinstance(summary.get("duration_s"), float) and not math.isfinite(summary["duration_s"]):
        summary["duration_s"] = None
    return {
        "state": state,
        "finished_at": time.time(),
        "attempts": result.attempts,
        "exit_code": result.exit_code,
        "error_kind": result.error_kind,
        "error": result.error,
        "usage": summary["usage"],  # a copy (`to_dict`): the caller may change its own
        "cost_usd": result.cost_usd,
        "cli_session_id": result.session_id,
        "result": summary,
    }
