"""The SQLite store's one worker thread: every statement runs there, in the order asked.

`Worker.run` waits for one piece of work (a queue in, a trio reschedule out: ~70 µs a round
trip against ~120 µs for `trio.to_thread.run_sync`). `Worker.hand_over` does not wait: the
piece is written after it returns, still before anything asked of the worker later, and only a
failure comes back to the trio thread. A `WorkBatch` collects a task's writes and hands them
over as one piece (one transaction), so recording a call costs one wake of the thread, one
commit or two, and no trip back.

What it must never do: run two pieces at once or out of order, lose a failure without telling
the trio thread, or make the trio thread wait for a write nobody waits for.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import attrs
import outcome
import trio

__all__ = ["Pieces", "WorkBatch", "Worker", "run_each"]

T = TypeVar("T")

Pieces = list[tuple[Callable[..., Any], tuple[Any, ...]]]


class Worker:
    """One thread that runs the store's blocking work, one piece at a time, in order.

    `run` waits for its piece without giving up on it: a write the caller stops waiting for
    would still happen, so the wait is not cancellable (as `trio.to_thread.run_sync`'s).
    """

    def __init__(self, name: str) -> None:
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stopped = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        if self._stopped:
            raise trio.ClosedResourceError("the store is closed")
        task = trio.lowlevel.current_task()
        token = trio.lowlevel.current_trio_token()

        def report(result: outcome.Outcome[T]) -> None:
            token.run_sync_soon(trio.lowlevel.reschedule, task, result)

        self._inbox.put((work, args, report))
        value: T = await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.FAILED)
        return value

    def hand_over(
        self,
        pieces: Pieces,
        failed: Callable[[Exception], None],
        run: Callable[[Pieces], list[Exception]] | None = None,
    ) -> None:
        """Run `pieces` in order after what came before (by `run`, default `run_each`: the
        store's one transaction around them), without waiting for them; `failed` is called
        on the trio thread (soon after) with the exception of each piece that failed."""
        if self._stopped:
            raise trio.ClosedResourceError("the store is closed")
        token = trio.lowlevel.current_trio_token()

        def report(result: outcome.Outcome[list[Exception]]) -> None:
            try:
                failures = result.unwrap()
            except Exception as error:  # the runner itself failed
                failures = [error]
            for exc in failures:
                token.run_sync_soon(failed, exc)

        self._inbox.put((run or run_each, (pieces,), report))

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        self._stopped = True
        self._inbox.put(None)

    def _serve(self) -> None:
        while (item := self._inbox.get()) is not None:
            work, args, report = item
            result = outcome.capture(work, *args)
            # The caller's trio run may be gone (nobody to tell).
            with contextlib.suppress(trio.RunFinishedError):
                report(result)


@attrs.define
class WorkBatch:
    """Pieces of work one task collected (`SQLiteStore.write_batch`), handed to the worker
    as one piece: each still runs on its own, in order, its failure reported to `failed`."""

    task: trio.lowlevel.Task
    worker: Worker
    failed: Callable[[Exception], None]
    runner: Callable[[Pieces], list[Exception]] | None = None  # in the thread (`hand_over`)
    pieces: Pieces = attrs.Factory(list)

    async def run(self, writes: Sequence[Callable[[], Awaitable[None]]]) -> None:
        """Call each of `writes` (its store puts its work in `pieces`), then hand them over."""
        for write in writes:
            try:
                await write()
            except Exception as exc:  # a bad argument, before any trip
                self.failed(exc)
        self.hand_over()

    def hand_over(self) -> None:
        """Hand over what was collected so far (before anything that cannot wait in a batch)."""
        if self.pieces:
            pieces, self.pieces = self.pieces, []
            self.worker.hand_over(pieces, self.failed, self.runner)


def run_each(pieces: Pieces) -> list[Exception]:
    """In the worker thread: each piece in order; the exceptions of those that failed."""
    failures = []
    for work, args in pieces:
        try:
            work(*args)
        except Exception as exc:
            failures.append(exc)
    return failures
