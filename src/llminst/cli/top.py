"""`llminst top`: a live view of the call store's running and recent calls; pick one and cancel it.

On a terminal it takes the screen (rich `Live` on the alternate screen, redrawn in place, so
nothing flickers or scrolls), refreshes every ``--interval`` seconds and reads keys in cbreak
mode: up/down or j/k pick a call, ``c`` asks the process running it to cancel it (the same store
request as `llminst cancel`), ``q`` quits. Signals still work (cbreak keeps ISIG): SIGINT,
SIGTERM and SIGHUP exit 128 + the signal, without a traceback. However it ends, the terminal's
mode and screen are restored. Off a terminal, or with ``--once``, it prints one table and exits
0, so scripts can read it.

What it must never do: leave the terminal in cbreak mode or on the alternate screen, signal a
process itself, or run a call.
"""

from __future__ import annotations

import argparse
import os
import sys
import termios
import time
import tty
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import trio
from rich.console import Console, RenderableType
from rich.live import Live

from .._core.records import CallRecord
from ..store import CallStore
from .cancel import request_cancel
from .common import Setup, open_command_store
from .monitor import Selection, gather, read_keys, render
from .storestate import StoreState, store_label_of

__all__ = ["top"]

_WIDE = 1000  # off a terminal: never cut a row (an id must stay whole to be cancelled)


async def top(args: argparse.Namespace, setup: Setup) -> int:
    problem = _invalid(args)
    if problem:
        print(f"llminst: invalid_input: {problem}", file=sys.stderr)
        return 2
    live = not args.once and sys.stdin.isatty() and sys.stdout.isatty()
    async with open_command_store(args, setup) as store:
        if not live:
            records = await gather(store, limit=args.limit)
            print(_plain(render(records, now=time.time())))
            return 0
        state = StoreState(store_label_of(args, setup) or "the store")
        return await _watch(store, state, interval_s=args.interval, limit=args.limit)


def _plain(screen: RenderableType) -> str:
    """`screen` as plain text lines, none cut and none padded."""
    console = Console(width=_WIDE, no_color=True, highlight=False)
    with console.capture() as captured:
        console.print(screen, crop=False)
    return "\n".join(line.rstrip() for line in captured.get().splitlines())


def _invalid(args: argparse.Namespace) -> str | None:
    if not args.interval > 0:
        return f"--interval must be more than 0 seconds (got {args.interval:g}); e.g. 0.5"
    if args.limit < 1:
        return f"--limit must be at least 1 (got {args.limit}); e.g. --limit 30"
    return None


async def _watch(store: CallStore, state: StoreState, *, interval_s: float, limit: int) -> int:
    """Redraw the table until ``q`` (or the terminal's end); act on each key at once. While
    the store does not answer, the last table stays, under a line saying so."""
    selection = Selection()
    message = ""
    records: list[CallRecord] = []
    stdin = sys.stdin.fileno()
    console = Console()
    with _cbreak(stdin), Live(console=console, screen=True, auto_refresh=False) as live:
        while True:
            records = await _gather_or_keep(store, state, records, limit=limit)
            selection.keep_in(records)
            screen = render(
                records,
                now=time.time(),
                picked=selection.call_id,
                message=message,
                interactive=True,
                store_problem=state.problem,
            )
            live.update(screen, refresh=True)
            with trio.move_on_after(interval_s):
                await trio.lowlevel.wait_readable(stdin)
                data = os.read(stdin, 64)
                if not data:  # the terminal is gone
                    return 0
                for key in read_keys(data):
                    if key == "quit":
                        return 0
                    if key in ("up", "down"):
                        selection.move(records, -1 if key == "up" else 1)
                    elif key == "cancel":
                        message = await _cancel_picked(store, selection, records)


async def _gather_or_keep(
    store: CallStore, state: StoreState, last: list[CallRecord], *, limit: int
) -> list[CallRecord]:
    """The calls to show now; `last` while the store's server cannot be reached."""
    try:
        records = await gather(store, limit=limit)
    except Exception as exc:
        if not state.failed(exc):
            raise
        return last
    state.answered()
    return records


async def _cancel_picked(
    store: CallStore, selection: Selection, records: Sequence[CallRecord]
) -> str:
    record = selection.picked(records)
    if record is None:
        return "no call to cancel"
    fresh = await store.get_call(record.call_id)
    if fresh is None or fresh.state.done:
        state = "gone" if fresh is None else fresh.state.value
        return f"{record.call_id} already ended ({state})"
    await request_cancel(store, record.call_id)
    return f"cancel requested for {record.call_id} ({fresh.model}, {fresh.state.value})"


@contextmanager
def _cbreak(fd: int) -> Iterator[None]:
    """Keys one at a time, not echoed (signals still raised); the old mode back on exit."""
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
