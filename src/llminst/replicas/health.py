"""`StoreHealth`: whether the store's server can be reached now, told once when that changes.

A store on a server (Redis) can be unreachable for a while: restarted, killed, a network cut.
Its users (the recorder's writes, heartbeats, sweeps, leases, cancels) report each failure and
each success here, by what they were doing; the first failure logs ``llminst.store.degraded``
and raises the `degraded` flag (shown by ``get_llm_status``), and once every use that failed
has worked again (or the heartbeat, which talks to the server every few seconds, got through:
the server answers) ``llminst.store.recovered`` is logged. `outages` counts the times the server was away or came back empty, so a writer can tell
whether what it wrote during a call may be gone (and write it all again). `is_unavailable`
tells such a transient failure from a store that
refuses a write for good (a full disk), which is not retried.

What it must never do: log once per failed write (one line per change of state), or treat an
error that retrying cannot fix as transient.
"""

from __future__ import annotations

import sys

import trio

from ..logs import get_logger

__all__ = ["StoreHealth", "is_unavailable"]

_log = get_logger()

RETRY_FIRST_S = 0.2
RETRY_MAX_S = 2.0


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the store's server cannot be reached now (worth retrying)."""
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    coredis_errors = sys.modules.get("coredis.exceptions")  # only if a Redis store is in use
    if coredis_errors is None:
        return False
    transient = (coredis_errors.ConnectionError, coredis_errors.BusyLoadingError)
    return isinstance(exc, transient)


class StoreHealth:
    """The degraded flag of one store, and how long to wait before the next try."""

    def __init__(self) -> None:
        self.degraded = False
        self.since: float | None = None  # trio time the store became unreachable
        self.last_error: str | None = None
        self.outages = 0  # times the server was found away or emptied (a restart)
        self._retry_s = RETRY_FIRST_S
        self._failing: set[str] = set()  # uses whose last try failed
        self._changed = trio.Event()

    def failed(self, exc: BaseException, *, what: str) -> None:
        """A use of the store (`what`) failed because its server cannot be reached."""
        self.last_error = repr(exc)
        self._failing.add(what)
        if not self.degraded:
            self.degraded = True
            self.outages += 1
            self.since = trio.current_time()
            _log.warning("llminst.store.degraded", what=what, error=self.last_error)
            self._notify()

    def succeeded(self, what: str | None = None) -> None:
        """A use of the store (`what`) worked; None: the server answers, every use may go on.
        (A use that reaches another store, a local SQLite file, never clears Redis's flag.)"""
        if what is None:
            self._failing.clear()
        else:
            self._failing.discard(what)
        if self._failing:
            return
        self._retry_s = RETRY_FIRST_S
        if self.degraded:
            down_s = trio.current_time() - (self.since or trio.current_time())
            _log.info("llminst.store.recovered", down_s=round(down_s, 3))
            self.degraded = False
            self.since = None
            self._notify()

    def emptied(self, *, what: str) -> None:
        """The server answers but lost what was written to it (restarted without persistence,
        failed over): what was written before may be gone."""
        self.outages += 1
        _log.warning("llminst.store.emptied", what=what)

    def next_retry_s(self) -> float:
        """Seconds to wait before trying again (doubling from 0.2 s up to 2 s)."""
        wait = self._retry_s
        self._retry_s = min(RETRY_MAX_S, self._retry_s * 2)
        return wait

    async def wait_changed(self) -> None:
        """Return once the flag changes."""
        await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()
