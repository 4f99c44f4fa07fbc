"""How a call is handed to the runner: in its caller's task, as a stream, or as a job.

`run` drives the call in the caller's task (nothing to hand over); `stream` drives it as a
task of the supervisor's nursery while the caller reads its events; `start` leaves it to the
nursery as a job. Each takes the call's session turn first (one call of a session at a time)
and adds a successful answer to the session. With a `router` (replicas on one Redis), a turn
whose CLI can resume only on another live host is run there and followed here (`routed`).
What it must never do: leave a call running
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
from .routed import RemoteTurn, Router
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
    router: Router | None = None

    async def _routed(
        self, request: CallRequest, session: str | None, owner: str | None
    ) -> RemoteTurn | None:
        if self.router is None or session is None:
            return None
        return await self.router.offer(request, session, owner)

    async def run(self, request: CallRequest, session: str | None, owner: str | None) -> CallResult:
        """The call's result, or its error raised; driven in this task."""
        if self.router is not None and (remote := await self._routed(request, session, owner)):
            call = self.router.call_for(request, remote, events=None)
            await self.router.follow(call, remote)
            return call.outcome()
        if session is None:  # no turn to take: no context manager a call
            call = self.runner.new_call(request, events=None, owner=owner)
            await self.runner.drive(call)  # in this task: nothing to hand over
            return call.outcome()
        async with self.sessions.turn(request, session) as turn:
            call = self.runner.new_call(turn.request, events=None, owner=owner)
            await self.runner.drive(call)
            result = call.outcome()
            turn.succeeded(call.id, result)
        return result

    @asynccontextmanager
    async def stream(
        self, request: CallRequest, session: str | None, owner: str | None
    ) -> AsyncIterator[CallStream]:
        """The call's `CallStream`; leaving the block ends the call and waits until it is over."""
        if self.router is not None and (remote := await self._routed(request, session, owner)):
            async with self._remote_stream(self.router, request, remote) as stream:
                yield stream
            return
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

    @asynccontextmanager
    async def _remote_stream(
        self, router: Router, request: CallRequest, remote: RemoteTurn
    ) -> AsyncIterator[CallStream]:
        send, receive = trio.open_memory_channel[StreamEvent](_STREAM_BUFFER)
        call = router.call_for(request, remote, events=send)
        self.nursery.start_soon(router.follow, call, remote)
        try:
            yield CallStream(call, receive)
        finally:
            receive.close()
            await call.end()

    async def start(self, request: CallRequest, session: str | None, owner: str | None) -> str:
        """The id of the job now running the call (once the session's previous call ended)."""
        if session is None:
            return self.jobs.start(request, owner=owner)
        if remote := await self._routed(request, session, owner):
            return remote.call_id  # another replica took it: it runs there
        call_id: str = await self.nursery.start(self._session_job, request, session, owner)
        return call_id

    def start_routed(
        self, request: CallRequest, session: str, owner: str | None, call_id: str
    ) -> None:
        """Run a turn another replica routed here as a job under its id (`routed.Router`)."""
        self.nursery.start_soon(self._session_job, request, session, owner, call_id)

    async def _session_job(
        self,
        request: CallRequest,
        session: str,
        owner: str | None,
        call_id: str | None = None,
        *,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with self.sessions.turn(request, session) as turn:
            call = self.runner.new_call(
                turn.request, events=None, owner=owner, detached=True, call_id=call_id
            )
            task_status.started(call.id)
            call.log.info("llminst.job.started", owner=owner is not None, session=session)
            await self.runner.drive(call)
            if call.error is None and call.result is not None:
                turn.succeeded(call.id, call.result)
