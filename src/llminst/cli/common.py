"""What every `llminst` subcommand shares: the set-up read from the config file, the call store
it names (`open_command_store`), and running a command's body under trio to an exit status.

SIGINT, SIGTERM and SIGHUP cancel a body (see `llminst.signals`); this module turns that into one
line on stderr and the exit status 128 + the signal. It must never parse arguments, start a call
or print anything else.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

import trio
from attrs import Factory, frozen

from .._core.paging import DEFAULT_MAX_RESULT_CHARS
from .._core.spec import BudgetSettings, ModelSpec, Settings, StoreSettings
from ..signals import Stopped, run_until_signal
from ..store import CallStore, open_store

__all__ = ["Setup", "open_command_store", "run_command", "store_spec"]


@frozen
class Setup:
    """What the config file says: the models (built-ins plus its own), the settings, its
    ``[server]`` lists and its ``[budget]``."""

    models: Mapping[str, ModelSpec]
    settings: Settings
    allow_commands: tuple[str, ...] = ()
    allowed_roots: tuple[str, ...] = ()
    store: StoreSettings = Factory(StoreSettings)
    budget: BudgetSettings = Factory(BudgetSettings)
    max_result_chars: int = DEFAULT_MAX_RESULT_CHARS


def store_spec(args: argparse.Namespace, setup: Setup) -> str | None:
    """The store a command uses: ``--store``, else ``[store] path``, else None (the default)."""
    given: str | None = getattr(args, "store", None)
    return given if given is not None else setup.store.path


@asynccontextmanager
async def open_command_store(args: argparse.Namespace, setup: Setup) -> AsyncIterator[CallStore]:
    """Open the command's call store (see `store_spec`), with the config's retention.

    Raises:
        StoreUnusableError: the store cannot be used (the command exits 2 with its line).
    """
    async with open_store(
        store_spec(args, setup), retention_days=setup.store.retention_days
    ) as store:
        yield store


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
