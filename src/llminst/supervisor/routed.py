"""Routed session turns, both sides: a turn sent to the replica whose host can resume its CLI
session, and a turn taken from another replica.

Offering side (`Router.offer`, `Router.follow`): a turn of a session whose CLI keeps its resume
state on another host's disk (`_core.routing.owner_host`), while a replica of that host is
alive, is offered on that host's work stream (`replicas.routing.TurnQueue`). Once taken, this
replica follows the call in the store under the id it chose: the output as it grows (as
`TextDelta` events, read every `FOLLOW_POLL_S`; no attempt or retry events cross), then the
`CallResult` or `LLMError` a local call would give (`_core.routing.remote_outcome`). A caller
that cancels publishes a cancel (the store's request and the cancel bus) and waits, shielded,
up to `CANCEL_WAIT_S` for the owner to record the end. An owner that dies mid-turn leaves the
call ``interrupted`` (the sweep): that error is returned, never a replay (its CLI may have
recorded the turn). Not taken within the claim wait: withdrawn, and run here, replayed.

Taking side (`Router.take`): the turn runs as a job under the offerer's call id inside this
replica's own session turn (its lock, its resume, the session recorded with this host).

What it must never do: run a turn in two places, or start a process (the runner does).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from .._core.errors import LLMError
from .._core.events import TextDelta
from .._core.outcome import cancelled_error
from .._core.records import CallRecord, CallState
from .._core.request import CallRequest
from .._core.routing import interrupted_error, owner_host, remote_outcome, routed_options
from .._core.sessions import check_session_name
from ..logs import get_logger
from ..replicas.health import is_unavailable
from ..replicas.link import ReplicaLink
from ..replicas.routing import RoutedTurn, TurnQueue
from ..store.base import CallStore
from .callstate import Call
from .options import CallOptions
from .sessions import read_session
from .stream import StreamEvent

if TYPE_CHECKING:
    from .handover import Handover

__all__ = ["CANCEL_WAIT_S", "FOLLOW_POLL_S", "RemoteTurn", "Router", "start_routing"]

_log = get_logger()

FOLLOW_POLL_S = 0.2  # how often a routed call's record and output are read
CANCEL_WAIT_S = 10.0  # how long a cancelled routed call waits for its owner to record the end

Build = Callable[[str, str, CallOptions], CallRequest]
StartJob = Callable[[CallRequest, str, str | None, str], None]


class RemoteTurn:
    """A turn another replica took: its call id, its host and the taker's writer identity."""

    def __init__(self, call_id: str, host: str, taker: str) -> None:
        self.call_id = call_id
        self.host = host
        self.taker = taker


