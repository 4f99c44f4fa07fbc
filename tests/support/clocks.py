"""Virtual clocks in tests: a real-time limit around a wait on a frozen clock, and the next
deadline any task waits for."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator

import pytest
import trio

__all__ = ["next_deadline_in", "real_time_limit"]


@contextlib.asynccontextmanager
async def real_time_limit(seconds: float) -> AsyncIterator[None]:
    """Fail the block after `seconds` of real time: on a frozen virtual clock nothing else would
    end a wait that never comes (a timer thread counts real time whatever the clock says)."""
    token = trio.lowlevel.current_trio_token()
    with trio.CancelScope() as scope:
        timer = threading.Timer(seconds, lambda: token.run_sync_soon(scope.cancel))
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
    if scope.cancelled_caught:
        pytest.fail(f"still waiting after {seconds:g} s of real time")


def next_deadline_in() -> float:
    """Virtual seconds until the earliest deadline of any task (a sleep's wake-up)."""
    return trio.lowlevel.current_statistics().seconds_to_next_deadline
