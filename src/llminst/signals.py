"""Signals as cancellation: SIGINT, SIGTERM and SIGHUP end an llminst command as trio ends work.

`run_until_signal` runs the body of a command (`llminst run`, `demo`, `serve`) in a cancel scope
and watches for those signals. The first one cancels the scope, so the body's own shielded
cleanup runs to the end (the supervisor kills and reaps every process tree it started; a
server's lifespan closes its supervisor), and the signal is returned so that the command can
exit with 128 + its number. Signals that arrive while the body unwinds change nothing: that
cleanup is already bounded by the grace period.

This module must never print, exit the process or kill anything itself, and it never takes
over a signal that the process was started with ignored: ``nohup`` ignores SIGHUP, and a shell
script's ``command &`` ignores SIGINT; that choice of the parent is kept.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import trio
from attrs import frozen

from .logs import get_logger

__all__ = ["CANCEL_SIGNALS", "Stopped", "run_until_signal", "watched_signals"]

CANCEL_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

T = TypeVar("T")
_log = get_logger()


@frozen
class Stopped:
    """The command's body was cancelled by a signal.

    Attributes:
        signum: the signal's number.
    """

    signum: int

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int:
        """128 + the signal's number, as a shell reports a command a signal ended."""
        return 128 + self.signum


def watched_signals() -> list[int]:
    """The cancelling signals this process may take over (those its parent did not ignore)."""
    return [s for s in CANCEL_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN]


async def run_until_signal(work: Callable[[], Awaitable[T]]) -> T | Stopped:
    """Run `work`; the first of SIGINT, SIGTERM and SIGHUP cancels it.

    Call it from the main thread (only there can signals be caught).

    Returns:
        What `work` returned, or `Stopped` when a signal cancelled it (then whatever `work`
        returned or raised while it unwound is dropped: the signal is the outcome).

    Raises:
        Whatever `work` raised, as it was (not wrapped in an exception group), if no signal
        came first.
    """
    signals = watched_signals()
    if not signals:
        return await work()
    caught: list[int] = []
    results: list[T] = []
    failure: Exception | None = None
    work_scope = trio.CancelScope()
    with trio.open_signal_receiver(*signals) as receiver:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_cancel_on_signal, receiver, work_scope, caught)
            with work_scope:
                try:
                    results.append(await work())
                except Exception as exc:  # re-raised below, outside the nursery
                    failure = exc
            nursery.cancel_scope.cancel()
    if caught:
        return Stopped(caught[0])
    if failure is not None:
        raise failure
    return results[0]


async def _cancel_on_signal(
    receiver: AsyncIterator[int], scope: trio.CancelScope, caught: list[int]
) -> None:
    # Keep consuming until the work has unwound: a second Ctrl-C must not be re-delivered as a
    # KeyboardInterrupt (or a second SIGTERM as death) in the middle of the cleanup.
    async for signum in receiver:
        if not caught:
            caught.append(signum)
            _log.info("llminst.signal.received", signal=signal.Signals(signum).name)
            scope.cancel()
