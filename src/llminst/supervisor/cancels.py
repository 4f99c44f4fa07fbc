"""`CancelWatch`: cancels this supervisor's calls when another process asks (`llminst cancel`,
`llminst top`), by reading the store's cancel requests.

It is a `CallWatcher`: it learns of each call as it is accepted and as it ends. Its task (`run`,
in the supervisor's nursery) sleeps while no call runs; while some do, it asks the store every
`POLL_INTERVAL_S` which of them someone asked to cancel, and abandons those, as a caller that
leaves does: state ``cancelled``, partial output kept, process tree killed and reaped. One read
per interval whatever the number of calls, and none at all while idle.

What it must never do: cancel a call of another supervisor, fail or slow a call because the
store is slow or broken (a failed read is logged and tried again next time), or start a timer
while no call runs (a virtual clock sees only the calls' own).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from .._core.records import CallState
from ..logs import get_logger
from ..store.base import CallStore
from .stream import StreamEvent

if TYPE_CHECKING:
    from .call import Call

__all__ = ["ELSEWHERE_WAIT_S", "POLL_INTERVAL_S", "CancelWatch", "cancel_elsewhere"]

# A cancel written by another process must be acted on within 0.5 s: a read every 0.2 s leaves
# the rest of that for the read itself and the tree's SIGTERM on a busy machine.
POLL_INTERVAL_S = 0.2

# How long `cancel_elsewhere` waits for the process running the call to record its end.
ELSEWHERE_WAIT_S = 10.0

_WHY = "the call was cancelled at the request of another process (llminst cancel or llminst top)"

_log = get_logger()


class CancelWatch:
    """Polls `store` for cancel requests naming the calls running here.

    Args:
        store: the store other processes write their requests to.
        interval_s: seconds between reads while calls run.
    """

    def __init__(self, store: CallStore, *, interval_s: float = POLL_INTERVAL_S) -> None:
        self.store = store
        self.interval_s = interval_s
        self._calls: dict[str, Call] = {}
        self._some_running = trio.Event()

    # -- CallWatcher ----------------------------------------------------------------------

    def call_started(self, call: Call) -> None:
        self._calls[call.id] = call
        self._some_running.set()

    def call_event(self, call: Call, event: StreamEvent) -> None:
        return None

    def call_finished(self, call: Call) -> None:
        self._calls.pop(call.id, None)
        if not self._calls:
            self._some_running = trio.Event()

    # -- the task -------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll while calls run, forever (a task of the supervisor's nursery)."""
        while True:
            await self._some_running.wait()
            await trio.sleep(self.interval_s)
            await self.check()

    def requested(self, call_id: str) -> None:
        """Someone asked (over the replicas' cancel bus) to cancel `call_id`: end it now if it
        runs here; an id of another process's call is ignored."""
        self._abandon([call_id])

    async def check(self) -> None:
        """Abandon every running call a cancel request names (one store read)."""
        if not self._calls:
            return
        try:
            wanted = await self.store.cancel_requested(list(self._calls))
        except Exception as exc:  # the store failed: the calls must not
            _log.warning("llminst.store.read_failed", what="cancel_requests", error=repr(exc))
            return
        self._abandon(wanted)

    def _abandon(self, wanted: list[str]) -> None:
        for call_id in wanted:
            call = self._calls.get(call_id)
            if call is not None and not call.abandoned and not call.done.is_set():
                call.log.info("llminst.call.cancel_requested", attempt=call.attempts)
                call.abandon(_WHY)


async def cancel_elsewhere(
    store: CallStore,
    call_id: str,
    *,
    publish: Callable[[str], Awaitable[None]] | None = None,
    wait_s: float = ELSEWHERE_WAIT_S,
) -> bool:
    """Ask whichever process runs `call_id` (another replica, another llminst on the same
    store) to cancel it, and wait until its record says it ended; whether it was cancelled.

    The request is written to the store (polled by every `CancelWatch`) and, with replicas,
    `publish`ed on their cancel bus (heard at once). False when no such call runs, or when it
    has not ended after `wait_s` (its process may be dead: the sweeps mark it interrupted).

    Cancellation: safe; the request stays in the store.
    """
    record = await store.get_call(call_id)
    if record is None or record.state.done:
        return False
    await store.request_cancel(call_id, now=time.time())
    if publish is not None:
        await publish(call_id)
    _log.info("llminst.call.cancel_sent", call=call_id, writer=record.writer)
    with trio.move_on_after(wait_s):
        while not record.state.done:
            await trio.sleep(0.05)
            fresh = await store.get_call(call_id)
            if fresh is None:
                return False
            record = fresh
    return record.state is CallState.CANCELLED
