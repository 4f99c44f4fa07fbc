"""What every `llminst` subcommand shares: the set-up read from the config file, and running a
command's body under trio to an exit status.

SIGINT, SIGTERM and SIGHUP cancel a body (see `llminst.signals`); this module turns that into one
line on stderr and the exit status 128 + the signal. It must never parse arguments, start a call
or print anything else.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Awaitable, Callable, Mapping

import trio
from attrs import frozen

from .._core.paging import DEFAULT_MAX_RESULT_CHARS
from .._core.spec import ModelSpec, Settings
from ..signals import Stopped, run_until_signal

__all__ = ["Setup", "run_command"]


@frozen
class Setup:
    """What the config file says: the models (built-ins plus its own) and the settings."""

    models: Mapping[str, ModelSpec]
    settings: Settings
    allow_commands: tuple[str, ...] = ()
    max_result_chars: int = DEFAULT_MAX_RESULT_CHARS


def run_command(
    body: Callable[[], Awaitable[int]], *, who: str = "llminst", verb: str = "cancelled"
) -> int:
    """Run a command's body under trio and return its exit status.

    SIGINT, SIGTERM and SIGHUP cancel the body (its cleanup runs: every process tree it
    started is killed and reaped); the command then says so in one line on stderr and exits
    with 128 + the signal's number, as a shell reports a command a signal ended.
    """
    try:
        outcome = trio.run(run_until_signal, body)
    except BaseException as exc:
        # Ctrl-C before the signal receiver was installed, or after it was closed.
        if not _only_keyboard_interrupts(exc):
            raise
        outcome = Stopped(signal.SIGINT)
    if isinstance(outcome, Stopped):
        print(f"{who}: {verb} by {outcome.name}", file=sys.stderr, flush=True)
        return outcome.exit_status
    return outcome


def _only_keyboard_interrupts(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(KeyboardInterrupt)[1] is None
    return isinstance(exc, KeyboardInterrupt)
