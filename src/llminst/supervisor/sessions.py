"""Session turns: one call of a session at a time, continued from the store, recorded after.

`SessionKeeper.turn` wraps one call that names a session: it waits for the session's lock (two
turns at once would fork the conversation: this process's own, then the store's across
processes, `sessionlock`), reads the session from the store, hands back the
request that continues it (`_core.sessions.plan_continuation`: the CLI's resume flag only on
the host whose disk holds the CLI's session, the transcript elsewhere), and, once the call
succeeded, stores the session with the new turns and this host. What it must never do: record a failed or cancelled call
(it adds no turns), or start a process (the caller runs the call).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext

import attrs
import trio
from attrs import define

from .._core.errors import StoreUnavailableError
from .._core.records import SessionRecord
from .._core.request import CallRequest
from .._core.result import CallResult
from .._core.sessions import (
    Replay,
    Resume,
    check_session_name,
    next_session,
    plan_continuation,
)
from .._core.spec import Settings
from ..logs import get_logger
from ..replicas.health import is_unavailable
from ..store.base import CallStore
from .recorder import Recorder, writer_host
from .sessionlock import SessionLocks

__all__ = ["SessionKeeper", "SessionTurn", "keeper_for"]

_log = get_logger()


@define
class SessionTurn:
    """One call of a session: the request to run, and its result once it succeeded."""

    request: CallRequest
    session: SessionRecord | None
    call_id: str | None = None
    result: CallResult | None = None

    def succeeded(self, call_id: str, result: CallResult) -> None:
        """The call answered: its prompt and answer become the session's next turns."""
        self.call_id = call_id
        self.result = result


class SessionKeeper:
    """Runs the turns of sessions kept in `store`, one at a time per session, on `host` (this
    machine's name: where the CLIs it starts keep their resume state).

    `shared_locks` holds a session across processes too (None: within this one only);
    `queue_write` takes a session's update the store could not write (its server away) to
    write once it is back (the recorder's queue; None: the failure is raised).
    """

    def __init__(
        self,
        store: CallStore,
        *,
        host: str,
        shared_locks: SessionLocks | None = None,
        queue_write: Callable[[Callable[[], Awaitable[None]]], None] | None = None,
    ) -> None:
        self.store = store
        self._store = store
        self.host = host
        self._locks: dict[str, trio.Lock] = {}
        self._shared_locks = shared_locks
        self._queue_write = queue_write

    @asynccontextmanager
    async def turn(self, request: CallRequest, session: str | None) -> AsyncIterator[SessionTurn]:
        """The turn of `request` in `session` (None: a call outside any session, as is).

        Raises:
            InvalidInputError: `session` is not a valid name (before anything waits).
        """
        if session is None:
            yield SessionTurn(request, None)
            return
        name = check_session_name(session)
        lock = self._locks.setdefault(name, trio.Lock())
        try:
            async with lock, self._held_across_processes(name):
                record = await read_session(self._store, name)
                turn = SessionTurn(_continuing(request, name, record, self.host), record)
                self._note_replay_elsewhere(turn, name)
                try:
                    yield turn
                finally:
                    with trio.CancelScope(shield=True):  # the turn happened: keep it
                        await self._record(turn, name)
        finally:
            if lock.statistics().tasks_waiting == 0 and not lock.locked():
                self._locks.pop(name, None)

    def _held_across_processes(self, name: str) -> AbstractAsyncContextManager[None]:
        return nullcontext() if self._shared_locks is None else self._shared_locks.held(name)

    def _note_replay_elsewhere(self, turn: SessionTurn, name: str) -> None:
        """Log a session whose CLI could resume it, but on another host's disk: replayed."""
        record = turn.session
        if (
            record is not None
            and record.cli_session_id is not None
            and record.cli_host not in (None, self.host)
            and isinstance(turn.request.continuation, Replay)
        ):
            _log.info(
                "llminst.session.replayed_elsewhere",
                session=name,
                cli_host=record.cli_host,
                host=self.host,
            )

    async def _record(self, turn: SessionTurn, name: str) -> None:
        if turn.result is None:
            return
        # The model that answered: the one asked for, or a fallback of it.
        request = next(
            (r for r in (turn.request, *turn.request.fallbacks) if r.model == turn.result.model),
            turn.request,
        )
        updated = next_session(
            turn.session,
            name=name,
            model=request.model,
            spec=request.spec,
            prompt=request.prompt,
            answer=turn.result.output,
            cli_session_id=turn.result.session_id,
            call_id=turn.call_id,
            now=time.time(),
            host=self.host,
        )
        await self._put_session(updated)
        _log.info(
            "llminst.session.recorded",
            session=name,
            model=request.model,
            turns=len(updated.turns),
            resumed=isinstance(request.continuation, Resume),
            host=self.host,
        )

    async def _put_session(self, updated: SessionRecord) -> None:
        """Store the session; if its server is away, queue the write for when it is back (the
        answer is not lost for it; a turn elsewhere meanwhile may not see this one)."""
        try:
            await self._store.put_session(updated)
        except Exception as exc:
            if not is_unavailable(exc) or self._queue_write is None:
                raise
            _log.warning("llminst.session.record_queued", session=updated.name, error=repr(exc))
            self._queue_write(lambda: self._store.put_session(updated))


def keeper_for(
    recorder: Recorder, nursery: trio.Nursery, settings: Settings, *, host: str | None
) -> SessionKeeper:
    """The session keeper of a supervisor recording through `recorder`: its turns locked in
    the store across processes (leases renewed in `nursery`), on `host` (None: the host part
    of the recorder's writer)."""
    locks = SessionLocks(
        recorder.store,
        nursery=nursery,
        lease_s=settings.session_lock_lease_s,
        holder=recorder.writer,
        health=recorder.health,
    )
    return SessionKeeper(
        recorder.store,
        host=host or writer_host(recorder.writer),
        shared_locks=locks,
        queue_write=recorder.queue_write,
    )


def _continuing(
    request: CallRequest, name: str, record: SessionRecord | None, host: str
) -> CallRequest:
    """`request` (and each of its fallbacks, for its own model) continuing session `name` on
    `host`."""
    return attrs.evolve(
        request,
        session=name,
        continuation=plan_continuation(record, request.spec, host=host),
        fallbacks=tuple(
            _continuing(fallback, name, record, host) for fallback in request.fallbacks
        ),
    )


async def read_session(store: CallStore, name: str) -> SessionRecord | None:
    """Session `name` as `store` keeps it.

    Raises:
        StoreUnavailableError: the store's server cannot be reached (a turn without its
            history would answer out of context, and its record would overwrite the history).
    """
    try:
        return await store.get_session(name)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        raise StoreUnavailableError(
            f"session {name!r} is kept in the call store, which cannot be reached now "
            f"({type(exc).__name__}: {exc}); nothing was started. Try again once the store "
            "answers (llminst status shows it), or call without a session"
        ) from None
