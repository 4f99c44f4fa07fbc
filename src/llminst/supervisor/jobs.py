"""Jobs: calls that run in the supervisor's nursery, not tied to whoever started them.

A job is started (`Jobs.start`) and returns its id at once; it runs until it ends, its timeout,
a cancel, or the supervisor closes (recorded ``interrupted`` then). Nobody reads its events as it
runs: its text goes to the store through the recorder, and a poller waits for news with
`wait_for_news` (the live registry, `live`). Waiting and cancelling work for any running call of
the supervisor, job or not. Who may see which call (owners) is the caller's rule, not this
module's.

What it must never do: let a job's failure escape into the nursery (`CallRunner.drive` never
raises), or return from `cancel` before the call's process tree is gone.
"""

from __future__ import annotations

import trio

from .._core.request import CallRequest
from ..store.base import CallStore
from .call import Call, CallRunner
from .live import LiveCalls

__all__ = ["STORE_POLL_S", "Jobs"]

# How often a long-poll reads the store for news of a call another process runs.
STORE_POLL_S = 0.2


class Jobs:
    """Starts jobs on a supervisor's nursery; waits for and cancels its running calls."""

    def __init__(
        self,
        runner: CallRunner,
        nursery: trio.Nursery,
        live: LiveCalls,
        store: CallStore | None = None,
    ) -> None:
        self._runner = runner
        self._nursery = nursery
        self._live = live
        self._store = store

    def start(self, request: CallRequest, *, owner: str | None = None) -> str:
        """Start `request` as a task of the nursery; its call id."""
        call = self._runner.new_call(request, events=None, owner=owner, detached=True)
        self._nursery.start_soon(self._runner.drive, call)
        call.log.info("llminst.job.started", owner=owner is not None)
        return call.id

    def running(self, call_id: str) -> Call | None:
        """The call of that id if it runs (or waits for its model's limit) now, else None."""
        return self._live.get(call_id)

    async def wait_for_news(self, call_id: str, offset: int) -> None:
        """Return once the running call has more than `offset` characters of output, starts a
        new attempt, or ends; at once if it runs nowhere. A call another process runs (a
        replica on the same store) is watched in the store, every `STORE_POLL_S`.

        Cancellation: safe at any point; a long-poll puts its deadline around it.
        """
        if self._store is None or self._live.get(call_id) is not None:
            await self._live.wait_for_news(call_id, offset)
            return
        record = await self._store.get_call(call_id)
        attempts = None if record is None else record.attempts
        while record is not None and not record.state.done and record.output_chars <= offset:
            if record.attempts != attempts:
                return
            await trio.sleep(STORE_POLL_S)
            record = await self._store.get_call(call_id)

    async def cancel(self, call_id: str) -> bool:
        """End a running call: False if none of that id runs.

        Its process tree gets SIGTERM at once, then the grace period, SIGKILL, and is reaped
        before this returns; the call is recorded ``cancelled`` with its output so far.

        Cancellation: the wait is shielded; the call is ended either way.
        """
        call = self._live.get(call_id)
        if call is None:
            return False
        call.log.info("llminst.job.cancelled")
        await call.end()
        return True

    async def wait_all(self) -> None:
        """Return once no job runs (jobs started meanwhile are waited for too).

        Cancellation: safe; the jobs go on (until the supervisor closes).
        """
        while jobs := [call for call in self._runner.calls.values() if call.detached]:
            for call in jobs:
                await call.done.wait()
