"""How a call is handed to the runner: in its caller's task, as a stream, or as a job.

`run` drives the call in the caller's task (nothing to hand over); `stream` drives it as a
task of the supervisor's nursery while the caller reads its events; `start` leaves it to the
nursery as a job. Each takes the call's session turn first (one call of a session at a time)
and adds a successful answer to the session. What it must never do: leave a call running
after its caller left a stream's block, or return a job's id before the job exists.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
from attrs import define

from .._core.request import CallRequest
from .._core.result import CallResult
from .call import CallRunner
from .jobs import Jobs
from .sessions import SessionKeeper
from .stream import CallStream, StreamEvent

__all__ = ["Handover"]

_STREAM_BUFFER = 64  # events queued for a slow consumer before the CLI is paused


@define
class Handover:
    """Starts the calls of one supervisor (`Supervisor.run`, `open_stream`, `start`)."""

    runner: CallRunner
    nursery: trio.Nursery
    sessions: SessionKeeper
    jobs: Jobs

    async def run(self, request: CallRequest, session: str | None, owner: str | None) -> CallResult:
        """The call's result, or its error raised; driven in this task."""
        async with self.sessions.turn(request, session) as turn:
            call = self.runner.new_call(turn.request, events=None, owner=owner)
            await self.runner.drive(call)  # in this task: nothing to hand over
            result = call.outcome()
            turn.succeeded(call.id, result)
        return result

    @asynccontextmanager
    async def stream(
        self, request: CallRequest, session: str | None, owner: str | None
    ) -> AsyncIterator[CallStream]:
        """The call's `CallStream`; leaving the block ends the call and waits until it is over."""
        async with self.sessions.turn(request, session) as turn:
            send, receive = trio.open_memory_channel[StreamEvent](_STREAM_BUFFER)
            call = self.runner.new_call(turn.request, events=send, owner=owner)
            self.nursery.start_soon(self.runner.drive, call)
            try:
                yield CallStream(call, receive)
            finally:
                receive.close()
                await call.end()
                if call.error is None and call.result is not None:
                    turn.succeeded(call.id, call.result)

    async def start(self, request: CallRequest, session: str | None, owner: str | None) -> str:
        """The id of the job now running the call (once the session's previous call ended)."""
        if session is None:
            return self.jobs.start(request, owner=owner)
        call_id: str = await self.nursery.start(self._session_job, request, session, owner)
        return call_id

    async def _session_job(
        self,
        request: CallRequest,
        session: str,
        owner: str | None,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with self.sessions.turn(request, session) as turn:
            call = self.runner.new_call(turn.request, events=None, owner=owner, detached=True)
            task_status.started(call.id)
            call.log.info("llminst.job.started", owner=owner is not None, session=session)
            await self.runner.drive(call)
            if call.error is None and call.result is not None:
                turn.succeeded(call.id, call.result)