class Router:
    """One supervisor's side of turn routing (made by `opening` when replicas share a Redis)."""

    def __init__(
        self,
        queue: TurnQueue,
        *,
        store: CallStore,
        new_id: Callable[[], str],
        build: Build,
        start_job: StartJob,
        publish_cancel: Callable[[str], Awaitable[None]],
    ) -> None:
        self.queue = queue
        self._store = store
        self._new_id = new_id
        self._build = build
        self._start_job = start_job
        self._publish_cancel = publish_cancel

    # -- offering ----------------------------------------------------------------------------

    async def offer(
        self, request: CallRequest, session: str | None, owner: str | None
    ) -> RemoteTurn | None:
        """The turn as another replica took it, or None: it runs here (no session, nothing to
        resume elsewhere, its host has no live replica, or nobody took it in time)."""
        if session is None:
            return None
        name = check_session_name(session)
        record = await read_session(self._store, name)
        host = owner_host(record, request.spec, host=self.queue.host)
        if host is None or not await self.queue.host_alive(host):
            return None
        turn = RoutedTurn(
            call_id=self._new_id(),
            model=request.model,
            prompt=request.prompt,
            session=name,
            options=routed_options(request),
            owner=owner,
            sender=self.queue.writer,
        )
        try:
            taker = await self.queue.offer(host, turn)
        except trio.Cancelled:  # taken meanwhile, it would run for nobody: end it there
            with trio.CancelScope(shield=True):
                await self._store.request_cancel(turn.call_id, now=time.time())
                await self._publish_cancel(turn.call_id)
            raise
        if taker is None:
            _log.info("llminst.session.route_withdrawn", session=name, to_host=host)
            return None
        _log.info("llminst.session.routed", session=name, to_host=host, call=turn.call_id)
        return RemoteTurn(turn.call_id, host, taker)

    def call_for(
        self,
        request: CallRequest,
        remote: RemoteTurn,
        events: trio.MemorySendChannel[StreamEvent] | None,
    ) -> Call:
        """This replica's view of the routed call (not counted among its running calls)."""
        return Call(
            id=remote.call_id,
            request=request,
            scope=trio.CancelScope(),  # the owner keeps the call's deadline
            started=trio.current_time(),
            events=events,
            log=_log.bind(call=remote.call_id, model=request.model),
        )

    async def follow(self, call: Call, remote: RemoteTurn) -> None:
        """Follow the routed call to its end, setting `call`'s result and error; never raises
        but trio.Cancelled from outside.

        Cancellation: from outside or by `call.abandon` (the stream's caller left), the owner
        is asked to cancel and waited for (shielded, up to `CANCEL_WAIT_S`).
        """
        try:
            with call.scope:
                await self._tail(call, remote)
            if call.scope.cancelled_caught:
                with trio.CancelScope(shield=True):
                    await self._cancel_remote(call, remote)
        except trio.Cancelled:
            with trio.CancelScope(shield=True):
                await self._cancel_remote(call, remote)
            raise
        finally:
            call.done.set()
            if call.events is not None:
                call.events.close()

    async def _tail(self, call: Call, remote: RemoteTurn) -> None:
        offset, ended = 0, False
        while not ended:
            try:
                offset, ended = await self._poll(call, remote, offset)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                # The store is away: the owner goes on (its writes wait); read again later.
            if not ended:
                await trio.sleep(FOLLOW_POLL_S)

    async def _poll(self, call: Call, remote: RemoteTurn, offset: int) -> tuple[int, bool]:
        """Read the routed call once: pass its new output on; once it ended, set its outcome.
        The new offset, and whether it ended."""
        record = await self._store.get_call(call.id)
        if record is None:
            if await self.queue.writer_alive(remote.taker):
                return offset, False  # taken, not recorded yet
            # Taken, then the owner died before it recorded the call: it may have run.
            call.error = interrupted_error(remote.host)
            return offset, True
        offset = await self._forward_output(call, record, offset)
        if not record.state.done:
            return offset, False
        output = await self._store.read_output(call.id)
        call.result, call.error = remote_outcome(record, output, host=remote.host)
        return offset, True

    async def _forward_output(self, call: Call, record: CallRecord, offset: int) -> int:
        """Pass the output stored after `offset` on as text events; the new offset."""
        if record.output_chars < offset:  # a new attempt started over (its text comes anew)
            offset = 0
        if record.output_chars > offset:
            text = await self._store.read_output(call.id, offset)
            if text:
                await call.emit(TextDelta(text))
            offset += len(text)
        return offset

    async def _cancel_remote(self, call: Call, remote: RemoteTurn) -> None:
        """Ask the owner to end the call and wait for the end it records (shielded caller)."""
        call.log.info("llminst.session.routed_cancelled", to_host=remote.host)
        record = None
        try:
            await self._store.request_cancel(call.id, now=time.time())
            await self._publish_cancel(call.id)
            with trio.move_on_after(CANCEL_WAIT_S):
                while record is None or not record.state.done:
                    await trio.sleep(FOLLOW_POLL_S)
                    record = await self._store.get_call(call.id)
            if record is not None and record.state.done:
                output = await self._store.read_output(call.id)
                call.result, _ = remote_outcome(record, output, host=remote.host)
        except Exception as exc:  # the store is away: the request could not be left
            if not is_unavailable(exc):
                raise
            call.log.warning("llminst.session.routed_cancel_unsent", error=repr(exc))
        call.error = cancelled_error()
        call.error.result = call.result

    # -- taking ----------------------------------------------------------------------------

    async def take(self, turn: RoutedTurn) -> None:
        """Run `turn`, which this replica took, as a job under the offerer's call id."""
        _log.info(
            "llminst.session.route_taken", session=turn.session, call=turn.call_id, by=turn.sender
        )
        try:
            request = self._build(turn.model, turn.prompt, CallOptions(**turn.options))
        except LLMError as error:  # this replica's models or roots refuse it: say so there
            await self._store.add_call(_refused(turn, error, writer=self.queue.writer))
            return
        self._start_job(request, turn.session, turn.owner, turn.call_id)


def _refused(turn: RoutedTurn, error: LLMError, *, writer: str) -> CallRecord:
    now = time.time()
    return CallRecord(
        call_id=turn.call_id,
        model=turn.model,
        state=CallState.FAILED,
        created_at=now,
        finished_at=now,
        error_kind=error.kind,
        error=error.message,
        session=turn.session,
        owner=turn.owner,
        writer=writer,
    )


def start_routing(
    link: ReplicaLink, handover: Handover, build: Build, nursery: trio.Nursery
) -> None:
    """Route `handover`'s session turns among the replicas of `link`, and take those routed
    here, in `nursery` (a supervisor's, while it is open)."""
    router = _router_for(link, handover, build)
    handover.router = router
    nursery.start_soon(router.queue.run, router.take)


def _router_for(link: ReplicaLink, handover: Handover, build: Build) -> Router:
    """The router of a supervisor tied to replicas by `link` (its host: the sessions' host)."""
    settings = link.settings
    queue = TurnQueue(
        link.client,
        host=handover.sessions.host,
        writer=link.writer,
        prefix=settings.prefix,
        lease_s=settings.heartbeat_lease_s,
        every_s=settings.heartbeat_every_s,
        claim_wait_s=settings.route_claim_wait_s,
    )
    return Router(
        queue,
        store=handover.sessions.store,
        new_id=handover.runner.next_id,
        build=build,
        start_job=handover.start_routed,
        publish_cancel=link.publish_cancel,
    )
