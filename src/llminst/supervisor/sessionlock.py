"""`SessionLocks`: one turn of a session at a time across every process sharing the store (two
replicas on one Redis, ``llminst run`` beside ``llminst serve`` on one SQLite file).

`held(name)` takes the store's lease lock of the session (`CallStore.acquire_session_lock`),
waiting while another holder has it (polling, backing off from 0.05 s to 1 s; the wait is
cancellable and bounded only by the caller's own deadline), renews it every third of the lease
while the turn runs (a task of the supervisor's nursery), and frees it, shielded, when the turn
ends. A holder that died stops renewing: its lease lapses and the next turn goes on.

A store that cannot take the lock (Redis unreachable, a broken file) must not stop or fail a
turn: the turn then runs under the process's own lock only (`SessionKeeper`), which is logged
once per outage (``llminst.session.lock_unavailable``) and reported to the store's
`StoreHealth` when the server is away. What it must never do: hold a turn up because the store
is down, or free a lock it does not hold.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio

from ..logs import get_logger
from ..replicas.health import StoreHealth, is_unavailable
from ..store.base import CallStore

__all__ = ["SessionLocks"]

_log = get_logger()

POLL_FIRST_S = 0.05
POLL_MAX_S = 1.0


class SessionLocks:
    """The store's session locks, taken by one process.

    Args:
        store: where the locks are kept.
        nursery: runs each held lock's renewal.
        lease_s: how long a lock outlives its last renewal (`Settings.session_lock_lease_s`).
        holder: this process's name in the locks (its writer identity); each turn adds its own
            suffix.
        health: told when the store's server cannot be reached (and when it can again).
        clock: the wall clock (epoch seconds) for stores without a clock of their own.
    """

    def __init__(
        self,
        store: CallStore,
        *,
        nursery: trio.Nursery,
        lease_s: float,
        holder: str,
        health: StoreHealth | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._nursery = nursery
        self.lease_s = lease_s
        self._holder = holder
        self._health = health
        self._clock = clock
        self._unavailable = False  # the current outage was logged
        self._health_told = False  # `health` was told of a failure not yet taken back

    @asynccontextmanager
    async def held(self, name: str) -> AsyncIterator[None]:
        """Hold session `name`'s lock for the block (or nothing if the store cannot lock).

        Cancellation: the wait is cancellable; a lock taken is freed (shielded) on leaving.
        """
        holder = f"{self._holder}/{uuid.uuid4().hex[:12]}"
        if not await self._wait_for(name, holder):
            yield
            return
        renewal, renewal_ended = trio.CancelScope(), trio.Event()
        self._nursery.start_soon(self._keep_renewed, name, holder, renewal, renewal_ended)
        try:
            yield
        finally:
            renewal.cancel()
            with trio.CancelScope(shield=True):
                # A renewal under way would otherwise find the lock freed and take it again.
                await renewal_ended.wait()
                await self._release(name, holder)

    async def _wait_for(self, name: str, holder: str) -> bool:
        """Take the lock, waiting while another holds it; False: the store cannot lock."""
        wait = POLL_FIRST_S
        told = False
        while True:
            try:
                with trio.CancelScope(shield=True):  # a lock taken is a lock known
                    current = await self._store.acquire_session_lock(
                        name, holder, lease_s=self.lease_s, now=self._clock()
                    )
            except Exception as exc:
                self._failed(exc, name)
                return False
            self._worked()
            if current == holder:
                return True
            if not told:
                _log.info("llminst.session.waiting", session=name, holder=current)
                told = True
            await trio.sleep(wait)
            wait = min(POLL_MAX_S, wait * 2)

    async def _keep_renewed(
        self, name: str, holder: str, scope: trio.CancelScope, ended: trio.Event
    ) -> None:
        """Renew the lock every third of the lease until `scope` is cancelled (the turn ended);
        `ended` is set once no renewal is under way any more."""
        try:
            with scope:
                while True:
                    await trio.sleep(self.lease_s / 3)
                    try:
                        with trio.CancelScope(shield=True):
                            kept = await self._renew(name, holder)
                    except Exception as exc:
                        self._failed(exc, name)  # tried again at the next renewal
                        continue
                    self._worked()
                    if not kept:
                        return
        finally:
            ended.set()

    async def _renew(self, name: str, holder: str) -> bool:
        """Extend the lease; a lapsed lock (the store was away, or restarted empty) is taken
        again if free. False: another holder has it now (``llminst.session.lock_lost``)."""
        lease = {"lease_s": self.lease_s, "now": self._clock()}
        if await self._store.renew_session_lock(name, holder, **lease):
            return True
        current = await self._store.acquire_session_lock(name, holder, **lease)
        if current == holder:
            return True
        _log.warning("llminst.session.lock_lost", session=name, holder=current)
        return False

    async def _release(self, name: str, holder: str) -> None:
        try:
            await self._store.release_session_lock(name, holder)
        except Exception as exc:
            self._failed(exc, name)  # the lease lapses instead

    def _failed(self, exc: Exception, name: str) -> None:
        if self._health is not None and is_unavailable(exc):
            self._health.failed(exc, what="session_lock")
            self._health_told = True
        if not self._unavailable:
            self._unavailable = True
            _log.warning("llminst.session.lock_unavailable", session=name, error=repr(exc))

    def _worked(self) -> None:
        # Only a failure told is taken back: a lock in a local file must not clear the flag
        # of a Redis the replicas use.
        self._unavailable = False
        if self._health_told and self._health is not None:
            self._health_told = False
            self._health.succeeded("session_lock")
